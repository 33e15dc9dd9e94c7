/**
 * A namespace as a descriptor. `openNamespace(pid | helper, kind)`
 * takes /proc/PID/ns/<kind> race-free (the pid is held by a pidfd across the
 * open, so a recycled pid is refused); `openNamespace(path, kind?)` opens a
 * pinned file and checks with NS_GET_NSTYPE that it is a namespace (of that
 * kind). The fd is O_CLOEXEC and owned by the handle.
 */
import { ESRCH, errnoName, errnoText, invalid, type Step, syscallError, UsernsError } from "../core/errors.ts";
import { FdHandle } from "../core/fd-handle.ts";
import { type Helper, isHelper } from "../core/helper.ts";
import * as processCodec from "../core/process-codec.ts";
import { typeError, validateInteger, validatePath } from "../core/validate.ts";
import { checkNamespaceKind, kindFile, kindOfType, type NamespaceKind } from "./kinds.ts";
import * as nsCodec from "./ns-codec.ts";

export class NamespaceFd extends FdHandle {
  readonly kind: NamespaceKind;

  /** Only this module makes them, from an fd it has checked. */
  private constructor(fd: number, kind: NamespaceKind) {
    super(fd, "NamespaceFd");
    this.kind = kind;
  }

  /** @internal */
  static adopt(fd: number, kind: NamespaceKind): NamespaceFd {
    return new NamespaceFd(fd, kind);
  }

  /** The nsfs inode: two fds with the same inode are the same namespace. */
  get inode(): number {
    if (this.fd < 0) throw invalid("namespace", "the namespace fd is closed");
    const st = nsCodec.nsStat("", this.fd);
    if (typeof st === "number") throw syscallError("namespace", "statx", -st, `statx: ${errnoText(-st)}`);
    return st.inode;
  }

  /** The namespace as /proc/PID/ns/* links name it, e.g. `net:[4026532173]`. */
  get id(): string {
    return `${this.kind}:[${this.inode}]`;
  }

  /** @internal Hand the fd over to code that closes it itself (the handle is closed). */
  take(): number {
    return this.takeFd();
  }
}

/** A pid, held by a pidfd while its namespaces are opened. */
export interface HeldProcess {
  readonly pid: number;
  readonly pidfd: number;
  /** Close the pidfd if we opened it (a helper's stays the helper's). */
  readonly done: () => void;
}

/** Hold a Helper or a pid for the opens; EINVAL for anything else, ESRCH for a gone pid. */
export function holdProcess(target: unknown, what: string): HeldProcess {
  if (isHelper(target)) {
    target.checkAlive();
    return { pid: target.pid, pidfd: target.pidfd, done: () => {} };
  }
  if (typeof target !== "number") throw typeError(`${what}'s target`, "a Helper or a pid", target);
  validateInteger(target, `the pid ${what} takes`, 1, 2 ** 22, "namespace");
  const pidfd = openPidfd(target, "namespace");
  return { pid: target, pidfd, done: () => processCodec.close(pidfd) };
}

/** pidfd_open(pid) (close-on-exec), or a UsernsError at `step` (ESRCH: no such process). */
export function openPidfd(pid: number, step: Step): number {
  const fd = processCodec.openPidfd(pid);
  if (fd < 0) {
    throw new UsernsError(`pidfd_open ${pid}: ${errnoText(-fd)}`, {
      code: errnoName(-fd),
      errno: -fd,
      syscall: "pidfd_open",
      step,
    });
  }
  return fd;
}

function openError(path: string, errno: number, kind?: NamespaceKind): UsernsError {
  const why =
    errno === 25
      ? "not a namespace file (no nsfs inode: a pin that was unmounted, or another file)"
      : errno === 13 || errno === 1
        ? "permission denied (ptrace access mode: the process belongs to another uid or is not dumpable, or a security module refuses)"
        : errnoText(errno);
  // ENOTTY: the nsfs check (what NS_GET_NSTYPE answers for a file that is no namespace); else the open.
  return syscallError(
    "namespace",
    errno === 25 ? "ioctl" : "openat",
    errno,
    `open ${kind ?? "namespace"} ${path}: ${why}`,
  );
}

/** Open a checked namespace file: the fd of kind `kind` (any kind if undefined). */
export function openChecked(path: string, kind: NamespaceKind | undefined, procLink = false): NamespaceFd {
  const r = processCodec.nsOpen(path, procLink);
  if (typeof r === "number") throw openError(path, -r, kind);
  const got = kindOfType(r.type);
  if (got === undefined || (kind !== undefined && got !== kind)) {
    processCodec.close(r.fd);
    throw invalid("namespace", `${path} is a ${got ?? `0x${r.type.toString(16)}`} namespace, not ${kind}`);
  }
  return NamespaceFd.adopt(r.fd, got);
}

/**
 * Open /proc/PID/ns/FILE of a held process and prove it was still that
 * process afterwards: a pidfd signal 0 fails with ESRCH once the process was
 * reaped (and only then can its pid name another one).
 */
export function openFromProcess(held: HeldProcess, kind: NamespaceKind, file = kindFile(kind)): NamespaceFd {
  let ns: NamespaceFd;
  try {
    ns = openChecked(`/proc/${held.pid}/ns/${file}`, kind, true);
  } catch (e) {
    // The kernel hides pid_for_children until that namespace has its pid 1.
    if (
      file === "pid_for_children" &&
      (e as UsernsError).errno === 2 &&
      processCodec.pidfdSignal(held.pidfd, 0) === 0
    ) {
      throw syscallError(
        "namespace",
        "openat",
        2,
        `process ${held.pid} has a new pid namespace without a pid 1 yet: the kernel shows it (and lets it be pinned) only once its first process exists`,
        "take it from a process inside it instead, e.g. the command of spawnInside(..., { newPidNamespace: true }), or `bun-userns exec -p --pid=FILE -- CMD`",
      );
    }
    throw e;
  }
  const rc = processCodec.pidfdSignal(held.pidfd, 0);
  if (rc < 0 && -rc === ESRCH) {
    ns.close();
    throw syscallError(
      "namespace",
      "pidfd_send_signal",
      ESRCH,
      `process ${held.pid} exited while its ${kind} namespace was opened`,
    );
  }
  return ns;
}

/**
 * `openNamespace(pidOrHelper, kind)`: the process's namespace of that kind
 * (pid → pid_for_children, time → time_for_children). `openNamespace(path,
 * kind?)`: a namespace file, e.g. a pin; with a kind, another kind is refused.
 */
export function openNamespace(target: Helper | number | string, kind?: NamespaceKind | string): NamespaceFd {
  if (typeof target === "string") {
    validatePath(target, "a namespace path", "namespace");
    return openChecked(target, kind === undefined ? undefined : checkNamespaceKind(kind, "openNamespace", "namespace"));
  }
  const k = checkNamespaceKind(kind, "openNamespace", "namespace");
  const held = holdProcess(target, "openNamespace");
  try {
    return openFromProcess(held, k);
  } finally {
    held.done();
  }
}
