// Every fault path surfaces the right error and leaves nothing behind.
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import {
  CLONE_NEWIPC,
  liveHelpers,
  reapOrphans,
  startHelper,
  UsernsError,
  unshareAfterEnterUserns,
} from "../../src/index.ts";
import { rejection } from "../support/errors.ts";
import { childPids, exists, helperChildren, isRoot, leakableFds, procState, waitProbe } from "../support/proc.ts";

const rootTest = test.skipIf(!isRoot);
const fixture = (name: string) => join(import.meta.dir, "..", "fixtures", name);
let fdsBefore: string[] = [];
// Children this file did not start (an earlier file's process, slow to end under emulation) are not its to judge.
let kidsBefore = childPids();

afterEach(() => {
  expect(liveHelpers()).toEqual([]);
  expect(helperChildren()).toEqual([]);
  expect(childPids().filter((p) => !kidsBefore.includes(p))).toEqual([]);
  // No zombie left unreaped (a pid), and nothing running unless it was running before.
  expect(waitProbe()).toBe(kidsBefore.some((p) => childPids().includes(p)) ? "running" : "none");
  expect(leakableFds()).toEqual(fdsBefore);
});

function baseline() {
  fdsBefore = leakableFds();
  kidsBefore = childPids();
}

rootTest("callback throws: the same error, helper reaped (needs root)", async () => {
  baseline();
  const boom = new RangeError("boom");
  let pid = 0;
  const e = await rejection(
    unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWIPC, (p) => {
      pid = p;
      throw boom;
    }),
  );
  expect(e).toBe(boom);
  expect(exists(pid)).toBe(false);
});

rootTest("callback rejects later: the same reason, helper reaped (needs root)", async () => {
  baseline();
  const reason = new Error("later");
  let pid = 0;
  const e = await rejection(
    unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWIPC, async (p) => {
      pid = p;
      await Bun.sleep(20);
      throw reason;
    }),
  );
  expect(e).toBe(reason);
  expect(exists(pid)).toBe(false);
});

rootTest("helper killed from outside (another process) during the callback: liveness error (needs root)", async () => {
  baseline();
  let pid = 0;
  const e = (await rejection(
    unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWIPC, async (p) => {
      pid = p;
      expect(Bun.spawnSync(["kill", "-KILL", String(p)]).exitCode).toBe(0);
      await Bun.sleep(5);
    }),
  )) as UsernsError;
  expect(e).toBeInstanceOf(UsernsError);
  expect(e.message).toBe("failed to ensure child process is alive: no such process");
  expect(exists(pid)).toBe(false);
});

rootTest("helper stopped and continued from outside: still parked, still ours (needs root)", async () => {
  baseline();
  await unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWIPC, async (p) => {
    process.kill(p, "SIGCONT");
    process.kill(p, "SIGTERM"); // blocked in the helper: pending, never delivered
    await Bun.sleep(5);
    expect(procState(p)).toBe("t");
  });
});

rootTest(
  "a Worker terminated mid-callback: PDEATHSIG kills its helpers, reapOrphans collects them (needs root)",
  async () => {
    baseline();
    const w = new Worker(fixture("worker-park.ts"));
    const pids = await new Promise<number[]>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = reject;
      w.postMessage({ count: 3 });
    });
    expect(pids.map(procState)).toEqual(["t", "t", "t"]);
    w.terminate();
    const t0 = performance.now();
    while (!pids.every((p) => procState(p) === "Z") && performance.now() - t0 < 5000) await Bun.sleep(5);
    // Dead at once, but zombies (now children of another thread) with open pidfds.
    expect(pids.map(procState)).toEqual(["Z", "Z", "Z"]);
    expect(reapOrphans()).toBe(3);
    expect(pids.map(exists)).toEqual([false, false, false]);
  },
);

