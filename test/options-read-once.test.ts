// Every public call copies its option bag once: each getter runs at most once,
// and the value it validated is the value it uses.
import { expect, test } from "bun:test";
import {
  CLONE_NEWIPC,
  CLONE_NEWTIME,
  getUsernsFd,
  getUsernsFdSync,
  pinNamespaces,
  setTimeOffsets,
  spawnInside,
  startHelper,
  unshareAfterEnterUserns,
  unshareAfterEnterUsernsSync,
} from "../src/index.ts";
import { isRoot } from "./support/proc.ts";

const rootTest = isRoot ? test : test.skip;

/** An object whose every property is a counting getter; a function value is called with the read number. */
function counted(values: Record<string, unknown>) {
  const reads: Record<string, number> = {};
  const o = {};
  for (const [k, v] of Object.entries(values)) {
    Object.defineProperty(o, k, {
      enumerable: true,
      get() {
        reads[k] = (reads[k] ?? 0) + 1;
        return typeof v === "function" ? (v as (n: number) => unknown)(reads[k] as number) : v;
      },
    });
  }
  return { o, reads, once: Object.fromEntries(Object.keys(values).map((k) => [k, 1])) };
}

/** 60000 when first read, then -1: a call that reads it again times out at once. */
const timeoutThenZero = (n: number) => (n === 1 ? 60_000 : -1);
const unshareBag = () =>
  counted({
    timeout: timeoutThenZero,
    signal: new AbortController().signal,
    owner: "mapping",
    mapper: "direct",
    setgroups: "deny",
  });

rootTest("unshareAfterEnterUserns reads each option once and uses the timeout it validated", async () => {
  const b = unshareBag();
  await unshareAfterEnterUserns("0:1000:10", "0:1000:10", CLONE_NEWIPC, () => Bun.sleep(20), b.o);
  expect(b.reads).toEqual(b.once);
});

rootTest("unshareAfterEnterUsernsSync reads each option once and uses the timeout it validated", () => {
  const b = unshareBag();
  unshareAfterEnterUsernsSync("0:1000:10", "0:1000:10", CLONE_NEWIPC, () => Bun.sleepSync(5), b.o);
  expect(b.reads).toEqual(b.once);
});

rootTest("getUsernsFd and getUsernsFdSync read each option once", async () => {
  const a = unshareBag();
  (await getUsernsFd("0:1000:10", "0:1000:10", a.o)).close();
  expect(a.reads).toEqual(a.once);
  const b = unshareBag();
  getUsernsFdSync("0:1000:10", "0:1000:10", b.o).close();
  expect(b.reads).toEqual(b.once);
});

rootTest("startHelper reads each option once", () => {
  const b = counted({ owner: "mapping", mapper: "direct", setgroups: "deny" });
  startHelper("0:1000:10", "0:1000:10", CLONE_NEWIPC, b.o as object).release();
  expect(b.reads).toEqual(b.once);
});

rootTest("spawnInside reads each option once and uses what it validated", async () => {
  using h = startHelper("0:1000:10", "0:1000:10", CLONE_NEWIPC);
  const b = counted({
    namespaces: ["ipc"],
    stdio: ["ignore", "pipe", "ignore"],
    env: { PATH: "/usr/bin:/bin" },
    cwd: "/",
    signal: new AbortController().signal,
    newPidNamespace: false,
    mountProc: false,
    uid: 0,
    gid: 0,
    fork: false,
    propagation: "private",
    unshare: ["uts"],
    killSignal: "SIGKILL",
    keepCaps: false,
  });
  const p = spawnInside(h, ["sh", "-c", "echo $PATH"], b.o);
  expect(await new Response(p.stdout).text()).toBe("/usr/bin:/bin\n");
  expect(await p.exited).toBe(0);
  expect(b.reads).toEqual(b.once);
});

rootTest("setTimeOffsets and pinNamespaces read each entry once", () => {
  using h = startHelper("0:1000:10", "0:1000:10", CLONE_NEWTIME);
  const t = counted({ monotonic: (n: number) => (n === 1 ? 5 : "bad"), boottime: 7 });
  setTimeOffsets(h, t.o);
  expect(t.reads).toEqual(t.once);
  const p = counted({ ipc: "/nonexistent-bun-userns-dir/ipc" });
  expect(() => pinNamespaces(h, p.o)).toThrow("does not exist");
  expect(p.reads).toEqual(p.once);
});
