/** Options shared by the public calls, validated before anything is created. */
import { invalid } from "./errors.ts";
import { describe } from "./idmap.ts";

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
  /** Aborting kills and reaps the helper and rejects with the reason. */
  signal?: AbortSignal;
  /** Milliseconds the callback may take; then it is aborted with a TimeoutError. */
  timeout?: number;
}

const KEYS = new Set(["setgroups", "owner", "mapper", "signal", "timeout"]);

export function checkOptions(options: unknown): UnshareOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw new TypeError(`unknown option ${JSON.stringify(key)}; known: ${[...KEYS].join(", ")}`);
  }
  const o = options as Record<string, unknown>;
  const out: UnshareOptions = {};
  if (o.setgroups !== undefined) {
    if (typeof o.setgroups !== "string")
      throw new TypeError(`options.setgroups must be a string, got ${describe(o.setgroups)}`);
    if (o.setgroups !== "allow" && o.setgroups !== "deny") {
      throw invalid("options", `invalid setgroups ${JSON.stringify(o.setgroups)}: must be "allow" or "deny"`);
    }
    out.setgroups = o.setgroups;
  }
  if (o.owner !== undefined) {
    if (typeof o.owner !== "string") throw new TypeError(`options.owner must be a string, got ${describe(o.owner)}`);
    if (o.owner !== "mapping" && o.owner !== "caller") {
      throw invalid("options", `invalid owner ${JSON.stringify(o.owner)}: must be "mapping" or "caller"`);
    }
    out.owner = o.owner;
  }
  if (o.mapper !== undefined) {
    if (typeof o.mapper !== "string") throw new TypeError(`options.mapper must be a string, got ${describe(o.mapper)}`);
    if (o.mapper !== "auto" && o.mapper !== "direct" && o.mapper !== "newuidmap") {
      throw invalid("options", `invalid mapper ${JSON.stringify(o.mapper)}: must be "auto", "direct" or "newuidmap"`);
    }
    out.mapper = o.mapper;
  }
  if (o.signal !== undefined) {
    if (!(o.signal instanceof AbortSignal))
      throw new TypeError(`options.signal must be an AbortSignal, got ${describe(o.signal)}`);
    out.signal = o.signal;
  }
  if (o.timeout !== undefined) {
    if (typeof o.timeout !== "number")
      throw new TypeError(`options.timeout must be a number, got ${describe(o.timeout)}`);
    if (!Number.isFinite(o.timeout) || o.timeout < 0) {
      throw invalid("options", `invalid timeout ${o.timeout}: must be a finite number of milliseconds, 0 or more`);
    }
    out.timeout = o.timeout;
  }
  return out;
}
