/** Scratch filesystems for the mount tests: made here, unmounted in cleanup, never rm'd while mounted. */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { unmount } from "../../src/index.ts";

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
  const points = () =>
    mountsUnder(base)
      .map((l) => l.split(" ")[2] as string)
      .sort((a, b) => b.length - a.length);
  for (let i = 0; i < 20 && points().length > 0; i++) {
    for (const p of points()) {
      try {
        unmount(p, { detach: true });
      } catch {}
    }
  }
  if (points().length === 0) rmSync(base, { recursive: true, force: true });
}

/**
 * A fresh directory under TMPDIR, unique to this call: the test's own, removed by
 * cleanupBase. Other uids (the setpriv'd writers, a user namespace's root) must
 * reach it, so every directory above it must be searchable by them.
 */
export function scratch(prefix: string): string {
  // Real path: mountinfo names mountpoints without symlinks, and mountsUnder compares by name.
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  chmodSync(dir, 0o755);
  for (let up = dirname(dir); up !== "/"; up = dirname(up)) {
    if ((statSync(up).mode & 0o001) === 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${up} is not searchable by other uids: run the tests with a TMPDIR they can reach`);
    }
  }
  return dir;
}

/**
 * The Linux release that first idmaps mounts of each filesystem type (as
 * statfs/mountinfo name it). Skips come from this and the running kernel's
 * release, never from the library's own probe: a broken probe must fail the
 * tests, not skip them.
 */
const IDMAP_SINCE: Record<string, [number, number]> = {
  ext2: [5, 12],
  ext3: [5, 12],
  ext4: [5, 12],
  xfs: [5, 12],
  vfat: [5, 12],
  btrfs: [5, 15],
  f2fs: [5, 18],
  erofs: [5, 19],
  overlay: [5, 19],
  tmpfs: [6, 3],
};

/** The running kernel's [major, minor], from uname -r's text in /proc. */
export function kernelRelease(): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(readFileSync("/proc/sys/kernel/osrelease", "utf8")) ?? ["", "0", "0"];
  return [Number(m[1]), Number(m[2])];
}

/** The filesystem type of the mount that holds PATH (the longest mountpoint prefix in mountinfo). */
export function fsTypeOf(path: string): string {
  let best = "";
  let type = "";
  for (const line of mountinfo().split("\n")) {
    const f = line.split(" ");
    const point = (f[4] ?? "").replace(/\\040/g, " ");
    const under = point === "/" || path === point || path.startsWith(`${point}/`);
    if (!under || point.length < best.length) continue;
    best = point;
    type = f[f.indexOf("-") + 1] ?? "";
  }
  return type;
}

/** Why this kernel cannot idmap a mount of filesystem TYPE, or undefined when it can. */
export function idmapUnsupported(type: string): string | undefined {
  const since = IDMAP_SINCE[type];
  if (!since) return `no idmapped ${type || "unknown"} mounts known to any Linux release`;
  const [major, minor] = kernelRelease();
  if (major > since[0] || (major === since[0] && minor >= since[1])) return undefined;
  return `idmapped ${type} mounts need Linux ${since.join(".")}; this is ${major}.${minor}`;
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
  const why = idmapUnsupported(fsTypeOf(dir));
  if (why) return { name: kind, dir, skip: why };
  return { name: kind, dir };
}

/**
 * The mounts at or under each of DIRS, as "id root mountpoint" lines, sorted:
 * what a test compares before and after. DIRS are the test's own scratch
 * paths; other processes on this host mount and unmount elsewhere meanwhile
 * (another copy of this suite too, in its own scratch directories).
 */
export function mountsUnder(...dirs: string[]): string[] {
  return mountinfo()
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => {
      const point = f[4] ?? "";
      return dirs.some((d) => point === d || point.startsWith(`${d}/`));
    })
    .map((f) => `${f[0]} ${f[3]} ${f[4]}`)
    .sort();
}
