/**
 * sandbox() rows: the in-process call with a typical view (ro-bind /usr and
 * /etc, proc, dev, tmpfs /tmp, every namespace) until the command exited,
 * against `bwrap` with the same view as a whole command (skipped, saying
 * so, where bwrap is not installed), and the same bwrap command line run
 * by the package's bun-userns-bwrap, with a bare Bun start as its floor.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type SandboxMount, sandbox } from "../../src/index.ts";
import { type Summary, summarize } from "./stats.ts";

const VIEW: SandboxMount[] = [
  { type: "ro-bind", source: "/usr", target: "/usr" },
  { type: "ro-bind", source: "/etc", target: "/etc" },
  { type: "symlink", target: "/bin", linkTo: "usr/bin" },
  { type: "symlink", target: "/lib", linkTo: "usr/lib" },
  ...(existsSync("/usr/lib64") ? [{ type: "symlink" as const, target: "/lib64", linkTo: "usr/lib64" }] : []),
  { type: "proc", target: "/proc" },
  { type: "dev", target: "/dev" },
  { type: "tmpfs", target: "/tmp" },
];

/** The same view in bwrap's language. */
const BWRAP_VIEW = [
  "--unshare-all",
  "--ro-bind",
  "/usr",
  "/usr",
  "--ro-bind",
  "/etc",
  "/etc",
  "--symlink",
  "usr/bin",
  "/bin",
  "--symlink",
  "usr/lib",
  "/lib",
  ...(existsSync("/usr/lib64") ? ["--symlink", "usr/lib64", "/lib64"] : []),
  "--proc",
  "/proc",
  "--dev",
  "/dev",
  "--tmpfs",
  "/tmp",
  "--new-session",
  "--die-with-parent",
  "--cap-drop",
  "ALL",
];

export interface SandboxRows {
  rows: { name: string; s: Summary }[];
  targets: { what: string; value: number; limit: string; pass: boolean }[];
  notes: string[];
}

export async function sandboxRows(n: number): Promise<SandboxRows> {
  const out: SandboxRows = { rows: [], targets: [], notes: [] };
  const WARM = 10;
  const ours: number[] = [];
  for (let i = 0; i < n + WARM; i++) {
    const t0 = performance.now();
    const code = await sandbox(["/usr/bin/true"], { mounts: VIEW, stdio: ["ignore", "inherit", "inherit"] }).exited;
    if (code !== 0) throw new Error(`sandbox true exited ${code}`);
    if (i >= WARM) ours.push((performance.now() - t0) * 1000);
  }
  const s = summarize(ours);
  out.rows.push({ name: "sandbox(['true'], typical view) + exit", s });
  const bwrap = Bun.which("bwrap");
  if (!bwrap) {
    out.notes.push("bwrap not installed (apt-get install bubblewrap): no bwrap row");
    return out;
  }
  const theirs: number[] = [];
  for (let i = 0; i < n + WARM; i++) {
    const t0 = performance.now();
    const p = Bun.spawn([bwrap, ...BWRAP_VIEW, "/usr/bin/true"], { stdio: ["ignore", "inherit", "inherit"] });
    const code = await p.exited;
    if (code !== 0) {
      out.notes.push(`bwrap exited ${code}: no bwrap row`);
      return out;
    }
    if (i >= WARM) theirs.push((performance.now() - t0) * 1000);
  }
  const b = summarize(theirs);
  out.rows.push({ name: "Bun.spawn(['bwrap', same view, 'true']) + exit", s: b });
  const ratio = b.medianUs / s.medianUs;
  out.targets.push({
    what: "sandbox() speed-up over spawning bwrap (median)",
    value: ratio,
    limit: ">= 2",
    pass: ratio >= 2,
  });
  // bwrap's command line through this package, as a whole command (a Bun start is its floor).
  const cli = [process.execPath, join(import.meta.dir, "..", "..", "src", "cli-bwrap.ts")];
  const whole: number[] = [];
  const starts: number[] = [];
  for (let i = 0; i < n + WARM; i++) {
    let t0 = performance.now();
    let code = await Bun.spawn([...cli, ...BWRAP_VIEW, "/usr/bin/true"], { stdio: ["ignore", "inherit", "inherit"] })
      .exited;
    if (code !== 0) throw new Error(`bun-userns-bwrap true exited ${code}`);
    if (i >= WARM) whole.push((performance.now() - t0) * 1000);
    t0 = performance.now();
    code = await Bun.spawn([process.execPath, "-e", "0"], { stdio: ["ignore", "inherit", "inherit"] }).exited;
    if (i >= WARM) starts.push((performance.now() - t0) * 1000);
  }
  out.rows.push({ name: "Bun.spawn(['bun-userns-bwrap', same view, 'true']) + exit", s: summarize(whole) });
  out.rows.push({ name: "Bun.spawn(['bun', '-e', '0']) + exit (its floor: a Bun start)", s: summarize(starts) });
  out.notes.push("sandbox C floor not written yet: no floor row");
  return out;
}
