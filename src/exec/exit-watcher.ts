/**
 * issue 11: event-driven exit notices for spawnInside's poller.
 *
 * Bun has no public API to put a pidfd in its event loop, and a timer cannot
 * look sooner than 1 ms. So the main thread starts one Worker (lazily, at
 * the first command) that blocks in ppoll on dups of the running commands'
 * pidfds (native/watch.c) and posts a message when one exits; the poller then
 * reaps at once. The Worker only watches: the owner thread still reaps and
 * still owns every pidfd, and its timer stays as the safety net (it also
 * keeps the event loop alive, as the Worker is unref'd). Hand-over is a
 * lock-free ring in a SharedArrayBuffer plus an eventfd kick: no message
 * needs the Worker's event loop, which never runs again once it waits.
 *
 * Main thread only: a Worker that used spawnInside could end while its
 * watcher sits in ppoll, which cannot be interrupted. Workers, a watcher
 * that failed to start, or BUN_USERNS_EXIT_WATCHER=0 use the timer alone.
 */
import * as native from "../core/native.ts";
import { CTL_EFD, CTL_HEAD, CTL_RING, CTL_TAIL, RING_SIZE } from "./exit-watcher-ring.ts";

type State = "off" | "starting" | "ready" | "unavailable";
let state: State = "off";
let ctl: Int32Array | undefined;
let onExit: (() => void) | undefined;
let notices = 0;

function start(): void {
  state = "unavailable";
  if (!Bun.isMainThread || process.env.BUN_USERNS_EXIT_WATCHER === "0") return;
  const efd = native.watchOpen();
  if (efd < 0) return;
  const c = new Int32Array(new SharedArrayBuffer(4 * (CTL_RING + RING_SIZE)));
  c[CTL_EFD] = efd;
  let worker: Worker;
  try {
    worker = new Worker(new URL("./exit-watcher-worker.ts", import.meta.url).href, { smol: true });
  } catch {
    native.close(efd);
    return;
  }
  worker.unref();
  worker.onmessage = (e: MessageEvent) => {
    if (e.data === "ready") state = "ready";
    else {
      notices++;
      onExit?.();
    }
  };
  // It takes no more: what it took it closed on its way out (exit-watcher-worker.ts), what it never
  // took (e.g. its file is missing from a bundle) is closed here.
  worker.onerror = () => {
    state = "unavailable";
    let head = Atomics.load(c, CTL_HEAD);
    const tail = Atomics.load(c, CTL_TAIL);
    for (; head !== tail; head = (head + 1) | 0) native.close(c[CTL_RING + (head & (RING_SIZE - 1))] as number);
    Atomics.store(c, CTL_HEAD, head);
  };
  worker.postMessage(c.buffer);
  ctl = c;
  state = "starting";
}

/**
 * Hand the watcher a dup of one more command's pidfd; `notify` runs on this
 * thread after any command exited. False if it cannot take it (not the main
 * thread, not started, ring full): then the timer alone sees that exit.
 */
export function watchExit(pidfd: number, notify: () => void): boolean {
  if (state === "off") start();
  const c = ctl;
  if (state === "unavailable" || c === undefined) return false;
  onExit = notify;
  const head = Atomics.load(c, CTL_HEAD);
  const tail = Atomics.load(c, CTL_TAIL);
  if (((tail - head) | 0) >= RING_SIZE) return false;
  const fd = native.dup(pidfd);
  if (fd < 0) return false;
  c[CTL_RING + (tail & (RING_SIZE - 1))] = fd;
  Atomics.store(c, CTL_TAIL, (tail + 1) | 0);
  native.watchKick(c[CTL_EFD] as number);
  return true;
}

/** True once the watcher runs: exits are then reported, not only polled for. */
export function exitWatcherReady(): boolean {
  return state === "ready";
}

/** What tests look at: the watcher's state and how many exit notices it posted. */
export function exitWatcherStats(): { state: State; notices: number } {
  return { state, notices };
}
