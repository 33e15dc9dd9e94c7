/**
 * The poller: one timer per thread for every running command. It reaps
 * without blocking (waitid WNOHANG through the registry), woken by the exit
 * watcher (exit-watcher.ts) the moment a command exits and otherwise by the
 * timer: 1 ms for the first 10 ms after a start or an exit, backing off to
 * 20 ms; with the watcher reporting every exit, only a 50 ms safety net. The
 * watcher starts at a thread's second command; until it runs, a command
 * joins its set only once it outlives those first 10 ms, after that at once. The
 * poller, not the handle, owns each pidfd, so a dropped handle cannot leave
 * a zombie.
 */
import { CONSTS } from "../core/contract.ts";
import { errnoName, errnoText, UsernsError } from "../core/errors.ts";
import * as registryCodec from "../core/registry-codec.ts";
import { exitWatcherReady, startExitWatcher, watchExit } from "./exit-watcher.ts";

export interface Running {
  /** The command's pidfd (it stays open until the reap). */
  pidfd: number;
  /** Its record in this thread's registry: every signal and wait goes through it (native/registry.c). */
  rec: number;
  resolve: (status: number) => void;
  reject: (e: unknown) => void;
  onDone?: () => void;
  /** The signal that killed it, once reaped. */
  signal?: number;
  /** Its pidfd is in the exit watcher's epoll set, which reports its exit. */
  watched: boolean;
  /** When the timer alone has watched it long enough to hand it to the exit watcher (never again once tried). */
  watchAt: number;
}

const running = new Set<Running>();
let timer: ReturnType<typeof setTimeout> | undefined;
let delay = 1;
/**
 * Until then, poll every 1 ms (the timer floor) instead of backing off: most
 * commands are short. Not spinning every event-loop turn: the spinning thread
 * would compete with the command for the CPU (docs/performance.md).
 */
let eagerUntil = 0;
const EAGER_MS = 10;
/** Commands this thread has started. */
let watchedEver = 0;
/** Commands the exit watcher does not report: only the timer sees them end. */
let unwatched = 0;
/** The timer's period when the watcher reports every exit: a safety net that also keeps the loop alive. */
const WATCHED_MS = 50;

function arm(): void {
  if (timer !== undefined) clearTimeout(timer);
  const ms = unwatched === 0 && exitWatcherReady() ? WATCHED_MS : performance.now() < eagerUntil ? 1 : delay;
  timer = setTimeout(tick, ms);
}

function settle(r: Running, rc: number): void {
  running.delete(r);
  if (!r.watched) unwatched--;
  // The poll that reaped it closed its pidfd and forgot its record.
  r.pidfd = -1;
  r.onDone?.();
  // Death by signal N apart from exit code 128+N (native/exec.c), so a caller can die of the same signal.
  if (rc >= CONSTS.POLL_SIGNALED) {
    r.signal = rc - CONSTS.POLL_SIGNALED;
    r.resolve(128 + r.signal);
  } else if (rc >= 0) r.resolve(rc);
  else
    r.reject(
      new UsernsError(`waitid: ${errnoText(-rc)}`, {
        code: errnoName(-rc),
        errno: -rc,
        syscall: "waitid",
        step: "wait",
      }),
    );
}

/** Run by the timer, or by the exit watcher's notice (then the timer is re-armed from here). */
function tick(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  let done = 0;
  const now = performance.now();
  for (const r of running) {
    const rc = registryCodec.recPoll(r.rec);
    if (rc !== -11) {
      settle(r, rc);
      done++;
    } else if (now >= r.watchAt) {
      r.watchAt = Number.POSITIVE_INFINITY;
      r.watched = watchExit(r.pidfd, tick);
      if (r.watched) unwatched--;
    }
  }
  if (running.size === 0) {
    delay = 1;
    return;
  }
  if (done > 0) {
    delay = 1;
    eagerUntil = performance.now() + EAGER_MS;
  } else delay = Math.min(delay * 2, 20);
  arm();
}

/**
 * Reap R once it exits (its promise settles then). Until the exit watcher
 * runs, a new command is polled by the timer alone through the eager period,
 * and only one still running after it goes to the watcher, whose Worker (and
 * its own compile of the C) a thread that runs a single command, such as the
 * one-shot CLI, never pays for.
 */
export function watch(r: Running): void {
  running.add(r);
  // A thread's second command starts the watcher; once it runs, every command joins it at once, so that
  // even a short one's exit is reported, not found by the next 1 ms poll.
  if (++watchedEver === 2) startExitWatcher();
  r.watched = exitWatcherReady() && watchExit(r.pidfd, tick);
  r.watchAt = r.watched ? Number.POSITIVE_INFINITY : performance.now() + EAGER_MS;
  if (!r.watched) unwatched++;
  delay = 1;
  eagerUntil = performance.now() + EAGER_MS;
  arm();
}

/**
 * R is exiting: the exit pipe only its process held read EOF (its files are
 * released in do_exit a little before it becomes a zombie). Poll now, and
 * on the next turns of the event loop until it is reaped, before any timer
 * would; then the timer again, for a process that somehow still runs.
 */
export function exiting(r: Running): void {
  let turns = 0;
  const again = () => {
    if (!running.has(r)) return;
    tick();
    if (running.has(r) && ++turns < EXITING_TURNS) setImmediate(again);
  };
  again();
}
/** How many turns of the loop exiting() polls before leaving R to the timer. */
const EXITING_TURNS = 64;

/** Commands this thread is still waiting for (tests prove nothing is left). */
export function runningCommands(): number {
  return running.size;
}
