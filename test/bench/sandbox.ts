/**
 * sandbox() rows: the in-process call with a typical view (ro-bind /usr and
 * /etc, proc, dev, tmpfs /tmp, every namespace) until the command exited,
 * against `bwrap` with the same view as a whole command (skipped, saying
 * so, where bwrap is not installed), against a C floor doing the same
 * work with no JS (sandbox-floor.c), and the same bwrap command line run
 * by the package's bun-userns-bwrap, with a bare Bun start as its floor;
 * and the in-process call again while the caller holds a large touched heap
 * (its cost must not grow with the caller's memory).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type SandboxMount, sandbox } from "../../src/index.ts";
import { type Summary, summarize } from "./stats.ts";

const MIB = 1024 * 1024;

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

/** The floor: the same work in C (sandbox-floor.c), built here; null and a note when it cannot be. */
function buildFloor(notes: string[]): string | null {
  const cc = Bun.which("gcc") ?? Bun.which("cc");
  if (!cc) {
    notes.push("sandbox floor skipped: no gcc/cc");
    return null;
  }
  const exe = join(mkdtempSync(join(tmpdir(), "bun-userns-bench-sandbox-")), "sandbox-floor");
  const b = Bun.spawnSync([cc, "-O2", "-o", exe, join(import.meta.dir, "sandbox-floor.c")]);
  if (b.exitCode !== 0) {
    notes.push(`sandbox floor build failed: ${b.stderr.toString().trim()}`);
    rmSync(dirname(exe), { recursive: true, force: true });
    return null;
  }
  return exe;
}

/**
 * Rounds of ROUND runs each, alternating ours, bwrap's and the floor's, so
 * that a shared machine's load falls on the three alike.
 */
export async function sandboxRows(n: number, warm = 10, heapMiB = 1024): Promise<SandboxRows> {
  const out: SandboxRows = { rows: [], targets: [], notes: [] };
  const WARM = warm;
  const ROUND = 10;
  const bwrap = Bun.which("bwrap");
  if (!bwrap) out.notes.push("bwrap not installed (apt-get install bubblewrap): no bwrap row");
  const floorExe = buildFloor(out.notes);
  const ours: number[] = [];
  const theirs: number[] = [];
  const floor: number[] = [];
  const oursOnce = async () => {
    const t0 = performance.now();
    const code = await sandbox(["/usr/bin/true"], { mounts: VIEW, stdio: ["ignore", "inherit", "inherit"] }).exited;
    if (code !== 0) throw new Error(`sandbox true exited ${code}`);
    return (performance.now() - t0) * 1000;
  };
  let bwrapOk = bwrap !== null;
  const bwrapOnce = async () => {
    const t0 = performance.now();
    const p = Bun.spawn([bwrap as string, ...BWRAP_VIEW, "/usr/bin/true"], { stdio: ["ignore", "inherit", "inherit"] });
    const code = await p.exited;
    if (code !== 0) {
      out.notes.push(`bwrap exited ${code}: no bwrap row`);
      bwrapOk = false;
    }
    return (performance.now() - t0) * 1000;
  };
  for (let i = 0; i < WARM; i++) {
    await oursOnce();
    if (bwrapOk) await bwrapOnce();
  }
  let floorOk = floorExe !== null;
  for (let done = 0; done < n; done += ROUND) {
    const k = Math.min(ROUND, n - done);
    for (let i = 0; i < k; i++) ours.push(await oursOnce());
    for (let i = 0; i < k && bwrapOk; i++) theirs.push(await bwrapOnce());
    if (floorOk) {
      // One process runs k of them (its own clock, per run): no spawn in the figure.
      const f = Bun.spawnSync([floorExe as string, String(k)]);
      if (f.exitCode !== 0) {
        out.notes.push(`sandbox floor failed: ${f.stderr.toString().trim()}`);
        floorOk = false;
      } else
        floor.push(
          ...f.stdout
            .toString()
            .trim()
            .split("\n")
            .map((ns) => Number(ns) / 1000),
        );
    }
  }
  // The floor's build directory goes with the rounds that used it.
  if (floorExe !== null) rmSync(dirname(floorExe), { recursive: true, force: true });
  const s = summarize(ours);
  out.rows.push({ name: "sandbox(['true'], typical view) + exit", s });
  if (bwrapOk && theirs.length) {
    const b = summarize(theirs);
    out.rows.push({ name: "Bun.spawn(['bwrap', same view, 'true']) + exit", s: b });
    const ratio = b.medianUs / s.medianUs;
    out.targets.push({
      what: "sandbox() speed-up over spawning bwrap (median)",
      value: ratio,
      limit: ">= 2",
      pass: ratio >= 2,
    });
  }
  if (floorOk && floor.length) {
    const f = summarize(floor);
    out.rows.push({ name: "C floor: the same namespaces, view, pivot and exec (sandbox-floor.c)", s: f });
    const ratio = s.medianUs / f.medianUs;
    out.targets.push({ what: "sandbox() / C floor median", value: ratio, limit: "<= 1.5", pass: ratio <= 1.5 });
  }
  // The same call from a caller holding HEAPMIB more of touched memory: the monitor is no copy of
  // the caller's memory (an image of its own), so the cost must not grow with it.
  if (heapMiB > 0) {
    const held: Uint8Array[] = [];
    for (let mb = 0; mb < heapMiB; mb += 256) {
      const chunk = new Uint8Array(Math.min(256, heapMiB - mb) * MIB);
      chunk.fill(1); // touch every page
      held.push(chunk);
    }
    // The allocation's aftermath (concurrent GC, the kernel's LRU work) first, as run.ts's memory rows do.
    Bun.gc(true);
    await Bun.sleep(n >= 100 ? 2000 : 100);
    for (let i = 0; i < WARM; i++) await oursOnce();
    const big: number[] = [];
    for (let i = 0; i < n; i++) big.push(await oursOnce());
    const h = summarize(big);
    out.rows.push({ name: `sandbox(['true'], typical view) + exit, ${heapMiB} MiB more caller memory`, s: h });
    held.length = 0;
    Bun.gc(true);
    const ratio = h.medianUs / s.medianUs;
    out.targets.push({
      what: `sandbox() median with ${heapMiB} MiB more caller memory / without`,
      value: ratio,
      limit: "<= 1.2",
      pass: ratio <= 1.2,
    });
  }
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
  return out;
}
