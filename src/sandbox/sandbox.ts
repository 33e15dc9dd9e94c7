/**
 * sandbox(argv, spec): a command in new namespaces with a filesystem view
 * of its own, ids and capabilities of its own, no_new_privs and seccomp,
 * started in-process (native/sandbox.c): no setuid binary, no helper
 * program, no argument limit.
 *
 * The user namespace comes from a helper (startHelper: any maps, rootless
 * ranges through newuidmap); the sandbox enters it, the helper is released
 * once the sandbox runs. The handle is spawnInside's; its pid is the
 * sandbox's monitor, which forwards signals, and SIGKILL (or an abort, or
 * the timeout) ends the sandbox through it, so what the view had to create
 * on the host is removed in every case.
 */
import { fstatSync, readFileSync, statSync } from "node:fs";
import { SANDBOX_STEPS } from "../core/contract.ts";
import { errnoName, errnoText, UsernsError } from "../core/errors.ts";
import * as processCodec from "../core/process-codec.ts";
import * as registryCodec from "../core/registry-codec.ts";
import { memfdExecRefused } from "../core/start-hints.ts";
import { passFdReused } from "../exec/pass-fds.ts";
import { adoptCommand, type InsideProcess } from "../exec/spawn-inside.ts";
import { openFromProcess } from "../ns/namespace-fd.ts";
import { startHelper } from "../unshare.ts";
import { buildRequest, NS_ORDER, readResult, type SandboxStep } from "./request.ts";
import * as sandboxCodec from "./sandbox-codec.ts";
import { checkSpec, type PlainMount, type PlainSpec, type SandboxSpec } from "./spec.ts";

export type { SandboxMount, SandboxNamespace, SandboxSpec } from "./spec.ts";

/** What a started sandbox reports of itself (bwrap's --info-fd). */
export interface SandboxStartInfo {
  /** The sandbox's first process (pid 1 of its pid namespace), in our pid namespace. */
  firstPid: number;
  /** Inodes of its namespaces, as `stat -L /proc/PID/ns/KIND` shows them (user: the one the view was built in). */
  namespaces: { cgroup: bigint; ipc: bigint; mnt: bigint; net: bigint; pid: bigint; uts: bigint; user: bigint };
}
const startInfos = new WeakMap<InsideProcess, SandboxStartInfo>();

/** The start report of a handle sandbox() returned (the same as its sandboxPid and namespaceIds). */
export function sandboxStartInfo(p: InsideProcess): SandboxStartInfo | undefined {
  return startInfos.get(p);
}

/** sandbox()'s handle: spawnInside's (its pid is the monitor's), and what bwrap's --info-fd reports. */
export interface SandboxProcess extends InsideProcess {
  /** The sandbox's first process (pid 1 of its pid namespace, or the command), in our pid namespace. */
  readonly sandboxPid: number;
  /** Inode numbers of the sandbox's namespaces (as `stat -L /proc/PID/ns/NAME` shows them). */
  readonly namespaceIds: Readonly<Record<(typeof NS_ORDER)[number], number>>;
}

/** The monitor's "end the sandbox, then clean up" (SIGRTMAX): what SIGKILL is turned into. */
const SIG_KILL_SANDBOX = 64;

/** Is / the initial ramfs (rootfs), which pivot_root refuses to leave (an initramfs-only VM)? */
export function rootIsInitramfs(): boolean {
  try {
    const line = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .find((l) => l.split(" ")[4] === "/");
    return line !== undefined && line.split(" - ")[1]?.startsWith("rootfs ") === true;
  } catch {
    return false;
  }
}

/**
 * disableNestedUserns refused EACCES: the process that makes the nested user
 * namespace leaves Bun's memory by executing the park program from a sealed
 * memfd, which vm.memfd_noexec=2 (or a security module) forbids.
 */
function nestedUsernsHint(): string {
  return `${memfdExecRefused()}: disableNestedUserns makes its user namespace in a process that then runs a tiny park program from a sealed memfd, so that nothing inside the sandbox can reach Bun's memory through it; set vm.memfd_noexec to 0 or 1, or leave disableNestedUserns off`;
}

/** The syscall that fails at each of the sandbox's steps (the contract's table). */
const SYSCALL = Object.fromEntries(SANDBOX_STEPS) as Record<SandboxStep, string>;

