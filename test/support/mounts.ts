/** Scratch filesystems for the mount tests: made here, unmounted in cleanup, never rm'd while mounted. */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openIdmappedTreeSync, unmount } from "../../src/index.ts";

export const isRoot = process.geteuid?.() === 0;
export const MAP_UP = "0:100000:65536"; // disk N shows as 100000+N
export const MAP_DOWN = "100000:0:65536"; // disk 100000+N shows as N

export function mountinfo(): string {
  return readFileSync("/proc/self/mountinfo", "utf8");
}

export function sh(argv: string[]): { ok: boolean; out: string } {
  try {
    const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
    return { ok: r.exitCode === 0, out: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
  } catch (e) {
    return { ok: false, out: `${argv[0]}: ${(e as Error).message}` }; // the tool is missing
  }
}

/** Unmount (lazily if busy) every mount under base, deepest first; remove base only if none is left. */
export function cleanupBase(base: string): void {
  for (let i = 0; i < 20; i++) {
    const points = mountinfo()
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((p) => p === base || p.startsWith(`${base}/`))
      .sort((a, b) => b.length - a.length);
    if (points.length === 0) break;
    for (const p of points) {
      try {
        unmount(p, { detach: true });
      } catch {}
    }
  }
  if (!mountinfo().includes(` ${base}`)) rmSync(base, { recursive: true, force: true });
}

export function scratch(prefix: string): string {
  const dir = mkdtempSync(join("/tmp", prefix));
  chmodSync(dir, 0o755); // the setpriv'd writers must reach the mounts
  return dir;
}

/** Does PATH accept an idmapped mount here? The library's own detached probe (never attached). */
export function idmapWorks(path: string): string | undefined {
  try {
    openIdmappedTreeSync(path, { uidMap: MAP_UP, gidMap: MAP_UP }).close();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export interface Fs {
  name: string;
  dir: string;
  skip?: string;
}

/** A fresh mounted filesystem of this kind under base, or why it cannot be had. */
export function makeFs(base: string, kind: "tmpfs" | "ext4" | "xfs" | "btrfs"): Fs {
  const dir = join(base, kind);
  mkdirSync(dir);
  if (!isRoot) return { name: kind, dir, skip: "needs root" };
  if (!Bun.which("mount")) return { name: kind, dir, skip: "no mount(8) to make the scratch filesystem" };
  if (kind === "tmpfs") {
    const r = sh(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir]);
    if (!r.ok) return { name: kind, dir, skip: `mount -t tmpfs failed: ${r.out}` };
  } else {
    const mkfs = Bun.which(`mkfs.${kind}`) ?? Bun.which(`mkfs.${kind}`, { PATH: "/usr/sbin:/sbin" });
    if (!mkfs) return { name: kind, dir, skip: `mkfs.${kind} not installed` };
    const img = join(base, `${kind}.img`);
    const size = kind === "ext4" ? "16M" : "320M";
    writeFileSync(img, "");
    truncateSync(img, Number.parseInt(size, 10) * 1024 * 1024);
    const made = sh(kind === "ext4" ? [mkfs, "-q", "-F", img] : [mkfs, "-q", "-f", img]);
    if (!made.ok) return { name: kind, dir, skip: `${mkfs} failed: ${made.out}` };
    const r = sh(["mount", "-o", "loop", img, dir]);
    if (!r.ok) return { name: kind, dir, skip: `mount -o loop failed (no loop devices?): ${r.out}` };
  }
  const why = idmapWorks(dir);
  if (why) return { name: kind, dir, skip: `this kernel cannot idmap ${kind}: ${why}` };
  return { name: kind, dir };
}

/** Mountpoints the mount tests make (all their targets live under these). */
const OURS = ["/tmp/bun-userns-", "/tmp/idmap-example-"];
function oursOnly(text: string): string {
  return text
    .split("\n")
    .filter((l) => OURS.some((p) => (l.split(" ")[4] ?? "").startsWith(p)))
    .join("\n");
}

/**
 * mountinfo now is byte-identical to BEFORE; where it is not, every changed
 * line must be another process's mount outside our scratch paths (the
 * machine is shared: other suites mount and unmount concurrently).
 */
export function sameMounts(before: string): boolean {
  const now = mountinfo();
  if (now === before) return true;
  return oursOnly(now) === oursOnly(before);
}
