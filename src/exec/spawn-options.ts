/**
 * spawnInside's input, copied once (copyOptions) and validated into a plain
 * request: nothing is opened or started here, so bad input leaves nothing.
 */

import { invalid } from "../core/errors.ts";
import type { Helper } from "../core/helper.ts";
import { isHelper } from "../core/helper.ts";
import { copyOptions } from "../core/options.ts";
import {
  badValue,
  typeError,
  validateAbortSignal,
  validateArray,
  validateBoolean,
  validateInteger,
  validateObject,
  validateOneOf,
} from "../core/validate.ts";
import { checkArgv, checkCwd, checkEnv } from "./argv.ts";
import { type ExecNamespace, type LinkCache, type ResolvedNamespaces, resolveNamespaces } from "./namespaces.ts";

/** Each live helper's namespace links, read once (a parked helper cannot change them). */
const links = new WeakMap<Helper, LinkCache>();
export function helperLinks(h: Helper): LinkCache {
  let m = links.get(h);
  if (m === undefined) {
    m = new Map();
    links.set(h, m);
  }
  return m;
}

/** One stdio slot: keep ours, a pipe Bun reads/writes, /dev/null, or an fd of ours. */
export type StdioSpec = "inherit" | "pipe" | "ignore" | number;

export interface SpawnInsideOptions {
  /** Namespaces to enter; default: user, mnt, net, ipc, uts, cgroup where they differ from ours. */
  readonly namespaces?: readonly ExecNamespace[];
  /** Namespaces to enter from files (e.g. a bind-mounted /run/netns/x) instead of from the pid. */
  readonly namespaceFiles?: Partial<Record<ExecNamespace, string>>;
  readonly stdio?: readonly [StdioSpec?, StdioSpec?, StdioSpec?];
  /** Default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** chdir once inside (default: none, so entering a mount namespace starts at its root). */
  readonly cwd?: string;
  /** Aborting kills the command (SIGKILL); `exited` then resolves with 137. */
  readonly signal?: AbortSignal;
  /** Make a new pid namespace (owned by the entered user namespace): the command is its pid 1. */
  readonly newPidNamespace?: boolean;
  /** Mount a fresh /proc first (needs "mnt" entered; shows the new pid namespace with newPidNamespace). */
  readonly mountProc?: boolean;
  /**
   * Entering a user namespace: become this uid and gid there (default 0, its
   * root, as nsenter does; "keep": our own ids, which may be unmapped there).
   */
  readonly uid?: number | "keep";
  readonly gid?: number | "keep";
  /** Clone once more inside (implied by entering or making a pid namespace). */
  readonly fork?: boolean;
  /** Mount propagation of / inside a new mount namespace: "private" (the helper's, default), "slave", "shared". */
  readonly propagation?: "private" | "slave" | "shared";
  /**
   * setsid() before exec: the command leads a new session with no
   * controlling terminal, so it cannot push input into ours (TIOCSTI) nor
   * reopen it through /dev/tty. Default: true when the command will run as
   * a host uid other than ours (worked out from the entered user
   * namespace's uid_map and the uid taken there; unknown, e.g. a user
   * namespace from a file, counts as other) and a terminal is within its
   * reach (one of its fds 0-2 is a terminal, or we have a controlling
   * terminal); false otherwise, so a command of our own uid stays in our
   * session and job control.
   */
  readonly newSession?: boolean;
  /**
   * Give the command its own terminal: the terminal on this stdio slot (0-2;
   * a pty slave the caller relays, as `bun-userns exec` does) becomes its
   * controlling terminal, in a new session (implies newSession).
   */
  readonly controllingTerminal?: 0 | 1 | 2;
}

const SPAWN_KEYS = [
  "namespaces",
  "namespaceFiles",
  "stdio",
  "env",
  "cwd",
  "signal",
  "newPidNamespace",
  "mountProc",
  "uid",
  "gid",
  "fork",
  "propagation",
  "newSession",
  "controllingTerminal",
] as const;

export function checkStdio(stdio: unknown): [StdioSpec, StdioSpec, StdioSpec] {
  if (stdio === undefined) return ["inherit", "inherit", "inherit"];
  validateArray(stdio, "stdio");
  if (stdio.length > 3) throw badValue(`stdio must have up to 3 entries, got ${stdio.length}`);
  const out: StdioSpec[] = [];
  for (let i = 0; i < 3; i++) {
    const s: unknown = stdio[i] ?? "inherit";
    const what = `stdio[${i}]`;
    if (typeof s === "number") out.push(validateInteger(s, what, 0, 2 ** 31 - 1));
    else out.push(validateOneOf(s, what, ["inherit", "pipe", "ignore"] as const));
  }
  return out as [StdioSpec, StdioSpec, StdioSpec];
}