function describeMount(m: PlainMount): string {
  return m.kind === "bind" ? `bind ${m.fd >= 0 ? `fd ${m.fd}` : m.source} on ${m.target}` : `${m.kind} ${m.target}`;
}

/** A missing source (not a "-try" one) is refused before anything is made. */
function checkSources(mounts: readonly PlainMount[]): void {
  const check = (path: string, i: number) => {
    try {
      statSync(path);
    } catch (e) {
      const errno = -((e as { errno?: number }).errno ?? -2);
      throw new UsernsError(`sandbox: mounts[${i}]: can't find source path ${path}: ${errnoText(errno)}`, {
        code: errnoName(errno),
        errno,
        syscall: "stat",
        step: "options",
      });
    }
  };
  mounts.forEach((m, i) => {
    if (m.kind === "overlay") for (const p of [...m.sources, m.upper, m.work]) if (p !== null) check(p, i);
    if (m.kind !== "bind" || m.fd >= 0 || m.try) return;
    check(m.source, i);
  });
}

/** Every fd the spec names must be open: refused before anything is made. */
function checkFds(s: PlainSpec): void {
  const fds: [string, number][] = [
    ["userns", s.userns],
    ["userns2", s.userns2],
    ["pidns", s.pidns],
    ["blockFd", s.blockFd],
    ["usernsBlockFd", s.usernsBlockFd],
    ["syncFd", s.syncFd],
    ...s.mounts.flatMap((m, i): [string, number][] =>
      m.kind === "bind" && m.fd >= 0 ? [[`mounts[${i}].fd`, m.fd]] : [],
    ),
    ...s.passFds.map((fd, i): [string, number] => [`passFds[${i}]`, fd]),
  ];
  for (const [what, fd] of fds) {
    if (fd < 0) continue;
    try {
      fstatSync(fd);
    } catch {
      throw new UsernsError(`sandbox: ${what}: ${fd} is not an open file descriptor`, {
        code: "EBADF",
        errno: 9,
        syscall: "fstat",
        step: "options",
      });
    }
  }
}

/** A pipe (both ends recorded in this thread's registry), or the UsernsError of pipe2. */
function pipeOrThrow(): { fds: [number, number]; recs: [number, number] } {
  const p = processCodec.pipe();
  if (typeof p === "number")
    throw new UsernsError(`pipe2: ${errnoText(-p)}`, {
      code: errnoName(-p),
      errno: -p,
      syscall: "pipe2",
      step: "open",
    });
  return p;
}

