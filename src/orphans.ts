/**
 * Helpers whose creating Worker was terminated. PDEATHSIG kills them when
 * that thread exits, but no JS runs in a terminated Worker: the zombie is
 * reparented to another thread of this process and the pidfd stays open.
 * The main thread finds them (named "bun-userns", no tracer left), reaps
 * them and closes those pidfds. Only the main thread sweeps, so no two
 * sweeps can close the same descriptor.
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

function field(status: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status);
  return m?.[1];
}

/**
 * Reap the helpers of terminated Workers and close their pidfds. Returns how
 * many were collected; does nothing (0) outside the main thread.
 */
export function reapOrphans(): number {
  if (!Bun.isMainThread) return 0;
  last = performance.now();
  // Loaded here, not at import: node:fs costs ~2 ms of a one-shot's start.
  const { readdirSync, readFileSync, readlinkSync } = require("node:fs") as typeof import("node:fs");
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
      const pid = Number(field(readFileSync(`/proc/self/fdinfo/${name}`, "utf8"), "Pid"));
      if (!(pid > 0)) continue;
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      if (field(status, "Name") !== "bun-userns") continue;
      if (Number(field(status, "PPid")) !== process.pid || Number(field(status, "TracerPid")) !== 0) continue;
      const fd = Number(name);
      native.release(fd);
      n++;
    } catch {
      // The fd or the process went away while we looked: not ours to touch.
    }
  }
  return n;
}
