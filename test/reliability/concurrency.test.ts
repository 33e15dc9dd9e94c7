// Many calls at once, from one thread and from several Workers.
import { expect, test } from "bun:test";
import { readlinkSync } from "node:fs";
import { CLONE_NEWIPC, liveHelpers, unshareAfterEnterUserns } from "../../src/index.ts";
import { childPids, helperChildren, isRoot, leakableFds, nsLink, waitProbe } from "../support/proc.ts";

test.skipIf(!isRoot)(
  "100 concurrent calls: all succeed in distinct user namespaces, nothing left (needs root)",
  async () => {
    const before = leakableFds();
    const seen: string[] = [];
    let maxLive = 0;
    const calls = Array.from({ length: 100 }, (_, i) =>
      unshareAfterEnterUserns("0:1000:10", "0:1000:10", CLONE_NEWIPC, async (pid) => {
        maxLive = Math.max(maxLive, liveHelpers().length);
        await Bun.sleep(1 + (i % 7) * 3);
        seen.push(readlinkSync(`/proc/${pid}/ns/user`));
        expect(readlinkSync(`/proc/${pid}/ns/ipc`)).not.toBe(nsLink("self", "ipc"));
      }),
    );
    const results = await Promise.allSettled(calls);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(seen).toHaveLength(100);
    // All 100 were alive at once, so none could share a (recycled) namespace.
    expect(maxLive).toBe(100);
    expect(new Set(seen).size).toBe(100);
    console.log(
      `concurrency: 100 in flight, ${new Set(seen).size} distinct user namespaces, max ${maxLive} live helpers`,
    );
    expect(liveHelpers()).toEqual([]);
    expect(helperChildren()).toEqual([]);
    expect(childPids()).toEqual([]);
    expect(waitProbe()).toBe("none");
    expect(leakableFds()).toEqual(before);
  },
  60_000,
);

test.skipIf(!isRoot)(
  "4 Workers at once, 50 calls each with 10 in flight: all succeed, nothing left (needs root)",
  async () => {
    const before = leakableFds();
    const url = new URL("../fixtures/worker-calls.ts", import.meta.url).href;
    const workers = Array.from({ length: 4 }, () => new Worker(url));
    try {
      const results = await Promise.all(
        workers.map(
          (w) =>
            new Promise<{ ok: number; errors: string[]; namespaces: number; live: number }>((resolve, reject) => {
              w.onmessage = (e) => resolve(e.data);
              w.onerror = reject;
              w.postMessage({ calls: 50, inFlight: 10 });
            }),
        ),
      );
      for (const r of results) {
        expect(r.errors).toEqual([]);
        expect(r.ok).toBe(50);
        expect(r.live).toBe(0);
        expect(r.namespaces).toBeGreaterThanOrEqual(10);
      }
    } finally {
      for (const w of workers) w.terminate();
    }
    expect(helperChildren()).toEqual([]);
    expect(waitProbe()).toBe("none");
    expect(leakableFds()).toEqual(before);
  },
  60_000,
);
