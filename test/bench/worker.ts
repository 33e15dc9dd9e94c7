/** A benchmark Worker: keeps `inFlight` calls going for `ms`, reports ops. */
import { closeSync, openSync } from "node:fs";
import { unshareAfterEnterUserns } from "../../src/index.ts";
import { MAPS } from "./cycle.ts";

declare const self: Worker;

/** Keep `inFlight` calls going for `ms`; the callback opens the userns fd and, with `timer`, awaits a timer. */
export async function inFlightLoop(flags: number, inFlight: number, ms: number, timer = true): Promise<number> {
  const end = performance.now() + ms;
  let ops = 0;
  const lane = async () => {
    while (performance.now() < end) {
      await unshareAfterEnterUserns(MAPS, MAPS, flags, async (pid) => {
        closeSync(openSync(`/proc/${pid}/ns/user`, "r"));
        if (timer) await new Promise((r) => setTimeout(r, 0));
      });
      ops++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return ops;
}

if (typeof self !== "undefined" && !Bun.isMainThread) {
  self.onmessage = async (e: MessageEvent<{ flags: number; inFlight: number; ms: number }>) => {
    const { flags, inFlight, ms } = e.data;
    await inFlightLoop(flags, 1, 50); // warm up: native compile, JIT
    const t0 = performance.now();
    const ops = await inFlightLoop(flags, inFlight, ms);
    self.postMessage({ ops, ms: performance.now() - t0 });
  };
}