/** What spawnInside was asked, validated: plain data. */
export interface SpawnRequest {
  /** The helper whose namespaces are entered, if a Helper was given. */
  helper: Helper | undefined;
  pid: number;
  /** The helper's pidfd, or -1 for a pid (one is opened by the plan). */
  helperPidfd: number;
  args: string[];
  env: string[];
  cwd: string | null;
  stdio: [StdioSpec, StdioSpec, StdioSpec];
  signal: AbortSignal | undefined;
  newPid: boolean;
  mountProc: boolean;
  ns: ResolvedNamespaces;
  propagation: "private" | "slave" | "shared";
  fork: boolean;
  newSession: boolean | undefined;
  ctty: 0 | 1 | 2 | undefined;
  /** uid and gid to take inside, -1 for "keep". */
  ids: [number, number];
}

/** Validate spawnInside's arguments (in the order its errors are documented) into a SpawnRequest. */
export function checkSpawnInside(helperOrPid: unknown, argv: unknown, options: unknown): SpawnRequest {
  // Copy hostile input once: what is validated is what is used.
  validateObject(options, "options");
  const o = copyOptions(options, SPAWN_KEYS, (m) => new TypeError(m), "ignore");
  const args = checkArgv(argv);
  const env = checkEnv(o.env === undefined ? process.env : o.env);
  const cwd = o.cwd === undefined ? null : checkCwd(o.cwd);
  const stdio = checkStdio(o.stdio);
  const signal = o.signal;
  if (signal !== undefined) validateAbortSignal(signal, "signal");
  const flag = (v: unknown, name: string): boolean => {
    if (v !== undefined) validateBoolean(v, name);
    return v === true;
  };
  const newPid = flag(o.newPidNamespace, "newPidNamespace");
  const mountProc = flag(o.mountProc, "mountProc");
  let pid: number;
  let helperPidfd = -1;
  if (isHelper(helperOrPid)) {
    helperOrPid.checkAlive();
    pid = helperOrPid.pid;
    helperPidfd = helperOrPid.pidfd;
  } else if (typeof helperOrPid === "number") {
    pid = validateInteger(helperOrPid, "the pid spawnInside takes", 1, 2 ** 31 - 1);
  } else {
    throw typeError("spawnInside's first argument", "a Helper or a pid", helperOrPid);
  }
  const ns = resolveNamespaces(
    pid,
    o.namespaces,
    o.namespaceFiles,
    isHelper(helperOrPid) ? helperLinks(helperOrPid) : undefined,
  );
  const prop = validateOneOf(o.propagation ?? "private", "propagation", ["private", "slave", "shared"] as const);
  const fork = flag(o.fork, "fork");
  const newSession = o.newSession;
  if (newSession !== undefined) validateBoolean(newSession, "newSession");
  const ctty =
    o.controllingTerminal === undefined
      ? undefined
      : validateOneOf(o.controllingTerminal, "controllingTerminal", [0, 1, 2] as const);
  if (ctty !== undefined && newSession === false)
    throw invalid("options", "controllingTerminal needs a new session: it cannot be combined with newSession: false");
  if (ctty !== undefined && (stdio[ctty] === "pipe" || stdio[ctty] === "ignore"))
    throw invalid("options", `controllingTerminal ${ctty}: stdio[${ctty}] must be a terminal fd, not "${stdio[ctty]}"`);
  const ids = [o.uid, o.gid].map((id, i) => {
    const name = i ? "gid" : "uid";
    if (id === undefined) return 0;
    if (typeof id === "number") return validateInteger(id, name, 0, 2 ** 31 - 2);
    if (typeof id !== "string") throw typeError(name, 'an id or "keep"', id);
    if (id !== "keep") throw badValue(`${name} must be an id or "keep", got ${JSON.stringify(id)}`);
    return -1;
  }) as [number, number];
  if (mountProc && !ns.entered.has("mnt"))
    throw invalid(
      "options",
      'mountProc needs "mnt" among the namespaces: /proc would be mounted in our own mount namespace',
    );
  return {
    helper: isHelper(helperOrPid) ? helperOrPid : undefined,
    pid,
    helperPidfd,
    args,
    env,
    cwd,
    stdio,
    signal,
    newPid,
    mountProc,
    ns,
    propagation: prop,
    fork,
    newSession,
    ctty,
    ids,
  };
}
