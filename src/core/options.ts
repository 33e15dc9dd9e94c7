/**
 * Options shared by the public calls, validated before anything is created
 * by the one rule of validate.ts (wrong type: TypeError; wrong value: EINVAL).
 */
import { invalid } from "./errors.ts";
import { describe } from "./idmap.ts";
import { validateAbortSignal, validateNumber, validateString } from "./validate.ts";

export interface UnshareOptions {
  /**
   * What the helper's `/proc/PID/setgroups` says. Default: `"allow"` when the
   * caller holds CAP_SETGID (containerd 2.x), else `"deny"` (the kernel
   * refuses an unprivileged gid_map otherwise).
   */
  setgroups?: "allow" | "deny";
  /**
   * Who owns the new user namespace. `"mapping"` (default when the caller
   * holds CAP_SETUID): the first uid mapping's host uid, so kernel ucounts
   * are charged to the container's uid (containerd 2.3). `"caller"`: the
   * caller's euid.
   */
  owner?: "mapping" | "caller";
  /**
   * Who writes uid_map/gid_map. `"direct"`: this process. `"newuidmap"`:
   * shadow's setuid newuidmap/newgidmap (ranges from /etc/subuid and
   * /etc/subgid, without root). `"auto"` (default): direct when the caller
   * holds CAP_SETUID and CAP_SETGID or maps only its own uid and gid, the
   * helpers otherwise.
   */
  mapper?: "auto" | "direct" | "newuidmap";
  /**
   * Mount propagation of `/` in a new mount namespace (CLONE_NEWNS), set by
   * the helper right after its unshare, as util-linux `unshare --propagation`.
   * `"private"` (default): nothing mounted inside leaks out, nothing from
   * outside comes in. `"slave"`: mounts made outside still arrive. `"shared"`:
   * both ways, among mounts the new namespace may reach. `"unchanged"`: as
   * the kernel copied it (crossing into a new user namespace, shared mounts
   * arrive as slaves).
   */
  propagation?: "private" | "slave" | "shared" | "unchanged";
  /** Aborting kills and reaps the helper and rejects with the reason. */
  signal?: AbortSignal;
  /** Milliseconds the callback may take; then it is aborted with a TimeoutError. */
  timeout?: number;
}

/**
 * An option bag copied once into plain data: its own enumerable string keys
 * (Object.keys: a Proxy's ownKeys trap once, getOwnPropertyDescriptor once a
 * key), then each known key's value read exactly once (a getter runs once, a
 * Proxy's get trap once). Inherited properties are not options. Unknown keys
 * are refused, or skipped unread. What comes back is validated and used; the
 * caller's object is never read again.
 */
export function copyOptions<K extends string>(
  options: unknown,
  known: readonly K[],
  fail: (message: string) => Error,
  unknown: "refuse" | "ignore" = "refuse",
): Partial<Record<K, unknown>> {
  const out: Partial<Record<K, unknown>> = Object.create(null);
  if (options === undefined || options === null) return out;
  if (typeof options !== "object" || Array.isArray(options))
    throw fail(`options must be an object, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (!(known as readonly string[]).includes(key)) {
      if (unknown === "ignore") continue;
      throw fail(`unknown option ${JSON.stringify(key)}; known: ${known.join(", ")}`);
    }
    out[key as K] = (options as Record<string, unknown>)[key];
  }
  return out;
}

const KEYS = ["setgroups", "owner", "mapper", "propagation", "signal", "timeout"] as const;

export function checkOptions(options: unknown): UnshareOptions {
  const o = copyOptions(options, KEYS, (m) => new TypeError(m));
  const out: UnshareOptions = {};
  if (o.setgroups !== undefined) {
    validateString(o.setgroups, "options.setgroups");
    if (o.setgroups !== "allow" && o.setgroups !== "deny") {
      throw invalid("options", `invalid setgroups ${JSON.stringify(o.setgroups)}: must be "allow" or "deny"`);
    }
    out.setgroups = o.setgroups;
  }
  if (o.owner !== undefined) {
    validateString(o.owner, "options.owner");
    if (o.owner !== "mapping" && o.owner !== "caller") {
      throw invalid("options", `invalid owner ${JSON.stringify(o.owner)}: must be "mapping" or "caller"`);
    }
    out.owner = o.owner;
  }
  if (o.mapper !== undefined) {
    validateString(o.mapper, "options.mapper");
    if (o.mapper !== "auto" && o.mapper !== "direct" && o.mapper !== "newuidmap") {
      throw invalid("options", `invalid mapper ${JSON.stringify(o.mapper)}: must be "auto", "direct" or "newuidmap"`);
    }
    out.mapper = o.mapper;
  }
  if (o.propagation !== undefined) {
    validateString(o.propagation, "options.propagation");
    const p = o.propagation;
    if (p !== "private" && p !== "slave" && p !== "shared" && p !== "unchanged") {
      throw invalid(
        "options",
        `invalid propagation ${JSON.stringify(p)}: must be "private", "slave", "shared" or "unchanged"`,
      );
    }
    out.propagation = p;
  }
  if (o.signal !== undefined) {
    validateAbortSignal(o.signal, "options.signal");
    out.signal = o.signal;
  }
  if (o.timeout !== undefined) {
    validateNumber(o.timeout, "options.timeout");
    if (!Number.isFinite(o.timeout) || o.timeout < 0) {
      throw invalid("options", `invalid timeout ${o.timeout}: must be a finite number of milliseconds, 0 or more`);
    }
    out.timeout = o.timeout;
  }
  return out;
}
