/** Calls in flight (async callbacks awaiting a timer), one thread and Workers. */
import { inFlightLoop } from "./worker.ts";

export async function oneThread(flags: number, inFlight: number, ms: number, timer = true): Promise<number> {
  const t0 = performance.now();
  const ops = await inFlightLoop(flags, inFlight, ms, timer);
  return ops / ((performance.now() - t0) / 1000);
}

export async function workers(flags: number, count: number, inFlight: number, ms: number): Promise<number> {
  const url = new URL("./worker.ts", import.meta.url).href;
  const ws = Array.from({ length: count }, () => new Worker(url));
  try {
    const results = await Promise.all(
      ws.map(
        (w) =>
          new Promise<{ ops: number; ms: number }>((resolve, reject) => {
            w.onmessage = (e) => resolve(e.data);
            w.onerror = (e) => reject(e);
            w.postMessage({ flags, inFlight, ms });
          }),
      ),
    );
    const wall = Math.max(...results.map((r) => r.ms));
    return results.reduce((a, r) => a + r.ops, 0) / (wall / 1000);
  } finally {
    for (const w of ws) w.terminate();
  }
}
