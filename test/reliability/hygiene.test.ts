// Descriptor and signal hygiene.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CLONE_NEWIPC, getUsernsFd, unshareAfterEnterUserns } from "../../src/index.ts";
import { isRoot } from "../support/proc.ts";

const O_CLOEXEC = 0o2000000;
const flagsOf = (fd: string) =>
  Number.parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1] ?? "0", 8);

test.skipIf(!isRoot)("every descriptor the package holds or returns is O_CLOEXEC (needs root)", async () => {
  // A pidfd's fdinfo names its process: ours are told apart from Bun's own (its children's come and go).
  const pidfdsOf = (pid: number) =>
    readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return /^Pid:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1] === String(pid);
      } catch {
        return false;
      }
    });
  let helper = 0;
  let ours: { fd: string; cloexec: boolean }[] = [];
  await unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWIPC, (pid) => {
    helper = pid;
    ours = pidfdsOf(pid).map((fd) => ({ fd, cloexec: (flagsOf(fd) & O_CLOEXEC) !== 0 }));
  });
  expect(helper).toBeGreaterThan(0);
  expect(ours).toHaveLength(1);
  expect(ours.every((d) => d.cloexec)).toBe(true);
  expect(pidfdsOf(helper)).toEqual([]);
  using ns = await getUsernsFd("0:1000:1", "0:1000:1");
  expect(flagsOf(String(ns.fd)) & O_CLOEXEC).toBe(O_CLOEXEC);
});

test.skipIf(!isRoot)(
  "SIGCHLD=SIG_IGN, a foreign waitpid(-1) reaper and a Bun.spawn storm neither steal nor strand helpers (needs root)",
  () => {
    const r = Bun.spawnSync([process.execPath, join(import.meta.dir, "..", "fixtures", "sigchld-storm.ts")]);
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout.toString());
    expect(out.errors).toEqual([]);
    expect(out.ok).toBe(300);
    expect(out.spawned).toBe(200);
    expect(out.live).toBe(0);
    expect(out.children).toBe("");
  },
  60_000,
);
