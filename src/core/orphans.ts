/**
 * Helpers whose creating Worker was terminated. PDEATHSIG kills them when
 * that thread exits, but no JS runs in a terminated Worker: the zombie is
 * reparented to another thread of this process and the pidfd stays open.
 * The main thread finds them, reaps them and closes those pidfds. Only the
 * main thread sweeps, so no two sweeps can close the same descriptor.
 *
 * A pidfd is taken as such an orphan only if all of these hold: its process
 * is a zombie child of ours with exit signal 0 (no other child of Bun's has
 * that: Bun.spawn's exit with SIGCHLD), named by the helper itself at birth
 * "bun-userns:" + its creating thread's tid, and that thread no longer exists
 * in this process. A live thread's helpers, even dead ones, are left to that
 * thread, which holds their pidfds.
 */
import * as native from "./native.ts";

const INTERVAL_MS = 1000;
/** A one-shot process never sweeps: nothing can be orphaned in its first second. */
let last = performance.now();

/** Run a sweep from the main thread at most once a second (cheap otherwise). */
export function sweepIfDue(): void {
  if (!Bun.isMainThread) return;
  const now = performance.now();
  if (now - last < INTERVAL_MS) return;
  last = now;
  reapOrphans();
}

const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

/** The creating thread's tid from a helper's comm (see helper_name in native/helper.c). */
export function creatorTid(comm: string): number | undefined {
  const m = /^bun-userns:([0-9A-Za-z_-]{4})$/.exec(comm);
  if (m === null) return undefined;
  let tid = 0;
  for (const c of m[1] as string) tid = tid * 64 + DIGITS.indexOf(c);
  return tid;
}

/**
 * Reap the helpers of terminated Workers and close their pidfds. Returns how
 * many were collected; does nothing (0) outside the main thread.
 */
export function reapOrphans(): number {
  if (!Bun.isMainThread) return 0;
  last = performance.now();
  // Loaded here, not at import: node:fs costs ~2 ms of a one-shot's start.
  const { existsSync, readdirSync, readFileSync, readlinkSync } = require("node:fs") as typeof import("node:fs");
  let n = 0;
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return 0;
  }
  for (const name of fds) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) !== "anon_inode:[pidfd]") continue;
      const pid = Number(/^Pid:\s*(-?\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${name}`, "utf8"))?.[1]);
      if (!(pid > 0)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const fields = stat.slice(close + 2).split(" ");
      // After the comm: state(3) ppid(4) … exit_signal(38), numbered from 1 as in proc(5).
      if (fields[0] !== "Z" || Number(fields[1]) !== process.pid || fields[35] !== "0") continue;
      const tid = creatorTid(stat.slice(stat.indexOf("(") + 1, close));
      if (tid === undefined || existsSync(`/proc/self/task/${tid}`)) continue;
      native.release(Number(name));
      n++;
    } catch {
      // The fd or the process went away while we looked: not ours to touch.
    }
  }
  return n;
}
