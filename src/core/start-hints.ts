/**
 * What to tell a caller whose helper could not start: each hint is chosen
 * from what this machine actually says (sysctls, /proc/self/status), so it
 * names the real cause rather than the usual suspect. Runs on error paths only.
 */
import { readFileSync } from "node:fs";
import { EACCES, EAGAIN, ENOSPC, ENOSYS, EPERM, ETIMEDOUT, type NativeStep } from "./errors.ts";

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

export function readSysctl(name: string): string | undefined {
  return read(`/proc/sys/${name.replaceAll(".", "/")}`);
}

function statusField(name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, "m").exec(read("/proc/self/status") ?? "")?.[1];
}

/** Why this process may be refused a syscall that it would otherwise be allowed. */
function refusalCause(syscall: string): string | undefined {
  const tracer = Number(statusField("TracerPid") ?? 0);
  if (tracer > 0 && syscall === "ptrace") {
    return `this process is being traced (TracerPid ${tracer}: strace -f, a debugger): its helpers are traced too, and a traced process cannot PTRACE_TRACEME; run without the tracer, or trace without following children`;
  }
  const seccomp = statusField("Seccomp");
  if (seccomp === "2") {
    return `a seccomp filter is installed on this process (Seccomp: 2 in /proc/self/status, e.g. a container runtime's default profile) and may refuse ${syscall}; allow it, or run outside the filter`;
  }
  return undefined;
}

/** Why executing a memfd was refused, as this machine says it (the park program runs from one). */
export function memfdExecRefused(): string {
  return readSysctl("vm.memfd_noexec") === "2"
    ? "vm.memfd_noexec is 2, which forbids executing any memfd"
    : "executing a memfd was refused (vm.memfd_noexec, or a security module)";
}

export function startHint(step: NativeStep, errno: number, setgroups: string, map: string): string | undefined {
  if ((step === "park_image" || step === "park_exec") && errno === EACCES) {
    return `${memfdExecRefused()}: a caller without CAP_SYS_PTRACE has its helper exec a tiny park program from a sealed memfd, so the helper never shares Bun's memory with the namespace's processes; set vm.memfd_noexec to 0 or 1, or run with CAP_SYS_PTRACE (its helpers then seal Bun's memory instead)`;
  }
  if (step === "clone" && errno === EAGAIN) {
    return "the kernel refused a new process: RLIMIT_NPROC (ulimit -u) or kernel.threads-max / pid_max is reached for this user; helpers count as processes of their owner while they live";
  }
  if (step === "clone" && errno === ENOSPC) {
    const max = readSysctl("user.max_user_namespaces");
    if (max === "0") {
      return "user namespaces are disabled here: user.max_user_namespaces = 0 (sysctl -w user.max_user_namespaces=15000)";
    }
    return `user.max_user_namespaces (${max ?? "?"}) is reached, or the nesting depth of 32: the kernel frees a user namespace asynchronously, a moment after its last process is reaped, so many quick calls can briefly exhaust the limit; retry shortly or raise the sysctl`;
  }
  if (step === "clone" && (errno === EPERM || errno === EACCES)) {
    if (readSysctl("kernel.unprivileged_userns_clone") === "0") {
      return "unprivileged user namespaces are disabled here: kernel.unprivileged_userns_clone = 0 (sysctl -w kernel.unprivileged_userns_clone=1, or run as root)";
    }
    if (readSysctl("kernel.apparmor_restrict_unprivileged_userns") === "1") {
      return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1); `bun-userns doctor` prints a profile that allows bun";
    }
    return (
      refusalCause("clone") ?? "this caller may not create user namespaces (an LSM refuses it); run `bun-userns doctor`"
    );
  }
  if (step === "unshare" && errno === ENOSPC) {
    return "a namespace limit is exhausted (user.max_*_namespaces); the kernel frees namespaces asynchronously after their last process is reaped, so retry shortly or raise the sysctl";
  }
  if ((step === "uid_map" || step === "gid_map") && errno === EPERM) {
    return `the caller may not map ${map.trim().replace(/\n/g, ", ")}: every host id must be mapped in the caller's own user namespace; an unprivileged caller can map only its own id, once, with setgroups "deny"; mapping host id 0 needs CAP_SETFCAP${step === "gid_map" && setgroups === "allow" ? '; setgroups is "allow", which an unprivileged caller cannot use' : ""}`;
  }
  if (step === "setgroups" && errno === EPERM) {
    return 'setgroups "allow" is refused when the parent user namespace has setgroups "deny"; pass { setgroups: "deny" }';
  }
  if (step === "map_wait" && errno === ETIMEDOUT) {
    return "the helper waited 10 s for its maps and gave up: the calling thread was stalled between creating it and writing them";
  }
  if (step === "close_range" && errno === ENOSYS) {
    return "close_range(2) needs Linux 5.9 or later";
  }
  const syscall = { ptrace: "ptrace", capset: "capset", prctl: "prctl", dumpable: "prctl" }[step as string];
  if (syscall !== undefined && (errno === EPERM || errno === EACCES || errno === ENOSYS)) {
    const cause = refusalCause(syscall);
    if (cause) return cause;
    if (step === "ptrace") {
      const yama = readSysctl("kernel.yama.ptrace_scope");
      if (yama === "2" || yama === "3") {
        return `PTRACE_TRACEME was refused: Yama kernel.yama.ptrace_scope = ${yama} (${yama === "2" ? "needs CAP_SYS_PTRACE" : "forbids it"})`;
      }
      return `PTRACE_TRACEME was refused by an LSM (Yama ${yama === undefined ? "is not present" : `ptrace_scope = ${yama}`}); run \`bun-userns doctor\``;
    }
    return `${syscall} was refused: an LSM or a seccomp filter forbids it`;
  }
  return undefined;
}

/** The per-binary AppArmor profile that lets this `bun` create user namespaces. */
export function appArmorProfileHint(): string {
  const bun = process.execPath;
  return `unprivileged user namespaces of ${bun} are restricted; allow them with /etc/apparmor.d/bun:\n  abi <abi/4.0>,\n  include <tunables/global>\n  profile bun ${bun} flags=(unconfined) {\n    userns,\n  }\nthen: apparmor_parser -r /etc/apparmor.d/bun`;
}
