/**
 * Every /proc/PID path this package builds (a helper's maps, its namespace
 * links, a target's uid_map) names PID as this process sees it, so /proc must
 * be a mount of this process's own pid namespace. Under `unshare -p` without
 * `--mount-proc`, /proc is the parent namespace's: there PID is another
 * process, which would be given the maps meant for our helper. /proc/self
 * tells: it resolves to our pid as that /proc numbers it.
 */
import { readlinkSync } from "node:fs";
import { UsernsError } from "./errors.ts";

let checked = false;

/** Throw unless /proc is this process's pid namespace's (checked once: a process keeps its /proc). */
export function assertOwnProc(): void {
  if (checked) return;
  let self = "";
  try {
    self = readlinkSync("/proc/self");
  } catch {}
  if (self !== String(process.pid)) {
    throw new UsernsError(
      `/proc is not of this process's pid namespace (/proc/self is ${JSON.stringify(self)}, our pid is ${process.pid}): every /proc/PID path would name another process`,
      {
        code: "EINVAL",
        errno: 22,
        syscall: "readlinkat",
        step: "proc",
        hint: "mount a /proc of this pid namespace (unshare --pid --fork --mount-proc, or mount -t proc proc /proc in a mount namespace of its own)",
      },
    );
  }
  checked = true;
}
