/**
 * spawnInside's native call: the request and its plan as one ExecSpec for
 * native/exec.c, which returns once the entering child has exec'd or
 * failed. The plan's descriptors and the command's pipe ends are closed
 * after it, whatever happened; a failure is a UsernsError naming the
 * command's step and the syscall that fails there.
 */
import { errnoName, errnoText, UsernsError } from "../core/errors.ts";
import * as processCodec from "../core/process-codec.ts";
import * as registryCodec from "../core/registry-codec.ts";
import * as execCodec from "./exec-codec.ts";
import { passFdReused } from "./pass-fds.ts";
import type { SpawnRequest } from "./spawn-options.ts";
import type { SpawnPlan } from "./spawn-plan.ts";

/** A started command: its pid, pidfd and record; execErrno is not 0 when its exec failed (it exits 127/126 by itself). */
export interface Started {
  pid: number;
  pidfd: number;
  rec: number;
  execErrno: number;
}

/** Start the command; throws (nothing left) when it could not be started. */
export function startCommand(req: SpawnRequest, plan: SpawnPlan): Started {
  const { ns, fork, newPid, mountProc, ids, ctty, args, env, cwd } = req;
  const { pidfd, viaFds, privileged, fds, session, childStdio, opened, ours, theirs } = plan;
  // A passed fd closed by another thread since it was checked, its number now one the plan opened.
  const reused = passFdReused(req.passFds, () => [
    registryCodec.registry(), // made after the check at a thread's first call
    ...opened,
    ...childStdio.filter((_, i) => req.stdio[i] === "pipe"),
    ...fds.map(([fd]) => fd),
    ...plan.parentEnds.map((e) => e?.fd ?? -1),
  ]);
  if (reused !== undefined) {
    for (const fd of opened) processCodec.close(fd);
    for (const rec of [...theirs, ...ours]) registryCodec.recClose(rec);
    throw new UsernsError(`spawnInside: passFds: ${reused} was closed while the command was being started`, {
      code: "EBADF",
      errno: 9,
      syscall: "fstat",
      step: "options",
    });
  }
  const r = execCodec.execInside({
    pidfd,
    nsFlags: viaFds ? 0 : ns.fromPid,
    ownMm: !privileged,
    fds,
    // Explicitly false: the command itself stays outside a pid namespace entered or made (only its
    // children are in it), as util-linux unshare -p without --fork and nsenter -F.
    fork: fork === false ? false : fork === true || ns.entered.has("pid") || newPid,
    propagation: req.propagation,
    uid: ids[0],
    gid: ids[1],
    newPid,
    mountProc,
    procDir: req.procDir,
    unshare: req.unshare,
    timeOffsets: req.timeOffsets,
    root: req.root,
    killSignal: req.killSignal,
    keepCaps: req.keepCaps,
    newSession: session,
    ctty: ctty ?? -1,
    stdio: childStdio,
    passFds: req.passFds,
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
  return { pid: r.pid, pidfd: r.pidfd, rec: r.rec, execErrno: r.execErrno };
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
  if ((step === "resolve_cwd" || step === "resolve_root" || step === "resolve_proc") && errno === 40) {
    return "a symlink on the way is not followed: another uid owns it, or could have put it there (a directory on the way is writable by someone other than root); name the directory itself (docs/security.md)";
  }
  if (step === "setns" && errno === 1) return "setns needs CAP_SYS_ADMIN over the target's user namespace";
  if (step === "time_offsets" && errno === 34)
    return "an offset takes the clock below zero or past the kernel's limit (KTIME_SEC_MAX / 2 s)";
  return undefined;
}
