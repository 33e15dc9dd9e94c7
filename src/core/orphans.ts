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
import * as processCodec from "./process-codec.ts";
import * as registryCodec from "./registry-codec.ts";

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
    return registryCodec.threadStart(readFileSync(`/proc/self/task/${tid}/stat`, "utf8")) === start;
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
      if (readlinkSync(`/proc/self/fd/${name}`) !== registryCodec.REGISTRY_LINK) continue;
      bytes = readFileSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // closed while we looked: not ours to touch
    }
    const reg = registryCodec.readRegistry(bytes);
    if (reg === undefined || threadLives(reg.tid, reg.start)) continue;
    const fd = Number(name);
    for (const i of reg.inUse) {
      const kind = registryCodec.recSweep(fd, i);
      if (kind === registryCodec.RECORD_KIND.helper || kind === registryCodec.RECORD_KIND.command) n++;
    }
    processCodec.close(fd);
  }
  return n;
}
