/**
 * The sanity row from inside the emulated arm64 machine, run there by
 * `test/arch/aarch64.sh --bench` as `bun test/bench/aarch64.ts [FLOOR]`. FLOOR is
 * test/bench/floor.c built on the host with aarch64-linux-gnu-gcc -static.
 * Under TCG emulation absolute times mean nothing: only the ratio is printed.
 *
 * bun run bench runs it (through the script, a VM boot) when BENCH_AARCH64=1,
 * with aarch64Row() below.
 */
import { join } from "node:path";
import { CLONE_NEWIPC } from "../../src/index.ts";
import { bunCycles, floorCycles } from "./cycle.ts";
import { summarize } from "./stats.ts";

const ROUNDS = 5;
const PER_ROUND = 100;

if (import.meta.main) {
  const floor = process.argv[2];
  await bunCycles(CLONE_NEWIPC, 20); // load + JIT outside the measurement
  const bun: number[] = [];
  const c: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (floor) c.push(...floorCycles(floor, CLONE_NEWIPC, PER_ROUND));
    bun.push(...(await bunCycles(CLONE_NEWIPC, PER_ROUND)));
  }
  const b = summarize(bun).medianUs;
  if (floor) {
    const ratio = b / summarize(c).medianUs;
    console.log(
      `bench aarch64 (emulated) bun / C floor median [ipc]: ${ratio.toFixed(2)}x (${bun.length} cycles each)`,
    );
  } else {
    console.log("bench aarch64 (emulated): no C floor (aarch64-linux-gnu-gcc missing on the host), no ratio");
  }
}

/** Boot the VM and return its ratio line, or why there is none. */
export function aarch64Row(): { line: string } | { skipped: string } {
  const script = join(import.meta.dir, "..", "arch", "aarch64.sh");
  const r = Bun.spawnSync(["bash", script, "--bench"], { stderr: "pipe" });
  const line = r.stdout
    .toString()
    .split("\n")
    .find((l) => l.startsWith("bench aarch64"));
  if (r.exitCode !== 0 || !line)
    return { skipped: `aarch64.sh --bench failed: ${r.stderr.toString().trim().split("\n").at(-1)}` };
  return { line };
}
