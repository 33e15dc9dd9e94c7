/**
 * SpawnInside — enter a helper's (or any pid's) namespaces and exec
 * argv there (native/exec.c). The JS thread sleeps only until the child has
 * let go of Bun's memory at its execve; while the command runs, one shared
 * poller reaps it without blocking: woken by the exit watcher
 * (exit-watcher.ts) the moment a command exits, and otherwise by a timer
 * (waitid WNOHANG; 1 ms for the first 10 ms after a start or an exit, backing
 * off to 20 ms; with the watcher only a 50 ms safety net). Every command is
 * reaped on every path: the poller, not the handle, owns its pidfd, so a
 * dropped handle cannot leave a zombie.
 */
import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { isatty } from "node:tty";
import { CAP_SYS_PTRACE, effectiveCaps, hasCapability } from "../core/caps.ts";
import { errnoName, errnoText, invalid, UsernsError } from "../core/errors.ts";
import { type Helper, isHelper, liveHelperCount } from "../core/helper.ts";
import { nprocShortfall } from "../core/nproc.ts";
import { copyOptions } from "../core/options.ts";
import { sweepIfDue } from "../core/orphans.ts";
import { assertOwnProc } from "../core/own-proc.ts";
import * as processCodec from "../core/process-codec.ts";
import * as registryCodec from "../core/registry-codec.ts";
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
import { NAMESPACE_KINDS } from "../ns/kinds.ts";
import { openChecked, openFromProcess, openPidfd } from "../ns/namespace-fd.ts";
import { checkArgv, checkCwd, checkEnv } from "./argv.ts";
import * as execCodec from "./exec-codec.ts";
import { exitWatcherReady, watchExit } from "./exit-watcher.ts";
import { mapUid, ownUid, readUidMap } from "./host-uid.ts";
import { type ExecNamespace, type LinkCache, namespaceFlag, resolveNamespaces } from "./namespaces.ts";

export type { ExecNamespace };

/** Each live helper's namespace links, read once (a parked helper cannot change them). */
const links = new WeakMap<Helper, LinkCache>();
function helperLinks(h: Helper): LinkCache {
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

export interface InsideProcess {
  /** The command's pid, in our pid namespace. */
  readonly pid: number;
  /** Exit code, or 128+N when signal N killed it (as a shell reports it). */
  readonly exited: Promise<number>;
  readonly stdin: WritableStream<Uint8Array> | undefined;
  readonly stdout: ReadableStream<Uint8Array> | undefined;
  readonly stderr: ReadableStream<Uint8Array> | undefined;
  /** Send a signal (default SIGTERM) until it has been reaped; false after that. */
  kill(signal?: NodeJS.Signals | number): boolean;
}

interface Running {
  /** The command's pidfd (it stays open until the reap). */
  pidfd: number;
  /** Its record in this thread's registry: every signal and wait goes through it (native/registry.c). */
  rec: number;
  resolve: (status: number) => void;
  reject: (e: unknown) => void;
  onDone?: () => void;
  /** Its pidfd is in the exit watcher's epoll set, which reports its exit. */
  watched: boolean;
}

/* ---- the poller: one timer for every running command of this thread ---- */
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
  if (rc >= 0) r.resolve(rc);
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
  for (const r of running) {
    const rc = registryCodec.recPoll(r.rec);
    if (rc === -11) continue;
    settle(r, rc);
    done++;
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

function watch(r: Running): void {
  running.add(r);
  r.watched = watchExit(r.pidfd, tick);
  if (!r.watched) unwatched++;
  delay = 1;
  eagerUntil = performance.now() + EAGER_MS;
  arm();
}

/** Commands this thread is still waiting for (tests prove nothing is left). */
export function runningCommands(): number {
  return running.size;
}

/* ---- stdio plumbing ---- */
/**
 * Our end of a pipe, closed once: by the stream's end, cancel or close, or,
 * when the caller drops a stream it never finished, by the leak net.
 */
interface End {
  fd: number;
  /** Its record in this thread's registry. */
  rec: number;
  open: boolean;
}
const dropped = new FinalizationRegistry<End>((end) => closeEnd(end));
function closeEnd(end: End): void {
  if (end.open) registryCodec.recClose(end.rec);
  end.open = false;
}

function readable(fd: number, rec: number): ReadableStream<Uint8Array> {
  const reader = Bun.file(fd).stream().getReader();
  const end: End = { fd, rec, open: true };
  const done = () => closeEnd(end);
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      const { value, done: end } = await reader.read();
      if (end) {
        done();
        c.close();
      } else c.enqueue(value);
    },
    async cancel() {
      await reader.cancel().catch(() => {});
      done();
    },
  });
  dropped.register(stream, end);
  return stream;
}

