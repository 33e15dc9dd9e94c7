// Handles are the library's own: a look-alike object is not a Helper, and a
// pidfd number the application closed (and that now names another process)
// is never signalled, waited on or closed in the library's name.
import { expect, test } from "bun:test";
import { closeSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as processCodec from "../../src/core/process-codec.ts";
import {
  CLONE_NEWIPC,
  type Helper,
  openNamespace,
  pinNamespaces,
  setTimeOffsets,
  spawnInside,
  startHelper,
  type UsernsError,
} from "../../src/index.ts";
import { exists, isRoot, procState } from "../support/proc.ts";

const rootTest = isRoot ? test : test.skip;

/** The fd numbers of our pidfds that name PID. */
function pidfdsOf(pid: number): number[] {
  return readdirSync("/proc/self/fd")
    .map(Number)
    .filter((fd) => {
      try {
        return new RegExp(`^Pid:\\s*${pid}$`, "m").test(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
      } catch {
        return false;
      }
    });
}

/** A new pidfd for PID at number N (free now): the lowest free numbers are taken first. */
function pidfdAt(n: number, pid: number): number {
  const below: number[] = [];
  try {
    for (;;) {
      const fd = processCodec.openPidfd(pid);
      if (fd === n || fd < 0 || fd > n) return fd;
      below.push(fd);
    }
  } finally {
    for (const fd of below) closeSync(fd);
  }
}

rootTest("a plain object with a helper's pid and pidfd is refused by every call that takes a Helper", () => {
  using h = startHelper("0:1000:10", "0:1000:10", CLONE_NEWIPC);
  const fake = { pid: h.pid, pidfd: h.pidfd, checkAlive() {} } as unknown as Helper;
  // A pin path that passes its own checks, so the refusal is the target's; nothing is made in it.
  const dir = mkdtempSync(join(tmpdir(), "bun-userns-fake-helper-"));
  const calls: [string, () => unknown][] = [
    ["spawnInside", () => spawnInside(fake, ["true"])],
    ["openNamespace", () => openNamespace(fake, "ipc")],
    ["pinNamespaces", () => pinNamespaces(fake, { ipc: join(dir, "ipc") })],
    ["setTimeOffsets", () => setTimeOffsets(fake, { monotonic: 1 })],
  ];
  try {
    for (const [name, call] of calls) {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      // Not a Helper and not a pid: a value of the wrong type, refused before anything is used.
      expect([name, err instanceof TypeError]).toEqual([name, true]);
    }
    expect(readdirSync(dir)).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(procState(h.pid)).toBe("t");
});

rootTest(
  "kill() of a command whose pidfd number was closed and reused signals that command, not the new owner of the number",
  async () => {
    using h = startHelper("0:1000:10", "0:1000:10", CLONE_NEWIPC);
    const a = spawnInside(h, ["sleep", "60"]);
    const b = spawnInside(h, ["sleep", "60"]);
    const [n] = pidfdsOf(a.pid);
    closeSync(n as number); // the application's mistake
    const reused = pidfdAt(n as number, b.pid);
    try {
      expect(reused).toBe(n as number);
      expect(a.kill("SIGKILL")).toBe(true);
      expect(await a.exited).toBe(137);
      expect(["S", "R"]).toContain(procState(b.pid) as string);
    } finally {
      closeSync(reused);
      b.kill("SIGKILL");
      await b.exited;
    }
  },
);

rootTest(
  "release() of a helper whose pidfd number was closed and reused ends that helper and leaves the new owner alone",
  async () => {
    const h = startHelper("0:1000:10", "0:1000:10", CLONE_NEWIPC);
    using other = startHelper("0:1000:10", "0:1000:10", CLONE_NEWIPC);
    const b = spawnInside(other, ["sleep", "60"]);
    const n = h.pidfd;
    closeSync(n); // the application's mistake
    const reused = pidfdAt(n, b.pid);
    try {
      expect(reused).toBe(n);
      let err: unknown;
      try {
        spawnInside(h, ["true"]);
      } catch (e) {
        err = e;
      }
      expect((err as UsernsError).code).toBe("EBADF");
      expect(h.release()).toBeUndefined();
      expect(exists(h.pid)).toBe(false);
      expect(["S", "R"]).toContain(procState(b.pid) as string);
    } finally {
      closeSync(reused);
      b.kill("SIGKILL");
      await b.exited;
    }
  },
);
