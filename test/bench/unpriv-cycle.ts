/**
 * Run by run.ts as an unprivileged uid: per-cycle microseconds of the public
 * call with the caller's own ids (its helper leaves Bun's memory by exec'ing
 * the park program), as a JSON array. Usage: unpriv-cycle.ts FLAGS N
 */
import { closeSync, openSync } from "node:fs";
import { unshareAfterEnterUserns } from "../../src/index.ts";

const [flags, n] = process.argv.slice(2).map(Number) as [number, number];
const maps = `0:${process.geteuid?.()}:1`;
const out: number[] = [];
for (let i = 0; i < n + 20; i++) {
  const t0 = performance.now();
  await unshareAfterEnterUserns(maps, maps, flags, (pid) => {
    closeSync(openSync(`/proc/${pid}/ns/user`, "r"));
  });
  if (i >= 20) out.push((performance.now() - t0) * 1000);
}
console.log(JSON.stringify(out));