function writable(fd: number, rec: number): WritableStream<Uint8Array> {
  const sink = Bun.file(fd).writer();
  const end: End = { fd, rec, open: true };
  const done = () => closeEnd(end);
  const stream = new WritableStream<Uint8Array>({
    async write(chunk) {
      sink.write(chunk);
      await sink.flush();
    },
    async close() {
      await sink.flush();
      done();
    },
    abort() {
      done();
    },
  });
  dropped.register(stream, end);
  return stream;
}

const SIGNALS = constants.signals as Record<string, number>;

function signalNumber(sig: unknown): number {
  if (typeof sig !== "number" && typeof sig !== "string")
    throw typeError("signal", 'a name like "SIGTERM" or a number', sig);
  if (typeof sig === "number" && Number.isInteger(sig) && sig >= 0 && sig <= 64) return sig;
  if (typeof sig === "string" && SIGNALS[sig] !== undefined) return SIGNALS[sig] as number;
  throw badValue(`unknown signal ${JSON.stringify(sig)}: expected a name like "SIGTERM" or a number 0-64`);
}

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

/**
 * Enter the namespaces of a helper (or of any pid) and exec argv there.
 * Throws UsernsError (nothing left behind) when the namespaces cannot be
 * entered or the command cannot be executed (code ENOENT: not found;
 * EACCES: not executable).
 */