rootTest(
  "the Bun process SIGKILLed mid-callback: its helpers die with it (needs root)",
  async () => {
    baseline();
    const r = Bun.spawnSync([process.execPath, fixture("subreaper-kill.ts")]);
    expect(r.stderr.toString()).toBe("");
    const out = JSON.parse(r.stdout.toString());
    expect(out.before).toEqual(["t", "t", "t"]);
    expect(out.deadAfterMs).toBeGreaterThanOrEqual(0); // -1: still alive at the fixture's (generous) bound
    expect(out.after).toEqual(["gone", "gone", "gone"]);
  },
  60_000,
);

async function startParkChild(env: Record<string, string>) {
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, [fixture("park-child.ts"), "3"], {
    detached: true, // its own process group, like a job in a shell
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  let buf = "";
  child.stdout?.on("data", (d) => {
    buf += d;
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    lines.push(...parts);
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const waitFor = async (pred: (l: string) => boolean) => {
    for (let i = 0; i < 500; i++) {
      const hit = lines.find(pred);
      if (hit) return JSON.parse(hit);
      await Bun.sleep(10);
    }
    throw new Error(`timed out; lines: ${lines.join(" | ")}`);
  };
  return { child, exited, waitFor };
}

rootTest(
  "SIGINT to the whole process group: the caller's handler runs, the helpers stay parked (needs root)",
  async () => {
    baseline();
    const { child, exited, waitFor } = await startParkChild({ HANDLE_SIGINT: "1" });
    const { pids } = await waitFor((l) => l.includes('"pids"'));
    process.kill(-(child.pid as number), "SIGINT");
    await waitFor((l) => l.includes('"sigint":1'));
    await Bun.sleep(20);
    // SIGINT reached the helpers too, but it is blocked there: still parked.
    expect(pids.map(procState)).toEqual(["t", "t", "t"]);
    process.kill(-(child.pid as number), "SIGINT"); // second one: the callbacks finish
    const { results } = await waitFor((l) => l.includes('"results"'));
    expect(results).toEqual(["ok", "ok", "ok"]); // liveness passed: no helper died of SIGINT
    expect(await exited).toEqual({ code: 0, signal: null });
  },
);

rootTest("SIGTERM to the whole process group: Bun dies as usual, its helpers die with it (needs root)", async () => {
  baseline();
  const { child, exited, waitFor } = await startParkChild({});
  const { pids } = await waitFor((l) => l.includes('"pids"'));
  process.kill(-(child.pid as number), "SIGTERM");
  expect(await exited).toEqual({ code: null, signal: "SIGTERM" });
  const t0 = performance.now();
  while (pids.some((p: number) => exists(p) && procState(p) !== "Z") && performance.now() - t0 < 2000)
    await Bun.sleep(5);
  for (const p of pids) expect(exists(p) ? procState(p) : "gone").toMatch(/^(Z|gone)$/);
});

/** Collect the GC until `pid` is gone; returns the leak warnings seen meanwhile. */
async function collectUntilGone(pid: number): Promise<string[]> {
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === "BUN_USERNS_LEAKED_HELPER") warnings.push(w.message);
  };
  process.on("warning", onWarning);
  for (let i = 0; i < 200 && exists(pid); i++) {
    Bun.gc(true);
    await Bun.sleep(5);
  }
  process.off("warning", onWarning);
  return warnings;
}

rootTest("a startHelper handle dropped without release is killed and reaped when collected (needs root)", async () => {
  baseline();
  const start = () => startHelper("0:1000:1", "0:1000:1", CLONE_NEWIPC).pid;
  const pid = start(); // the handle is unreachable once start() returns
  expect(procState(pid)).toBe("t");
  const warnings = await collectUntilGone(pid);
  expect(exists(pid)).toBe(false);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toStartWith(`bun-userns: helper ${pid} was garbage-collected without release()`);
});

rootTest("a callback suspended on a promise nothing can settle: its helper is reaped at GC (needs root)", async () => {
  baseline();
  let pid = 0;
  // Deliberately not awaited: it can never settle.
  void unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWIPC, async (p) => {
    pid = p;
    await new Promise(() => {});
  });
  expect(procState(pid)).toBe("t");
  const warnings = await collectUntilGone(pid);
  expect(exists(pid)).toBe(false);
  expect(warnings.some((w) => w.includes(`helper ${pid} was garbage-collected`))).toBe(true);
});