/** Run argv in a sandbox described by spec (see SandboxSpec). */
export function sandbox(argv: readonly string[], spec: SandboxSpec = {}): SandboxProcess {
  const s = checkSpec(argv, spec);
  // The caller's code (a signal of its own making may run some) runs before the fds are checked: a passed fd
  // it closes is refused here, not handed to the command under the number of one the start opens next.
  s.signal?.throwIfAborted();
  checkSources(s.mounts);
  checkFds(s);
  // Its helper's call comes first: have that load the build with sandbox's C (one compile, not two).
  sandboxCodec.needSandbox();
  registryCodec.ensureRegistry();

  const pathEntry = s.env.find((e) => e.startsWith("PATH="));
  const path =
    pathEntry === undefined ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : pathEntry.slice(5);
  // The user namespace: the one given, or a helper's (its maps are the spec's).
  const helper =
    s.userns >= 0 ? null : startHelper(s.uidMap, s.gidMap, 0, s.mapper === undefined ? {} : { mapper: s.mapper });
  const ours: number[] = [];
  const theirs: number[] = [];
  const parentEnds: ({ fd: number; rec: number } | undefined)[] = [undefined, undefined, undefined];
  let usernsFd = -1;
  let exitEnd: { fd: number; rec: number } | undefined;
  let started: { rc: number; rec: number; pidfd: number; info: SandboxStartInfo } | undefined;
  try {
    // The user namespace as an fd, opened by us (the monitor enters it by that fd).
    usernsFd =
      helper === null ? -1 : openFromProcess({ pid: helper.pid, pidfd: helper.pidfd, done: () => {} }, "user").take();
    // The fd holds the namespace: the helper can die now, while the start runs (release() below reaps it).
    if (helper !== null) process.kill(helper.pid, "SIGKILL");
    const childStdio: [number, number, number] = [-1, -1, -1];
    for (let i = 0; i < 3; i++) {
      const sp = s.stdio[i];
      if (sp === "ignore") childStdio[i] = -2;
      else if (typeof sp === "number") childStdio[i] = sp;
      else if (sp === "pipe") {
        const p = pipeOrThrow();
        const [parent, child] = i === 0 ? ([1, 0] as const) : ([0, 1] as const);
        ours.push(p.recs[parent]);
        theirs.push(p.recs[child]);
        parentEnds[i] = { fd: p.fds[parent], rec: p.recs[parent] };
        childStdio[i] = p.fds[child];
      }
    }
    // The exit pipe: the monitor alone keeps its write end (ours is closed below), so its EOF is the exit.
    const ex = pipeOrThrow();
    ours.push(ex.recs[0]);
    theirs.push(ex.recs[1]);
    exitEnd = { fd: ex.fds[0], rec: ex.recs[0] };
    // A passed fd closed by another thread since it was checked, its number now one of these.
    const reused = passFdReused(s.passFds, () => [
      registryCodec.registry(),
      helper?.pidfd ?? -1,
      usernsFd,
      ...ex.fds,
      ...parentEnds.map((e) => e?.fd ?? -1),
      ...childStdio.filter((_, i) => s.stdio[i] === "pipe"),
    ]);
    if (reused !== undefined)
      throw new UsernsError(`sandbox: passFds: ${reused} was closed while the sandbox was being started`, {
        code: "EBADF",
        errno: 9,
        syscall: "fstat",
        step: "options",
      });
    const block = buildRequest(s, helper === null ? s.userns : usernsFd, childStdio, path, ex.fds[1]);
    const { rc, rec } = sandboxCodec.sandboxStart(block.bytes);
    const r = readResult(block);
    if (rc <= 0) {
      const at =
        r.index >= 0 && s.mounts[r.index]
          ? ` mounts[${r.index}] (${describeMount(s.mounts[r.index] as PlainMount)})`
          : "";
      const errno = r.errno || -rc || 22;
      if (r.step === "exec") {
        const name = s.argv[0] as string;
        throw new UsernsError(
          errno === 2 ? `sandbox: ${name}: command not found` : `sandbox: ${name}: ${errnoText(errno)}`,
          {
            code: errnoName(errno),
            errno,
            syscall: "execve",
            step: "exec",
          },
        );
      }
      const what =
        r.step === "userns_enabled"
          ? "a user namespace could still be made inside (assertUsernsDisabled)"
          : errnoText(errno);
      throw new UsernsError(`sandbox: ${r.step}${at}: ${what}`, {
        code: errnoName(errno),
        errno,
        syscall: SYSCALL[r.step] ?? r.step,
        step: r.step,
        hint:
          r.step === "newroot" && errno === 22 && rootIsInitramfs()
            ? "/ is the initial ramfs (rootfs), where pivot_root is refused: run from a real root filesystem (switch_root, as an init does)"
            : r.step === "nested_userns" && errno === 13
              ? nestedUsernsHint()
              : undefined,
      });
    }
    const [cgroup, ipc, mnt, net, pid, uts, user] = r.ns as [bigint, bigint, bigint, bigint, bigint, bigint, bigint];
    started = {
      rc,
      rec,
      pidfd: r.pidfd,
      info: { firstPid: r.first, namespaces: { cgroup, ipc, mnt, net, pid, uts, user } },
    };
  } catch (e) {
    for (const rec of ours) registryCodec.recClose(rec);
    throw e;
  } finally {
    if (usernsFd >= 0) processCodec.close(usernsFd);
    for (const rec of theirs) registryCodec.recClose(rec);
    helper?.release();
  }
  const proc = adoptCommand(
    { pid: started.rc, pidfd: started.pidfd, rec: started.rec },
    parentEnds,
    s.signal,
    (n) => (n === 9 ? SIG_KILL_SANDBOX : n),
    exitEnd,
  );
  startInfos.set(proc, started.info);
  if (s.timeout !== undefined) {
    const timer = setTimeout(() => proc.kill(9), s.timeout);
    proc.exited.finally(() => clearTimeout(timer)).catch(() => {});
  }
  const ids = started.info.namespaces;
  return Object.assign(proc, {
    sandboxPid: started.info.firstPid,
    namespaceIds: Object.freeze(Object.fromEntries(NS_ORDER.map((n) => [n, Number(ids[n])]))) as Record<
      (typeof NS_ORDER)[number],
      number
    >,
  });
}
