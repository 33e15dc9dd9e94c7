/**
 * The public calls. One lifecycle under all of them: validate everything
 * into plain data, start the parked helper, run the callback with its pid,
 * check it is still alive, then always kill and reap it. They sit above
 * core (the helper, which takes its map writer as an argument) and rootless
 * (subordinate ranges and newuidmap, chosen here), so core imports neither.
 */

import { errnoText, syscallError, UsernsError } from "./core/errors.ts";
import { checkFlags, unsupportedFlags } from "./core/flags.ts";
import { type Helper, type HelperSpec, type MapWriterChoice, spawnHelper } from "./core/helper.ts";
import { describe, type IDMapInput, parseIDMapping } from "./core/idmap.ts";
import { checkOptions, type UnshareOptions } from "./core/options.ts";
import { supportsPidFD, unsupportedKernel } from "./core/pidfd.ts";
import * as processCodec from "./core/process-codec.ts";
import { UsernsFd } from "./core/usernsfd.ts";
import { mapWriterFor } from "./rootless/newuidmap.ts";
import { autoMap } from "./rootless/subid.ts";

/** What a callback gets beside the pid: how to notice that the call gave up on it. */
export interface CallbackContext {
  /**
   * Aborted (with the call's abort reason or TimeoutError) when the call
   * stops waiting for the callback; the helper is killed right after, and
   * its pid may then be reused. A callback that outlives an abort must stop
   * touching the pid when this fires.
   */
  readonly signal: AbortSignal;
  /** The helper's pidfd (pid-reuse safe), valid until the call ends or `signal` fires. Never close it. */
  readonly pidfd: number;
}

export type UnshareCallback = (pid: number, context: CallbackContext) => unknown;

function prepare(uidMap: IDMapInput, gidMap: IDMapInput, flags: unknown, f: unknown, options: unknown) {
  const unshareFlags = checkFlags(flags);
  if (f !== undefined && f !== null && typeof f !== "function") {
    throw new TypeError(`callback must be a function, got ${describe(f)}`);
  }
  const opts = checkOptions(options);
  if (!supportsPidFD()) {
    throw new UsernsError("kernel doesn't support pidfd", { code: "ENOSYS", errno: 38, step: "pidfd" });
  }
  const kernel = unsupportedKernel();
  if (kernel) throw kernel;
  // "none": the map stays unwritten (util-linux unshare -U): ids show as the overflow id there.
  const uid = uidMap === "none" ? [] : parseIDMapping(uidMap === "auto" ? autoMap("uid") : uidMap, "uid");
  const gid = gidMap === "none" ? [] : parseIDMapping(gidMap === "auto" ? autoMap("gid") : gidMap, "gid");
  const bad = unsupportedFlags(unshareFlags);
  if (bad) throw bad;
  const spec: HelperSpec = Object.freeze({
    uid,
    gid,
    flags: unshareFlags,
    setgroups: opts.setgroups,
    owner: opts.owner,
    propagation: opts.propagation,
  });
  return { spec, opts, writerFor: mapWriterFor(opts.mapper ?? "auto", uid, gid) };
}

/** Start a helper and hand it over: the caller disposes it (`using`). */
export function startHelper(
  uidMap: IDMapInput,
  gidMap: IDMapInput,
  flags: number,
  options?: Pick<UnshareOptions, "setgroups" | "owner" | "mapper" | "propagation">,
): Helper {
  const { spec, opts, writerFor } = prepare(uidMap, gidMap, flags, undefined, options);
  if (opts.signal || opts.timeout !== undefined) throw new TypeError("startHelper takes no signal or timeout");
  return spawnHelper(spec, writerFor);
}

function timeoutError(): DOMException {
  return new DOMException("The operation timed out.", "TimeoutError");
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === "object" || typeof v === "function") &&
    v !== null &&
    typeof (v as PromiseLike<unknown>).then === "function"
  );
}

/**
 * One helper's life from spawn to reap. The context's signal is made only
 * if the callback asks for it; the timeout timer is armed only once the
 * helper exists, and always disarmed.
 */
class Cycle implements CallbackContext {
  readonly helper: Helper;
  #controller: AbortController | undefined;
  #stopped: { reason: unknown } | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(spec: HelperSpec, writerFor: MapWriterChoice) {
    this.helper = spawnHelper(spec, writerFor);
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#stopped) this.#controller.abort(this.#stopped.reason);
    }
    return this.#controller.signal;
  }

  get pidfd(): number {
    return this.helper.pidfd;
  }

  /** The caller's signal and the timeout, as one signal (undefined: neither). */
  watch(opts: UnshareOptions): AbortSignal | undefined {
    if (opts.timeout === undefined) return opts.signal;
    const c = new AbortController();
    this.#timer = setTimeout(() => c.abort(timeoutError()), opts.timeout);
    return opts.signal ? AbortSignal.any([opts.signal, c.signal]) : c.signal;
  }

  /** Tell a callback that may still run that the call gave up on it. */
  stop(reason: unknown): void {
    this.#stopped = { reason };
    this.#controller?.abort(reason);
  }

  /** Disarm, kill, reap; a kill error replaces the outcome, as the seed does. */
  finish(failed: boolean, error: unknown): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const killError = this.helper.release();
    if (killError) throw killError;
    if (failed) throw error;
  }
}

