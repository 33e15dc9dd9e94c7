/**
 * The public calls: validate everything, start the parked helper, run the
 * callback with its pid, check it is still alive, then always kill and reap.
 */
import { errnoText, syscallError, UsernsError } from "./errors.ts";
import { checkFlags, unsupportedFlags } from "./flags.ts";
import { Helper } from "./helper.ts";
import { describe, type IDMapInput, parseIDMapping } from "./idmap.ts";
import * as native from "./native.ts";
import { checkOptions, type UnshareOptions } from "./options.ts";
import { supportsPidFD } from "./pidfd.ts";
import { UsernsFd } from "./usernsfd.ts";

export type UnshareCallback = (pid: number) => unknown;

function prepare(uidMap: IDMapInput, gidMap: IDMapInput, flags: unknown, f: unknown, options: unknown) {
  const unshareFlags = checkFlags(flags);
  if (f !== undefined && f !== null && typeof f !== "function") {
    throw new TypeError(`callback must be a function, got ${describe(f)}`);
  }
  const opts = checkOptions(options);
  if (!supportsPidFD()) {
    throw new UsernsError("kernel doesn't support pidfd", { code: "ENOSYS", errno: 38, step: "pidfd" });
  }
  const uid = parseIDMapping(uidMap, "uid");
  const gid = parseIDMapping(gidMap, "gid");
  const bad = unsupportedFlags(unshareFlags);
  if (bad) throw bad;
  return { spec: { uid, gid, flags: unshareFlags, setgroups: opts.setgroups, owner: opts.owner }, opts };
}

/** Start a helper and hand it over: the caller disposes it (`using`). */
export function startHelper(
  uidMap: IDMapInput,
  gidMap: IDMapInput,
  flags: number,
  options?: Pick<UnshareOptions, "setgroups" | "owner">,
): Helper {
  const { spec, opts } = prepare(uidMap, gidMap, flags, undefined, options);
  if (opts.signal || opts.timeout !== undefined) throw new TypeError("startHelper takes no signal or timeout");
  return Helper.spawn(spec);
}

function timeoutError(): DOMException {
  return new DOMException("The operation timed out.", "TimeoutError");
}

/** Settle with p, or reject with the abort reason as soon as signal fires. */
function raceAbort(p: unknown, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      // Aborted during the callback's synchronous part: the event has fired.
      Promise.resolve(p).catch(() => {});
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
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

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === "object" || typeof v === "function") &&
    v !== null &&
    typeof (v as PromiseLike<unknown>).then === "function"
  );
}

/** Release, letting a kill error replace the outcome as the seed does. */
function finish(helper: Helper, failed: boolean, error: unknown): void {
  const killError = helper.release();
  if (killError) throw killError;
  if (failed) throw error;
}

/**
 * containerd's `UnshareAfterEnterUserns` for Bun. The callback (sync or
 * async) gets the helper's pid; its error is rethrown unchanged after the
 * helper is killed and reaped.
 */
export async function unshareAfterEnterUserns(
  uidMap: IDMapInput,
  gidMap: IDMapInput,
  flags: number,
  f?: UnshareCallback | null,
  options?: UnshareOptions,
): Promise<void> {
  const { spec, opts } = prepare(uidMap, gidMap, flags, f, options);
  opts.signal?.throwIfAborted();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let signal = opts.signal;
  if (opts.timeout !== undefined) {
    const c = new AbortController();
    timer = setTimeout(() => c.abort(timeoutError()), opts.timeout);
    signal = signal ? AbortSignal.any([signal, c.signal]) : c.signal;
  }
  const helper = Helper.spawn(spec);
  let failed = false;
  let error: unknown;
  try {
    if (f) {
      const result = f(helper.pid);
      if (signal) await raceAbort(result, signal);
      else if (isThenable(result)) await result;
    }
    helper.checkAlive();
  } catch (e) {
    failed = true;
    error = e;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
  finish(helper, failed, error);
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
  const { spec, opts } = prepare(uidMap, gidMap, flags, f, options);
  opts.signal?.throwIfAborted();
  const t0 = performance.now();
  const helper = Helper.spawn(spec);
  let failed = false;
  let error: unknown;
  try {
    if (f) {
      const result = f(helper.pid);
      if (isThenable(result)) {
        Promise.resolve(result).catch(() => {});
        throw new TypeError("the callback returned a promise; use unshareAfterEnterUserns for async callbacks");
      }
    }
    opts.signal?.throwIfAborted();
    if (opts.timeout !== undefined && performance.now() - t0 > opts.timeout) throw timeoutError();
    helper.checkAlive();
  } catch (e) {
    failed = true;
    error = e;
  }
  finish(helper, failed, error);
}

function openUserns(pid: number): number {
  const fd = native.openNs(pid, "user");
  if (fd < 0) {
    throw syscallError(
      "open",
      "open",
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
      if (fd >= 0) native.close(fd);
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
