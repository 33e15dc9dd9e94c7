/**
 * Event-driven exit notices for spawnInside's poller.
 *
 * Bun has no public API to put a pidfd in its event loop, and a timer cannot
 * look sooner than 1 ms. So the main thread starts one Worker (lazily, at
 * the first command still running after the poller's eager period: a short
 * command never pays for it) that blocks in epoll_pwait on an epoll set of the
 * running commands' pidfds (native/watch.c) and posts a message when one
 * exits; the poller then reaps at once. Adding a command is one epoll_ctl
 * from this thread, which a wait already blocked sees: the Worker wakes only
 * for exits. It only watches: this thread reaps and owns every pidfd (its
 * close after the reap also drops the registration), and its timer stays as
 * the safety net (it also keeps the event loop alive, as the Worker is
 * unref'd).
 *
 * Main thread only: a Worker that used spawnInside could end while its
 * watcher sits in epoll_pwait, which cannot be interrupted. Workers, a
 * watcher that failed to start, the CLI's bytecode bundle, or
 * BUN_USERNS_EXIT_WATCHER=0 use the timer alone.
 */
import * as processCodec from "../core/process-codec.ts";

/** Defined (as true) for the package's bytecode build of the CLI: its import.meta.url is where the build ran. */
declare const BUN_USERNS_CJS_BUNDLE: boolean | undefined;

type State = "off" | "starting" | "ready" | "unavailable";
let state: State = "off";
let epfd = -1;
let onExit: (() => void) | undefined;
let notices = 0;

function start(): void {
  state = "unavailable";
  // The bytecode bundle holds no Worker file, and its import.meta.url names the machine that built it.
  if (typeof BUN_USERNS_CJS_BUNDLE !== "undefined" || !Bun.isMainThread || process.env.BUN_USERNS_EXIT_WATCHER === "0")
    return;
  const fd = processCodec.watchOpen();
  if (fd < 0) return;
  let worker: Worker;
  try {
    worker = new Worker(new URL("./exit-watcher-worker.ts", import.meta.url).href, { smol: true });
  } catch {
    processCodec.close(fd);
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
  // A Worker that died (e.g. its file is missing from a bundle) waits on nothing: the set goes with it
  // (the pidfds in it stay this thread's, and the timer reaps them).
  worker.onerror = () => {
    state = "unavailable";
    if (epfd >= 0) processCodec.close(epfd);
    epfd = -1;
  };
  worker.postMessage(fd);
  epfd = fd;
  state = "starting";
}

/**
 * Start the watcher (its Worker, in the background) before any command
 * needs it: the poller asks at a thread's second command, so that a program
 * that runs several has exits reported at once, while a one-shot run of a
 * single command (the CLI's) never pays for the Worker.
 */
export function startExitWatcher(): void {
  if (state === "off") start();
}

/**
 * Watch one more command's pidfd; `notify` runs on this thread after any
 * command exited. False if it cannot (not the main thread, not started):
 * then the timer alone sees that exit.
 */
export function watchExit(pidfd: number, notify: () => void): boolean {
  if (state === "off") start();
  if (state === "unavailable" || epfd < 0) return false;
  onExit = notify;
  return processCodec.watchAdd(epfd, pidfd) === 0;
}

/** True once the watcher runs: exits are then reported, not only polled for. */
export function exitWatcherReady(): boolean {
  return state === "ready";
}

/** What tests look at: the watcher's state and how many exit notices it posted. */
export function exitWatcherStats(): { state: State; notices: number } {
  return { state, notices };
}