/** Settle with p, or reject with the abort reason (and stop the cycle) as soon as signal fires. */
function raceAbort(p: unknown, signal: AbortSignal, cycle: Cycle): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      cycle.stop(signal.reason);
      reject(signal.reason);
    };
    if (signal.aborted) {
      // Aborted during the callback's synchronous part: the event has fired.
      Promise.resolve(p).catch(() => {});
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    Promise.resolve(p).then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * containerd's `UnshareAfterEnterUserns` for Bun. The callback (sync or
 * async) gets the helper's pid and a context; its error is rethrown
 * unchanged after the helper is killed and reaped.
 */
export async function unshareAfterEnterUserns(
  uidMap: IDMapInput,
  gidMap: IDMapInput,
  flags: number,
  f?: UnshareCallback | null,
  options?: UnshareOptions,
): Promise<void> {
  const { spec, opts, writerFor } = prepare(uidMap, gidMap, flags, f, options);
  opts.signal?.throwIfAborted();
  const cycle = new Cycle(spec, writerFor);
  let failed = false;
  let error: unknown;
  try {
    const signal = cycle.watch(opts);
    if (f) {
      const result = f(cycle.helper.pid, cycle);
      if (signal) await raceAbort(result, signal, cycle);
      else if (isThenable(result)) await result;
    }
    cycle.helper.checkAlive();
  } catch (e) {
    failed = true;
    error = e;
  }
  cycle.finish(failed, error);
}

/**
 * The same with a synchronous callback. A signal aborted before the call,
 * or during the callback, ends it with the abort reason; `timeout` is checked
 * when the callback returns.
 */
export function unshareAfterEnterUsernsSync(
  uidMap: IDMapInput,
  gidMap: IDMapInput,
  flags: number,
  f?: UnshareCallback | null,
  options?: UnshareOptions,
): void {
  const { spec, opts, writerFor } = prepare(uidMap, gidMap, flags, f, options);
  opts.signal?.throwIfAborted();
  const t0 = performance.now();
  const cycle = new Cycle(spec, writerFor);
  let failed = false;
  let error: unknown;
  try {
    if (f) {
      const result = f(cycle.helper.pid, cycle);
      if (isThenable(result)) {
        Promise.resolve(result).catch(() => {});
        throw new TypeError("the callback returned a promise; use unshareAfterEnterUserns for async callbacks");
      }
    }
    opts.signal?.throwIfAborted();
    if (opts.timeout !== undefined && performance.now() - t0 > opts.timeout) throw timeoutError();
    cycle.helper.checkAlive();
  } catch (e) {
    failed = true;
    error = e;
    // As in the async call: the signal says abort or timeout, nothing else.
    if (e === opts.signal?.reason || (e instanceof DOMException && e.name === "TimeoutError")) cycle.stop(e);
  }
  cycle.finish(failed, error);
}

function openUserns(pid: number): number {
  const r = processCodec.nsOpen(`/proc/${pid}/ns/user`, true);
  const fd = typeof r === "number" ? r : r.fd;
  if (fd < 0) {
    throw syscallError(
      "open",
      "openat",
      -fd,
      `failed to get userns file descriptor for /proc/${pid}/ns/user: ${errnoText(-fd)}`,
    );
  }
  return fd;
}

type FdOptions = Omit<UnshareOptions, "timeout"> & { timeout?: number };

/** The callback both getUsernsFd variants pass: it opens the helper's userns. */
function fdCollector() {
  let fd = -1;
  return {
    open(pid: number): void {
      fd = openUserns(pid);
    },
    /** After a failed call: the fd (if opened) is ours to close. */
    drop(): void {
      if (fd >= 0) processCodec.close(fd);
    },
    take(): UsernsFd {
      return new UsernsFd(fd);
    },
  };
}

/**
 * containerd's `GetUsernsFD`: a close-on-exec fd on a new user namespace with
 * these maps, valid after its helper is gone. The returned handle owns it.
 */
export async function getUsernsFd(uidMap: IDMapInput, gidMap: IDMapInput, options?: FdOptions): Promise<UsernsFd> {
  const c = fdCollector();
  try {
    await unshareAfterEnterUserns(uidMap, gidMap, 0, c.open, options);
  } catch (e) {
    c.drop();
    throw e;
  }
  return c.take();
}

/** `getUsernsFd` without a promise. */
export function getUsernsFdSync(uidMap: IDMapInput, gidMap: IDMapInput, options?: FdOptions): UsernsFd {
  const c = fdCollector();
  try {
    unshareAfterEnterUsernsSync(uidMap, gidMap, 0, c.open, options);
  } catch (e) {
    c.drop();
    throw e;
  }
  return c.take();
}