export function spawnInside(
  helperOrPid: Helper | number,
  argv: readonly string[],
  options: SpawnInsideOptions = {},
): InsideProcess {
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
  signal?.throwIfAborted();
  // Each command is a process of ours until it enters: refused as helpers are under a small RLIMIT_NPROC.
  sweepIfDue();
  const crowded = nprocShortfall(effectiveCaps(), liveHelperCount() + running.size, "spawnInside");
  if (crowded) throw crowded;
  registryCodec.ensureRegistry();

  assertOwnProc();
  // Everything below is undone on failure. ours/theirs: pipe ends, by record.
  const opened: number[] = [];
  const ours: number[] = [];
  const theirs: number[] = [];
  const fail = (e: unknown): never => {
    for (const fd of opened) processCodec.close(fd);
    for (const rec of [...ours, ...theirs]) registryCodec.recClose(rec);
    throw e;
  };
  let pidfd = helperPidfd;
  const fds: [number, number][] = [];
  // Whoever holds CAP_SYS_PTRACE in the entered namespaces reaches the
  // entering child until its exec (native/exec.c). With that capability
  // ourselves, the child enters from Bun's mm, sealed for good; without it,
  // a seal would cost us our own helpers' /proc/PID files, so a sealed fork
  // of the child enters instead, and Bun's mm stays as it is. The
  // namespaces of a pid are then /proc/PID/ns fds, opened now (ptrace read
  // access, which setns(pidfd) would ask of that fork as well).
  const privileged = hasCapability(CAP_SYS_PTRACE);
  const viaFds = !privileged && ns.fromPid !== 0;
  try {
    if (pidfd < 0 && (ns.fromPid !== 0 || ns.timeFromPid)) {
      const fd = openPidfd(pid, "pidfd");
      opened.push(fd);
      pidfd = fd;
    }
    const held = { pid, pidfd, done: () => {} };
    const fromProc: ExecNamespace[] = viaFds
      ? NAMESPACE_KINDS.filter((k) => (ns.fromPid & namespaceFlag(k)) !== 0)
      : [];
    // time: from /proc always (time_for_children, see namespaces.ts).
    if (ns.timeFromPid) fromProc.push("time");
    for (const kind of fromProc) {
      // From /proc, then proved to be that process still (its pidfd).
      const fd = openFromProcess(held, kind, kind === "time" ? "time_for_children" : kind).take();
      opened.push(fd);
      fds.push([fd, namespaceFlag(kind)]);
    }
    for (const [name, path] of ns.files) {
      // Checked: a namespace of that kind, opened O_PATH first (a FIFO cannot block us).
      const fd = openChecked(path, name).take();
      opened.push(fd);
      fds.push([fd, namespaceFlag(name)]);
    }
  } catch (e) {
    fail(e);
  }
  const childStdio: [number, number, number] = [-1, -1, -1];
  const parentEnds: ({ fd: number; rec: number } | undefined)[] = [undefined, undefined, undefined];
  for (let i = 0; i < 3; i++) {
    const s = stdio[i];
    if (s === "ignore") childStdio[i] = -2;
    else if (typeof s === "number") childStdio[i] = s;
    else if (s === "pipe") {
      const p = processCodec.pipe();
      if (typeof p === "number")
        fail(
          new UsernsError(`pipe2: ${errnoText(-p)}`, {
            code: errnoName(-p),
            errno: -p,
            syscall: "pipe2",
            step: "pipe",
          }),
        );
      const { fds, recs } = p as Exclude<typeof p, number>;
      // stdin: we write, the command reads; stdout and stderr the other way round.
      const [parent, child] = i === 0 ? ([1, 0] as const) : ([0, 1] as const);
      ours.push(recs[parent]);
      theirs.push(recs[child]);
      parentEnds[i] = { fd: fds[parent], rec: recs[parent] };
      childStdio[i] = fds[child];
    }
  }
  // Which of its fds 0-2 the command gets, and whether it leaves our session.
  const fdOf = (i: number): number => (childStdio[i] === -1 ? i : (childStdio[i] as number));
  if (ctty !== undefined && !isatty(fdOf(ctty)))
    fail(invalid("options", `controllingTerminal ${ctty}: fd ${fdOf(ctty)} is not a terminal`));
  const session =
    ctty !== undefined ||
    (newSession ??
      (commandHostUid(ns, ids[0], pid, pidfd, isHelper(helperOrPid) ? helperOrPid : undefined) !== ownUid() &&
        terminalInReach([0, 1, 2].filter((i) => childStdio[i] !== -2).map(fdOf))));
  const r = execCodec.execInside({
    pidfd,
    nsFlags: viaFds ? 0 : ns.fromPid,
    ownMm: !privileged,
    fds,
    fork: fork || ns.entered.has("pid") || newPid,
    propagation: prop === "private" ? undefined : prop,
    uid: ns.entered.has("user") ? ids[0] : -1,
    gid: ns.entered.has("user") ? ids[1] : -1,
    newPid,
    mountProc,
    newSession: session,
    ctty: ctty ?? -1,
    stdio: childStdio,
    argv: args,
    env,
    path: envPath(env),
    cwd,
  });
  for (const fd of opened) processCodec.close(fd);
  for (const rec of theirs) registryCodec.recClose(rec);
  if (!r.ok) {
    for (const rec of ours) registryCodec.recClose(rec);
    // The step is the command's (XSTEPS); the syscall is the one that fails there.
    throw new UsernsError(`spawnInside: ${r.step}: ${errnoText(r.errno)}`, {
      code: errnoName(r.errno),
      errno: r.errno,
      syscall: execCodec.execStepSyscall(r.step),
      step: r.step,
      hint: enterHint(r.step, r.errno),
    });
  }
  // A command that could not exec gets no streams: its pipe ends are closed below.
  const handle = adoptCommand({ pid: r.pid, pidfd: r.pidfd, rec: r.rec }, r.execErrno === 0 ? parentEnds : [], signal);
  if (r.execErrno !== 0) {
    // It exits 127/126 by itself; reap it, then say why.
    for (const rec of ours) registryCodec.recClose(rec);
    handle.exited.catch(() => {});
    const name = args[0] as string;
    throw new UsernsError(r.execErrno === 2 ? `${name}: command not found` : `${name}: ${errnoText(r.execErrno)}`, {
      code: errnoName(r.execErrno),
      errno: r.execErrno,
      syscall: "execve",
      step: "exec",
    });
  }
  return handle;
}

/**
 * A started command (a child of this process, its pidfd recorded as `rec`)
 * as a handle: reaped by the shared poller, our pipe ends as streams,
 * `signal` kills it. `killSignal` maps a signal before it is sent (sandbox()
 * turns SIGKILL into its monitor's "end and clean up").
 */
