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
import { type TimeOffsets, toTimespec } from "../ns/time-offsets.ts";
import { checkArgv, checkCwd, checkEnv } from "./argv.ts";
import { signalNumber } from "./command-handle.ts";
import type { ExecSpec } from "./exec-codec.ts";
import {
  checkNamespaceName,
  type ExecNamespace,
  type LinkCache,
  namespaceFlag,
  type ResolvedNamespaces,
  resolveNamespaces,
} from "./namespaces.ts";
import { checkPassFds } from "./pass-fds.ts";

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
  /**
   * Fds of ours (each > 2) the command also gets, at the same numbers (as
   * Python's pass_fds); every other fd past 2 is closed in it. Bun marks the
   * fds it inherits close-on-exec: this is how one of them reaches a command.
   */
  readonly passFds?: readonly number[];
  /** Default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** chdir once inside (default: none, so entering a mount namespace starts at its root). */
  readonly cwd?: string;
  /** Aborting kills the command (SIGKILL); `exited` then resolves with 137. */
  readonly signal?: AbortSignal;
  /** Make a new pid namespace (owned by the entered user namespace): the command is its pid 1. */
  readonly newPidNamespace?: boolean;
  /**
   * Mount a fresh /proc first (needs "mnt" entered or in `unshare`; shows the
   * new pid namespace with newPidNamespace); a string mounts it there instead
   * of /proc (util-linux --mount-proc=DIR; after `root`, inside it).
   */
  readonly mountProc?: boolean | string;
  /**
   * New namespaces the command's process makes itself once inside, as
   * util-linux unshare does without a user namespace: owned by the user
   * namespace it is then in (ours, when none is entered). Not "user" (a user
   * namespace needs maps: startHelper makes one); "pid" is newPidNamespace.
   */
  readonly unshare?: readonly ExecNamespace[];
  /** Clock offsets of the time namespace made by `unshare` (seconds; see setTimeOffsets). */
  readonly timeOffsets?: TimeOffsets;
  /** chroot here once inside (looked up there); the directory is then `cwd`, or the new root. */
  readonly root?: string;
  /** The command's parent-death signal: sent to it when the thread that started it ends (default SIGKILL). */
  readonly killSignal?: NodeJS.Signals | number;
  /**
   * Keep every permitted capability across exec as an ambient one
   * (util-linux --keep-caps): a command that runs as a non-root id of a user
   * namespace keeps the capabilities it holds there.
   */
  readonly keepCaps?: boolean;
  /**
   * Become this uid and gid (setgroups to none first) just before exec.
   * Entering a user namespace, the default is 0, its root, as nsenter does
   * ("keep": our own ids, which may be unmapped there); otherwise the
   * default is to keep ours, and a number is taken in our user namespace
   * (needs CAP_SETUID/CAP_SETGID, as util-linux -S/-G).
   */
  readonly uid?: number | "keep";
  readonly gid?: number | "keep";
  /**
   * Clone once more inside. Default: only when entering or making a pid
   * namespace, so that the command is in it (pid 1 of a new one). false: never,
   * so only the command's children are (util-linux unshare -p without --fork).
   */
  readonly fork?: boolean;
  /**
   * Mount propagation of / in the command's mount namespace, set before
   * anything is mounted: "private", "slave", "shared", or "unchanged". Default:
   * "private" for a mount namespace made by `unshare` (as util-linux), and
   * "unchanged" for an entered one (a helper's is already what startHelper's
   * `propagation` made it: private unless asked otherwise).
   */
  readonly propagation?: "private" | "slave" | "shared" | "unchanged";
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
  "passFds",
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
  "unshare",
  "timeOffsets",
  "root",
  "killSignal",
  "keepCaps",
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
  /** Sorted, no repeats, each > 2. */
  passFds: number[];
  signal: AbortSignal | undefined;
  newPid: boolean;
  mountProc: boolean;
  /** Where mountProc mounts, if not /proc. */
  procDir: string | null;
  ns: ResolvedNamespaces;
  /** undefined: leave / as it is. */
  propagation: "private" | "slave" | "shared" | undefined;
  /** Undefined: the default (only for a pid namespace). */
  fork: boolean | undefined;
  /** CLONE_NEW* flags of the namespaces the command's process makes. */
  unshare: number;
  timeOffsets: ExecSpec["timeOffsets"];
  root: string | null;
  killSignal: number;
  keepCaps: boolean;
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
  const passFds = checkPassFds(o.passFds, (m) => badValue(m));
  const signal = o.signal;
  if (signal !== undefined) validateAbortSignal(signal, "signal");
  const flag = (v: unknown, name: string): boolean => {
    if (v !== undefined) validateBoolean(v, name);
    return v === true;
  };
  let newPid = flag(o.newPidNamespace, "newPidNamespace");
  let procDir: string | null = null;
  if (typeof o.mountProc === "string") procDir = checkCwd(o.mountProc, "mountProc");
  const mountProc = procDir !== null || flag(o.mountProc, "mountProc");
  const own = new Set<ExecNamespace>();
  if (o.unshare !== undefined) {
    validateArray(o.unshare, "unshare");
    for (const n of [...o.unshare]) {
      const name = checkNamespaceName(n, "unshare");
      if (name === "user")
        throw invalid(
          "options",
          "unshare cannot make a user namespace (it needs maps): start a helper with startHelper",
        );
      if (name === "pid") newPid = true;
      else own.add(name);
    }
  }
  let timeOffsets: ExecSpec["timeOffsets"] = null;
  if (o.timeOffsets !== undefined) {
    validateObject(o.timeOffsets, "timeOffsets");
    const t = copyOptions(o.timeOffsets, ["monotonic", "boottime"] as const, (m) => new TypeError(m));
    if (!own.has("time")) throw invalid("options", 'timeOffsets offset a new time namespace: add "time" to unshare');
    timeOffsets = {
      monotonic: t.monotonic === undefined ? [0n, 0] : toTimespec("monotonic", t.monotonic),
      boottime: t.boottime === undefined ? [0n, 0] : toTimespec("boottime", t.boottime),
    };
  }
  const root = o.root === undefined ? null : checkCwd(o.root, "root");
  const killSignal = o.killSignal === undefined ? 0 : signalNumber(o.killSignal, "killSignal");
  if (killSignal === 0 && o.killSignal !== undefined) throw badValue("killSignal must be a signal, not 0");
  const keepCaps = flag(o.keepCaps, "keepCaps");
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
  const prop = validateOneOf(o.propagation ?? (own.has("mnt") ? "private" : "unchanged"), "propagation", [
    "private",
    "slave",
    "shared",
    "unchanged",
  ] as const);
  if (o.fork !== undefined) validateBoolean(o.fork, "fork");
  const fork = o.fork as boolean | undefined;
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
    if (id === undefined) return ns.entered.has("user") ? 0 : -1;
    if (typeof id === "number") return validateInteger(id, name, 0, 2 ** 31 - 2);
    if (typeof id !== "string") throw typeError(name, 'an id or "keep"', id);
    if (id !== "keep") throw badValue(`${name} must be an id or "keep", got ${JSON.stringify(id)}`);
    return -1;
  }) as [number, number];
  // Without a mount namespace of its own, / is ours: "private" there means as it is (the helper's).
  const inMnt = ns.entered.has("mnt") || own.has("mnt");
  if (mountProc && !inMnt)
    throw invalid(
      "options",
      'mountProc needs "mnt" among the namespaces or in unshare: /proc would be mounted in our own mount namespace',
    );
  if ((prop === "slave" || prop === "shared") && !inMnt)
    throw invalid("options", 'propagation needs "mnt" among the namespaces or in unshare: / is our own');
  return {
    helper: isHelper(helperOrPid) ? helperOrPid : undefined,
    pid,
    helperPidfd,
    args,
    env,
    cwd,
    stdio,
    passFds,
    signal,
    newPid,
    mountProc,
    procDir,
    ns,
    propagation: prop === "unchanged" || !inMnt ? undefined : prop,
    fork,
    unshare: [...own].reduce((f, n) => f | namespaceFlag(n), 0) >>> 0,
    timeOffsets,
    root,
    killSignal,
    keepCaps,
    newSession,
    ctty,
    ids,
  };
}
