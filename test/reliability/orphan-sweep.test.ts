/**
 * The orphan sweep reaps a dead helper only when the thread that created it is
 * gone: a live Worker still holds that helper's pidfd and will reap it itself.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { reapOrphans } from "../../src/index.ts";
import { isRoot, procState, until } from "../support/proc.ts";

const fixture = (name: string) => join(import.meta.dir, "..", "fixtures", name);

test.skipIf(!isRoot)(
  "a live Worker's dead helper is left to that Worker, and swept once the Worker is gone (needs root)",
  async () => {
    const w = new Worker(fixture("worker-park.ts"));
    try {
      const [pid] = await new Promise<number[]>((resolve, reject) => {
        w.onmessage = (e) => resolve(e.data);
        w.onerror = reject;
        w.postMessage({ count: 1 });
      });
      expect(procState(pid as number)).toBe("t");
      process.kill(pid as number, "SIGKILL");
      // A zombie child of ours, exit signal 0, named after a thread that still runs.
      expect(await until(() => procState(pid as number) === "Z")).toBe(true);
      expect(reapOrphans()).toBe(0);
      expect(procState(pid as number)).toBe("Z");
      w.terminate();
      // The creating thread is gone now: the same zombie is the sweep's.
      let swept = 0;
      expect(
        await until(() => {
          swept += reapOrphans();
          return swept > 0;
        }),
      ).toBe(true);
      expect(swept).toBe(1);
      expect(procState(pid as number)).toBeUndefined();
    } finally {
      w.terminate();
    }
  },
  60_000,
);