export function adoptCommand(
  cmd: { pid: number; pidfd: number; rec: number },
  parentEnds: readonly ({ fd: number; rec: number } | undefined)[],
  signal: AbortSignal | undefined,
  killSignal: (n: number) => number = (n) => n,
): InsideProcess {
  let resolve!: (n: number) => void;
  let reject!: (e: unknown) => void;
  const exited = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const rec: Running = { pidfd: cmd.pidfd, rec: cmd.rec, resolve, reject, watched: false };
  const onAbort = () => registryCodec.recKill(rec.rec, killSignal(9));
  if (signal) {
    signal.addEventListener("abort", onAbort, { once: true });
    rec.onDone = () => signal.removeEventListener("abort", onAbort);
  }
  watch(rec);
  return {
    pid: cmd.pid,
    exited,
    stdin: parentEnds[0] === undefined ? undefined : writable(parentEnds[0].fd, parentEnds[0].rec),
    stdout: parentEnds[1] === undefined ? undefined : readable(parentEnds[1].fd, parentEnds[1].rec),
    stderr: parentEnds[2] === undefined ? undefined : readable(parentEnds[2].fd, parentEnds[2].rec),
    kill(sig: NodeJS.Signals | number = "SIGTERM"): boolean {
      const n = signalNumber(sig);
      if (rec.pidfd < 0) return false;
      // Through its pidfd only while that number still names this command (native/registry.c).
      return registryCodec.recKill(rec.rec, killSignal(n)) === 0;
    },
  };
}

/**
 * For the CLI, before it chooses a terminal for the command: will
 * spawnInside(helperOrPid, argv, options) run it as a host uid other than
 * ours? True when that cannot be known.
 */
export function runsAsOtherUid(
  helperOrPid: Helper | number,
  options: Pick<SpawnInsideOptions, "namespaces" | "namespaceFiles" | "uid">,
): boolean {
  const helper = isHelper(helperOrPid) ? helperOrPid : undefined;
  const pid = helper ? helper.pid : helperOrPid;
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) return true;
  const uid = options.uid === "keep" ? -1 : (options.uid ?? 0);
  let pidfd = helper ? helper.pidfd : -1;
  try {
    const ns = resolveNamespaces(pid, options.namespaces, options.namespaceFiles, helper && helperLinks(helper));
    if (pidfd < 0) pidfd = openPidfd(pid, "pidfd");
    return commandHostUid(ns, uid, pid, pidfd, helper) !== ownUid();
  } catch {
    return true; // spawnInside will say what is wrong
  } finally {
    if (!helper && pidfd >= 0) processCodec.close(pidfd);
  }
}

/**
 * The host uid the command will run as (in our user namespace's numbering),
 * or undefined when it cannot be known (then it counts as another uid).
 */
function commandHostUid(
  ns: { entered: Set<ExecNamespace>; files: [ExecNamespace, string][] },
  uid: number,
  pid: number,
  pidfd: number,
  helper: Helper | undefined,
): number | undefined {
  // setns keeps our credentials: without a user namespace entered or ids taken there, it is us.
  if (!ns.entered.has("user") || uid < 0) return process.geteuid?.();
  // A namespace file's uid_map cannot be read from its fd.
  if (ns.files.some(([n]) => n === "user")) return undefined;
  const map = readUidMap(pid, pidfd, helper);
  return map === undefined ? undefined : mapUid(map, uid);
}

/**
 * Could the command reach a terminal: one of the fds it gets as 0-2 is one,
 * or we have a controlling terminal (it would inherit it, and /dev/tty opens
 * it whatever its stdio): tty_nr, field 7 of /proc/self/stat, is not 0.
 */
function terminalInReach(fds: number[]): boolean {
  if (fds.some((fd) => isatty(fd))) return true;
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[4]) !== 0;
  } catch {
    return true; // cannot tell: assume it could
  }
}

function envPath(env: readonly string[]): string {
  const p = env.find((e) => e.startsWith("PATH="));
  return p === undefined ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : p.slice(5);
}

function enterHint(step: string, errno: number): string | undefined {
  if (step === "dumpable") {
    return "fs.suid_dumpable is 1: entering a user namespace would make Bun's memory dumpable, and so readable by the namespace's owner, while the child shares it; set it to 0 or 2";
  }
  if (step === "killed") {
    return "the entering child was killed (e.g. a SIGKILL from the user namespace's owner, who may signal it once it has entered) before it could report its command's exec; the command was killed with it";
  }
  if (step === "stopped") {
    return "the entering child was stopped by a signal before it could exec (e.g. a SIGSTOP from the user namespace's owner, who may signal it once it has entered); it was killed rather than let a stop hold this thread";
  }
  if ((step === "setns" || step === "setns_fd") && errno === 22) {
    return "setns refused: entering our own user namespace again, a file that is not a namespace of that type, or a kernel before 5.8 (setns with a pidfd)";
  }
  if (step === "setns" && errno === 1) return "setns needs CAP_SYS_ADMIN over the target's user namespace";
  return undefined;
}
