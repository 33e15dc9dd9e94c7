/**
 * The exec rows: spawnInside per call against a C floor doing the same
 * vfork+setns(pidfd)+execve+wait (exec-floor.c); a whole in-process cycle
 * (helper + command inside + reap) against Bun.spawn of util-linux unshare.
 * The CLI end to end, against `unshare -r -n true` and bubblewrap, is in oneshot.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLONE_NEWNET, CLONE_NEWTIME, type Helper, spawnInside, startHelper } from "../../src/index.ts";
import { type Summary, summarize } from "./stats.ts";

const ROOT = `0:${process.geteuid?.() ?? 0}:1`;
const QUIET = { stdio: ["ignore", "ignore", "ignore"] as const, env: {} };

export interface ExecRows {
  rows: { name: string; s: Summary }[];
  targets: { what: string; value: number; limit: string; pass: boolean }[];
  notes: string[];
}

async function inside(h: Helper): Promise<void> {
  const code = await spawnInside(h, ["/bin/true"], { namespaces: ["user", "net"], ...QUIET }).exited;
  if (code !== 0) throw new Error(`/bin/true inside exited ${code}`);
}

export async function execRows(n: number): Promise<ExecRows | { skipped: string }> {
  if (process.geteuid?.() !== 0) return { skipped: "entering a user namespace this way needs root here" };
  const out: ExecRows = { rows: [], targets: [], notes: [] };
  const WARM = 30;

  // spawnInside per call, one parked helper.
  using h = startHelper(ROOT, ROOT, CLONE_NEWNET);
  const per: number[] = [];
  for (let i = 0; i < n + WARM; i++) {
    const t0 = performance.now();
    await inside(h);
    if (i >= WARM) per.push((performance.now() - t0) * 1000);
  }
  const s = summarize(per);
  out.rows.push({ name: "spawnInside(helper, /bin/true, user+net) + exited", s });

  const cc = Bun.which("gcc") ?? Bun.which("cc");
  if (!cc) out.notes.push("exec floor skipped: no gcc/cc");
  else {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-bench-exec-"));
    const exe = join(dir, "exec-floor");
    const b = Bun.spawnSync([cc, "-O2", "-o", exe, join(import.meta.dir, "exec-floor.c")]);
    if (b.exitCode !== 0) {
      out.notes.push(`exec floor build failed: ${b.stderr.toString().trim()}`);
      rmSync(dir, { recursive: true, force: true });
    } else {
      const flags = 0x10000000 | 0x40000000; // CLONE_NEWUSER | CLONE_NEWNET
      const f = Bun.spawnSync([exe, String(h.pid), String(flags), String(n + WARM)]);
      rmSync(dir, { recursive: true, force: true });
      const text = f.stdout.toString().trim();
      if (f.exitCode !== 0) out.notes.push(`exec floor failed: ${f.stderr.toString().trim()}`);
      else {
        const floor = summarize(
          text
            .split(" ")
            .slice(WARM)
            .map((ns) => Number(ns) / 1000),
        );
        out.rows.push({ name: "C floor: vfork+setns(pidfd)+execve /bin/true+waitpid (exec-floor.c)", s: floor });
        out.targets.push({
          what: "spawnInside / C floor median",
          value: s.medianUs / floor.medianUs,
          limit: "<= 1.5",
          pass: s.medianUs / floor.medianUs <= 1.5,
        });
      }
    }
  }

  // A whole in-process cycle against Bun.spawn of util-linux.
  const cycle: number[] = [];
  for (let i = 0; i < n + WARM; i++) {
    const t0 = performance.now();
    {
      using g = startHelper(ROOT, ROOT, CLONE_NEWNET);
      await inside(g);
    }
    if (i >= WARM) cycle.push((performance.now() - t0) * 1000);
  }
  const c = summarize(cycle);
  out.rows.push({ name: "startHelper(-r, net) + spawnInside(/bin/true) + exited + reap", s: c });
  const unshare = Bun.which("unshare");
  if (!unshare) out.notes.push("util-linux unshare not installed: no Bun.spawn(unshare) row");
  else {
    const xs: number[] = [];
    for (let i = 0; i < Math.max(10, n / 2) + 5; i++) {
      const t0 = performance.now();
      const code = await Bun.spawn([unshare, "-r", "-n", "true"], { stdio: ["ignore", "ignore", "ignore"] }).exited;
      if (code !== 0) throw new Error(`unshare -r -n true exited ${code}`);
      if (i >= 5) xs.push((performance.now() - t0) * 1000);
    }
    const u = summarize(xs);
    out.rows.push({ name: 'await Bun.spawn(["unshare", "-r", "-n", "true"]).exited', s: u });
    // The target: in-process spawnInside + exit against Bun.spawn of unshare.
    out.targets.push({
      what: "Bun.spawn(unshare -r -n true) / spawnInside + exited median",
      value: u.medianUs / s.medianUs,
      limit: ">= 2",
      pass: u.medianUs / s.medianUs >= 2,
    });
    // Stricter: our side also makes the namespaces (as unshare does) and reaps them.
    out.targets.push({
      what: "Bun.spawn(unshare -r -n true) / startHelper + spawnInside + exited + reap median",
      value: u.medianUs / c.medianUs,
      limit: ">= 2",
      pass: u.medianUs / c.medianUs >= 2,
    });
  }

  // Entering a time namespace forks Bun's page tables (native/exec.c): the one
  // row whose cost grows with Bun's memory, so measured at two sizes.
  if (!(await Bun.file("/proc/self/ns/time").exists())) out.notes.push("no time namespaces here: no time rows");
  else {
    using t = startHelper(ROOT, ROOT, CLONE_NEWTIME);
    for (const extraMiB of [0, 1024]) {
      const held = extraMiB > 0 ? new Uint8Array(extraMiB * 2 ** 20).fill(1) : undefined;
      const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
      const xs: number[] = [];
      for (let i = 0; i < Math.max(10, n / 2) + 5; i++) {
        const t0 = performance.now();
        const code = await spawnInside(t, ["/bin/true"], { namespaces: ["user", "time"], ...QUIET }).exited;
        if (code !== 0) throw new Error(`/bin/true in a time namespace exited ${code}`);
        if (i >= 5) xs.push((performance.now() - t0) * 1000);
      }
      out.rows.push({
        name: `spawnInside(helper, /bin/true, user+time) + exited, Bun RSS ${rss} MiB`,
        s: summarize(xs),
      });
      held?.fill(0);
    }
  }

  return out;
}

if (import.meta.main) {
  const r = await execRows(Number(process.argv[2] ?? 200));
  if ("skipped" in r) console.log(`skipped: ${r.skipped}`);
  else {
    for (const row of r.rows)
      console.log(`${row.name.padEnd(80)} ${row.s.medianUs.toFixed(0).padStart(8)} µs  p99 ${row.s.p99Us.toFixed(0)}`);
    for (const t of r.targets)
      console.log(`${t.pass ? "PASS" : "MISS"}  ${t.what}: ${t.value.toFixed(2)} (target ${t.limit})`);
    for (const note of r.notes) console.log(`note: ${note}`);
  }
}
