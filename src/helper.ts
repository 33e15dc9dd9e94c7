/**
 * The parked helper as a disposable handle: spawn, liveness, kill, reap.
 * Disposing always kills, reaps and closes the pidfd, on every path.
 */
import { EACCES, ENOSPC, EPERM, ESRCH, errnoText, syscallError, type UsernsError } from "./errors.ts";
import { type IDMap, mapText } from "./idmap.ts";
import * as native from "./native.ts";
import { sweepIfDue } from "./orphans.ts";

const CAP_SETGID = 1 << 6;
const CAP_SETUID = 1 << 7;

export interface HelperSpec {
  uid: readonly IDMap[];
  gid: readonly IDMap[];
  flags: number;
  setgroups?: "allow" | "deny";
  owner?: "mapping" | "caller";
}

const SYSCALL_OF: Record<native.NativeStep, string> = {
  none: "clone",
  sigmask: "rt_sigprocmask",
  capget: "capget",
  setresuid: "setresuid",
  clone: "clone",
  uid_map: "write uid_map",
  setgroups: "write setgroups",
  gid_map: "write gid_map",
  close_range: "close_range",
  unshare: "unshare",
  mount: "mount",
  pdeathsig: "prctl",
  parent_gone: "getppid",
  ptrace: "ptrace",
  park: "waitid",
  restore: "setresuid",
};

/** This thread's helpers, held weakly so a dropped handle can be collected. */
const live = new Map<number, WeakRef<Helper>>();

/**
 * Safety net for a helper nothing can reach any more: a startHelper handle
 * dropped without release()/using, or a callback suspended on a promise that
 * nothing can settle. When the handle is garbage-collected, kill and reap the
 * helper, close the pidfd, and say so. Finalizers run on this thread, the tracer.
 */
const leaked = new FinalizationRegistry<{ pid: number; pidfd: number; slot: native.Slot }>((h) => {
  live.delete(h.pid);
  native.release(h.pidfd);
  native.releaseSlot(h.slot);
  process.emitWarning(
    `bun-userns: helper ${h.pid} was garbage-collected without release() (a dropped startHelper handle, or a callback awaiting a promise nothing can settle); killed and reaped it`,
    { code: "BUN_USERNS_LEAKED_HELPER" },
  );
});

/** Pids of the helpers this thread holds right now. */
export function liveHelpers(): number[] {
  return [...live.keys()];
}

export class Helper implements Disposable {
  readonly pid: number;
  #pidfd: number;
  #slot: native.Slot | undefined;

  private constructor(pid: number, pidfd: number, slot: native.Slot) {
    this.pid = pid;
    this.#pidfd = pidfd;
    this.#slot = slot;
  }

  /** Start a helper parked in a new user namespace, or throw a start failure. */
  static spawn(spec: HelperSpec): Helper {
    sweepIfDue();
    const caps = native.capEffective();
    const setgroups = spec.setgroups ?? ((caps & CAP_SETGID) !== 0 ? "auto" : "deny");
    const first = spec.uid[0] as IDMap;
    const owner = spec.owner ?? "mapping";
    const ownerUid = owner === "mapping" && (caps & CAP_SETUID) !== 0 ? first.hostID : -1;
    const r = native.spawn({
      flags: spec.flags,
      ownerUid,
      setgroups,
      uidText: mapText(spec.uid),
      gidText: mapText(spec.gid),
    });
    if (!r.ok) throw startError(r.step, r.errno, setgroups, spec);
    const h = new Helper(r.pid, r.pidfd, r.slot);
    live.set(h.pid, new WeakRef(h));
    leaked.register(h, { pid: r.pid, pidfd: r.pidfd, slot: r.slot }, h);
    return h;
  }

