/**
 * spawnInside's plan: what its command needs opened before the native call,
 * from a validated request. The namespaces as descriptors (the pid's pidfd,
 * /proc/PID/ns files, namespace files, each checked), the stdio pipes (both
 * ends recorded in this thread's registry), whether the command leaves our
 * session, and whether Bun's mm or a sealed fork of the entering child
 * enters. A failure undoes everything the plan opened.
 */
import { readFileSync } from "node:fs";
import { CAP_SYS_PTRACE, effectiveCaps, hasCapability } from "../core/caps.ts";
import { errnoName, errnoText, invalid, UsernsError } from "../core/errors.ts";
import { type Helper, isHelper, liveHelperCount } from "../core/helper.ts";
import { nprocShortfall } from "../core/nproc.ts";
import { sweepIfDue } from "../core/orphans.ts";
import { assertOwnProc } from "../core/own-proc.ts";
import * as processCodec from "../core/process-codec.ts";
import * as registryCodec from "../core/registry-codec.ts";
import { NAMESPACE_KINDS } from "../ns/kinds.ts";
import { openChecked, openFromProcess, openPidfd } from "../ns/namespace-fd.ts";
import { mapUid, ownUid, readUidMap } from "./host-uid.ts";
import { type ExecNamespace, namespaceFlag, resolveNamespaces } from "./namespaces.ts";
import { checkPassFdsOpen } from "./pass-fds.ts";
import { runningCommands } from "./poller.ts";
import { helperLinks, type SpawnInsideOptions, type SpawnRequest } from "./spawn-options.ts";
import { isTerminal } from "./terminal.ts";

/** What the native call needs, opened; and what to close once it has run. */
export interface SpawnPlan {
  /** setns(pidfd, …) target, or the pidfd whose /proc files were opened; -1 if none. */
  pidfd: number;
  /** Namespace fds and their CLONE_NEW* type, in the order they are entered. */
  fds: [number, number][];
  /** Enter from /proc/PID/ns fds (a caller without CAP_SYS_PTRACE), not setns(pidfd, flags). */
  viaFds: boolean;
  /** The caller holds CAP_SYS_PTRACE: the entering child enters from Bun's mm, sealed. */
  privileged: boolean;
  /** fd for the command's 0, 1, 2: -1 keep ours, -2 /dev/null. */
  childStdio: [number, number, number];
  /** Our end of each pipe. */
  parentEnds: ({ fd: number; rec: number } | undefined)[];
  /** setsid() before exec. */
  session: boolean;
  /** Descriptors the plan opened (closed after the call). */
  opened: number[];
  /** Pipe ends by record: ours stay with the handle, theirs are closed after the call. */
  ours: number[];
  theirs: number[];
}

/** Open what the command needs; throws (everything opened closed again) if something cannot be. */
export function planSpawn(req: SpawnRequest): SpawnPlan {
  const { signal, ns, pid, helperPidfd, stdio, ctty, newSession, ids } = req;
  signal?.throwIfAborted();
  // Before anything of ours is opened: a passed fd must be the caller's, never one the plan makes.
  checkPassFdsOpen(req.passFds, "spawnInside");
  // Each command is a process of ours until it enters: refused as helpers are under a small RLIMIT_NPROC.
  sweepIfDue();
  const crowded = nprocShortfall(effectiveCaps(), liveHelperCount() + runningCommands(), "spawnInside");
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
  if (ctty !== undefined && !isTerminal(fdOf(ctty)))
    fail(invalid("options", `controllingTerminal ${ctty}: fd ${fdOf(ctty)} is not a terminal`));
  const session =
    ctty !== undefined ||
    (newSession ??
      (commandHostUid(ns, ids[0], pid, pidfd, req.helper) !== ownUid() &&
        terminalInReach([0, 1, 2].filter((i) => childStdio[i] !== -2).map(fdOf))));
  return { pidfd, fds, viaFds, privileged, childStdio, parentEnds, session, opened, ours, theirs };
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
  let pidfd = helper ? helper.pidfd : -1;
  try {
    const ns = resolveNamespaces(pid, options.namespaces, options.namespaceFiles, helper && helperLinks(helper));
    const uid = options.uid === "keep" ? -1 : (options.uid ?? (ns.entered.has("user") ? 0 : -1));
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
  // Without ids taken it is us; without a user namespace entered, the id taken.
  if (uid < 0) return process.geteuid?.();
  if (!ns.entered.has("user")) return uid;
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
  if (fds.some((fd) => isTerminal(fd))) return true;
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[4]) !== 0;
  } catch {
    return true; // cannot tell: assume it could
  }
}
