/** One helper cycle from Bun, and the same cycle from the C floor. */
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unshareAfterEnterUserns } from "../../src/index.ts";

export const MAPS = "0:1000:10";

/** Per-cycle microseconds of the public call; the callback opens the userns fd. */
export async function bunCycles(flags: number, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await unshareAfterEnterUserns(MAPS, MAPS, flags, (pid) => {
      closeSync(openSync(`/proc/${pid}/ns/user`, "r"));
    });
    out.push((performance.now() - t0) * 1000);
  }
  return out;
}

/** Build the floor driver from native/userns.c with the system compiler, if any. */
export function buildFloor(): { path: string } | { skipped: string } {
  const compiler = Bun.which("cc") ?? Bun.which("gcc") ?? Bun.which("clang");
  if (!compiler) return { skipped: "no system C compiler (cc/gcc/clang) to build the floor" };
  const dir = mkdtempSync(join(tmpdir(), "bun-userns-floor-"));
  chmodSync(dir, 0o755); // the unprivileged rows run it as another uid
  const out = join(dir, "floor");
  const r = Bun.spawnSync([compiler, "-O2", "-o", out, join(import.meta.dir, "floor.c")]);
  if (r.exitCode !== 0 || !existsSync(out)) return { skipped: `floor build failed: ${r.stderr.toString().trim()}` };
  return { path: out };
}

/** Per-cycle microseconds measured inside the C driver (process start excluded); AS runs it as another uid. */
export function floorCycles(path: string, flags: number, n: number, as: string[] = [], mode?: "exec"): number[] {
  const r = Bun.spawnSync([...as, path, `0x${flags.toString(16)}`, String(n), ...(mode ? [mode] : [])]);
  const text = r.stdout.toString().trim();
  if (r.exitCode !== 0) throw new Error(`floor failed: ${text} ${r.stderr.toString()}`);
  return text.split(" ").map((ns) => Number(ns) / 1000);
}

/** The unprivileged cycle from Bun (unpriv-cycle.ts), run as another uid with AS (setpriv …). */
export function unprivBunCycles(as: string[], flags: number, n: number): number[] {
  // Its HOME and TMPDIR (where Bun's cc() keeps headers): a directory of its own under /tmp, which any uid
  // reaches (the bench's TMPDIR may be private to root), removed after.
  const home = mkdtempSync("/tmp/bun-userns-bench-unpriv-");
  chmodSync(home, 0o1777);
  try {
    const r = Bun.spawnSync(
      [...as, process.execPath, join(import.meta.dir, "unpriv-cycle.ts"), String(flags), String(n)],
      { env: { ...process.env, TMPDIR: home, HOME: home } },
    );
    if (r.exitCode !== 0) throw new Error(`unpriv-cycle failed: ${r.stderr.toString()}`);
    return JSON.parse(r.stdout.toString()) as number[];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