  /** The seed's liveness check, plus "has not died or been killed since". */
  checkAlive(): void {
    if (this.#slot === undefined) throw livenessError(ESRCH);
    const rc = native.alive(this.#pidfd, this.pid);
    if (rc < 0) throw livenessError(-rc);
  }

  /**
   * Kill, reap, close. Returns the kill error the seed reports (anything but
   * ESRCH), or undefined. Idempotent.
   */
  release(): UsernsError | undefined {
    const slot = this.#slot;
    if (slot === undefined) return undefined;
    this.#slot = undefined;
    live.delete(this.pid);
    leaked.unregister(this);
    const rc = native.release(this.#pidfd);
    this.#pidfd = -1;
    native.releaseSlot(slot);
    if (rc < 0 && -rc !== ESRCH) return syscallError("kill", "pidfd_send_signal", -rc, errnoText(-rc));
    return undefined;
  }

  [Symbol.dispose](): void {
    const err = this.release();
    if (err) throw err;
  }
}

function livenessError(errno: number): UsernsError {
  return syscallError(
    "liveness",
    "pidfd_send_signal",
    errno,
    `failed to ensure child process is alive: ${errnoText(errno)}`,
    "the helper died or was killed while the callback ran; anything opened from /proc/PID may refer to a dead namespace",
  );
}

function startError(step: native.NativeStep, errno: number, setgroups: string, spec: HelperSpec): UsernsError {
  const syscall = SYSCALL_OF[step];
  return syscallError(
    step === "none" ? "clone" : step,
    syscall,
    errno,
    `failed to start noop process for unshare: ${syscall}: ${errnoText(errno)}`,
    startHint(step, errno, setgroups, spec),
  );
}

function readSysctl(name: string): string | undefined {
  try {
    // Only on an error path: node:fs costs a one-shot ~2 ms at import.
    const { readFileSync } = require("node:fs") as typeof import("node:fs");
    return readFileSync(`/proc/sys/${name.replaceAll(".", "/")}`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function startHint(step: native.NativeStep, errno: number, setgroups: string, spec: HelperSpec): string | undefined {
  if (step === "clone" && errno === ENOSPC) {
    return readSysctl("user.max_user_namespaces") === "0"
      ? "user namespaces are disabled here: user.max_user_namespaces = 0 (sysctl -w user.max_user_namespaces=15000)"
      : "user.max_user_namespaces is exhausted (or the nesting depth of 32 is reached); check for leaked helpers or raise the sysctl";
  }
  if (step === "clone" && (errno === EPERM || errno === EACCES)) {
    if (readSysctl("kernel.unprivileged_userns_clone") === "0") {
      return "unprivileged user namespaces are disabled here: kernel.unprivileged_userns_clone = 0 (sysctl -w kernel.unprivileged_userns_clone=1, or run as root)";
    }
    if (readSysctl("kernel.apparmor_restrict_unprivileged_userns") === "1") {
      return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1); `bun-userns doctor` prints a profile that allows bun";
    }
    return "this caller may not create user namespaces (a seccomp filter or LSM refuses it); run `bun-userns doctor`";
  }
  if (step === "unshare" && errno === ENOSPC) {
    return "a namespace limit is exhausted (user.max_*_namespaces); check for leaked namespaces or raise the sysctl";
  }
  if ((step === "uid_map" || step === "gid_map") && errno === EPERM) {
    const which = step === "uid_map" ? spec.uid : spec.gid;
    return `the caller may not map ${mapText(which).trim().replace(/\n/g, ", ")}: every host id must be mapped in the caller's own user namespace; an unprivileged caller can map only its own id, once, with setgroups "deny"; mapping host id 0 needs CAP_SETFCAP${step === "gid_map" && setgroups === "allow" ? '; setgroups is "allow", which an unprivileged caller cannot use' : ""}`;
  }
  if (step === "setgroups" && errno === EPERM) {
    return 'setgroups "allow" is refused when the parent user namespace has setgroups "deny"; pass { setgroups: "deny" }';
  }
  if (step === "ptrace" && errno === EPERM) {
    return "PTRACE_TRACEME was refused: Yama kernel.yama.ptrace_scope is 2 or 3, or an LSM forbids it";
  }
  return undefined;
}
