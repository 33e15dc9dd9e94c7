// Descriptor and signal hygiene.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { CLONE_NEWIPC, getUsernsFd, unshareAfterEnterUserns } from "../../src/index.ts";
import { isRoot } from "../support/proc.ts";

const O_CLOEXEC = 0o2000000;
const flagsOf = (fd: string) =>
  Number.parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1] ?? "0", 8);

test.skipIf(!isRoot)("every descriptor the package holds or returns is O_CLOEXEC (needs root)", async () => {
  const pidfdsNow = () =>
    readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:[pidfd]";
      } catch {
        return false;
      }
    });
  const before = pidfdsNow();
  let during: { fd: string; target: string; cloexec: boolean }[] = [];
  await unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWIPC, () => {
    during = readdirSync("/proc/self/fd").flatMap((fd) => {
      try {
        return [{ fd, target: readlinkSync(`/proc/self/fd/${fd}`), cloexec: (flagsOf(fd) & O_CLOEXEC) !== 0 }];
      } catch {
        return []; // the readdir's own fd, gone already
      }
    });
  });
  const pidfds = during.filter((d) => d.target === "anon_inode:[pidfd]");
  // Ours is the one more than before (Bun may hold pidfds of its own children).
  expect(pidfds).toHaveLength(before.length + 1);
  expect(pidfds.every((d) => d.cloexec)).toBe(true);
  expect(pidfdsNow()).toEqual(before);
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
