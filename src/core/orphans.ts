/**
 * What the calls of a terminated Worker left: its helpers and spawnInside
 * commands, their pidfds and pipe ends. PDEATHSIG kills those processes when
 * that thread exits, but no JS runs in a terminated Worker: the zombies are
 * reparented to another thread of this process and the descriptors stay
 * open. The main thread finds them, kills and reaps the processes, and closes
 * the descriptors. Only the main thread sweeps, so no two sweeps can act on
 * the same record.
 *
 * Found exactly, never by a process's name (a command names itself): each
 * thread records what it holds, inside the native call that creates it, in
 * a memfd of its own (native/registry.c says why a memfd). A registry is
 * swept only when its creating thread is gone: no task with its tid and its
 * start time is left in this process. A live thread's processes, even dead
 * ones, are left to that thread, which holds their pidfds and waits for them.
 * Each record names its descriptor by inode (and pid), so a number that now
 * names something else is left alone.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
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

/** Is the thread with this tid and start time still one of ours? */
function threadLives(tid: number, start: bigint): boolean {
  try {
    return native.threadStart(readFileSync(`/proc/self/task/${tid}/stat`, "utf8")) === start;
  } catch {
    return false;
  }
}

/**
 * Kill and reap the helpers and commands of terminated Workers and close
 * their descriptors. Returns how many processes were collected; does
 * nothing (0) outside the main thread.
 */
export function reapOrphans(): number {
  if (!Bun.isMainThread) return 0;
  last = performance.now();
  let n = 0;
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return 0;
  }
  for (const name of fds) {
    let bytes: Buffer;
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) !== native.REGISTRY_LINK) continue;
      bytes = readFileSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // closed while we looked: not ours to touch
    }
    if (bytes.length < native.REGISTRY_HEADER_BYTES) continue;
    if (bytes.toString("latin1", 0, 8) !== native.REGISTRY_MAGIC) continue;
    const tid = bytes.readInt32LE(8);
    if (threadLives(tid, bytes.readBigUInt64LE(16))) continue;
    const fd = Number(name);
    const records = Math.floor((bytes.length - native.REGISTRY_HEADER_BYTES) / native.RECORD_BYTES);
    for (let i = 0; i < records; i++) {
      if (bytes.readInt32LE(native.REGISTRY_HEADER_BYTES + i * native.RECORD_BYTES) === native.RECORD_KIND.free)
        continue;
      const kind = native.recSweep(fd, i);
      if (kind === native.RECORD_KIND.helper || kind === native.RECORD_KIND.command) n++;
    }
    native.close(fd);
  }
  return n;
}
