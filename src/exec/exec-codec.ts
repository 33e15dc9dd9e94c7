/**
 * The codec of commands inside namespaces (native/exec.c): struct xreq, then
 * the entering child's stack, the argv and envp pointer tables and their
 * strings, in one block reused across calls.
 */
import { ptr } from "bun:ffi";
import { encoder, readHead } from "../core/block.ts";
import { at, BLOCKS, CONSTS, EXEC_STEPS as EXEC_STEP_TABLE, OPS } from "../core/contract.ts";
import { call } from "../core/native.ts";
import { freeRecord, registry, takeRecord } from "../core/registry-codec.ts";

const X_HEADER = BLOCKS.xreq.size;
/* The entering child's stack, halved for its copy and again for a pid
 * namespace's command: the last holds resolve.c's walk (struct walk, three
 * PATH_BYTES buffers) while it resolves root, cwd and /proc's place. */
const X_STACK = 131072;
const X_FD_MAX = BLOCKS.xreq.fields.fds[1] / 4;
/** XSTEPS: a command's steps, by the number the C reports. */
export const EXEC_STEPS = EXEC_STEP_TABLE.map(([name]) => name);
export type ExecStepName = (typeof EXEC_STEP_TABLE)[number][0];
const EXEC_SYSCALL = Object.fromEntries(EXEC_STEP_TABLE) as Record<ExecStepName, string>;
/** The syscall that fails at a command's step (the contract's step table). */
export function execStepSyscall(step: ExecStepName): string {
  return EXEC_SYSCALL[step];
}
export type ExecStep = ExecStepName;

/** Validated plain data for one entering child. */
export interface ExecSpec {
  /** setns(pidfd, nsFlags), or -1. */
  pidfd: number;
  nsFlags: number;
  /** Namespace fds and their CLONE_NEW* type (user first, then the pidfd, then the rest). */
  fds: readonly (readonly [number, number])[];
  fork: boolean;
  /** unshare(CLONE_NEWPID) before the fork (the command is pid 1 of a new pid namespace). */
  newPid: boolean;
  mountProc: boolean;
  /**
   * Enter from a sealed fork of the entering child instead of sealing Bun's mm
   * (a caller without CAP_SYS_PTRACE: see native/exec.c). Entering a time
   * namespace always does.
   */
  ownMm: boolean;
  /** Mount propagation of / to set before exec (undefined: leave it as it is). */
  propagation?: "private" | "slave" | "shared";
  /** CLONE_NEW* flags (not user) the command's process makes itself once inside; 0: none. */
  unshare: number;
  /** The command's parent-death signal (0: SIGKILL). */
  killSignal: number;
  /** chroot here once inside (the directory then defaults to it), or null. */
  root: string | null;
  /** Where mountProc mounts (null: /proc). */
  procDir: string | null;
  /** Keep the permitted capabilities across exec as ambient ones (util-linux --keep-caps). */
  keepCaps: boolean;
  /** Offsets of the time namespace made by `unshare` (seconds, nanoseconds 0-999999999). */
  timeOffsets: { monotonic: [bigint, number]; boottime: [bigint, number] } | null;
  /** setsid() before exec: the command has no controlling terminal. */
  newSession: boolean;
  /** Then make the terminal on this stdio slot (0-2) its controlling terminal (implies newSession); -1: none. */
  ctty: number;
  /** Become this uid and gid once inside (-1: keep ours, as setns leaves them). */
  uid: number;
  gid: number;
  /** fd for 0, 1, 2: -1 keep ours, -2 /dev/null. */
  stdio: readonly [number, number, number];
  /** The caller's fds (ascending, each > 2) the command keeps, at their numbers. */
  passFds: readonly number[];
  argv: readonly string[];
  env: readonly string[];
  path: string | null;
  cwd: string | null;
}

export type ExecResult =
  | { ok: true; pid: number; pidfd: number; rec: number; execErrno: number }
  | { ok: false; errno: number; step: ExecStep };

/**
 * The request block, reused: the call is synchronous and returns only once
 * the child has let go of Bun's memory, so no child still reads it, and its
 * stack is not allocated and zeroed per call (docs/performance.md).
 */
let xbuf: Uint8Array | undefined;
let xview: DataView | undefined;
let xbase = 0;

function requestBlock(size: number): Uint8Array {
  if (xbuf === undefined || xbuf.length < size) {
    xbuf = new Uint8Array(Math.max(size, X_HEADER + X_STACK + 16384));
    xview = new DataView(xbuf.buffer);
    xbase = ptr(xbuf);
  }
  return xbuf;
}

/** Start the command (returns once it has exec'd or failed to); its pidfd is record `rec`. */
export function execInside(spec: ExecSpec): ExecResult {
  if (spec.fds.length > X_FD_MAX) return { ok: false, errno: 22, step: "none" };
  const reg = registry();
  const rec = takeRecord();
  const strings = [...spec.argv, ...spec.env, spec.path ?? "", spec.cwd ?? "", spec.root ?? "", spec.procDir ?? ""];
  const tableAt = X_HEADER + X_STACK;
  const ptrCount = spec.argv.length + 1 + spec.env.length + 1;
  // UTF-8 takes at most 3 bytes per UTF-16 unit, plus the NUL.
  let bound = tableAt + ptrCount * 8 + 8;
  for (const s of strings) bound += s.length * 3 + 1;
  bound += 4 + 4 * spec.passFds.length;
  const bytes = requestBlock(bound);
  const v = xview as DataView;
  const base = xbase;
  let cursor = tableAt + ptrCount * 8;
  const addr: number[] = [];
  for (const s of strings) {
    addr.push(base + cursor);
    cursor += encoder.encodeInto(s, bytes.subarray(cursor)).written;
    bytes[cursor++] = 0;
  }
  // The passed fds: an s32 array after the strings, 4-aligned.
  cursor = (cursor + 3) & ~3;
  const passAt = cursor;
  for (const fd of spec.passFds) {
    v.setInt32(cursor, fd, true);
    cursor += 4;
  }
  let slot = tableAt;
  const put = (p: number) => {
    v.setBigUint64(slot, BigInt(p), true);
    slot += 8;
  };
  const argvAt = tableAt;
  for (let i = 0; i < spec.argv.length; i++) put(addr[i] as number);
  put(0);
  const envAt = slot;
  for (let i = 0; i < spec.env.length; i++) put(addr[spec.argv.length + i] as number);
  put(0);
  const n = spec.argv.length + spec.env.length;
  const X = (f: Parameters<typeof at<"xreq">>[1]) => at("xreq", f);
  v.setInt32(X("pidfd"), spec.pidfd, true);
  v.setUint32(X("ns_flags"), spec.nsFlags >>> 0, true);
  v.setInt32(X("nfds"), spec.fds.length, true);
  v.setInt32(
    X("opts"),
    (spec.fork ? CONSTS.XOPT_FORK : 0) |
      (spec.mountProc ? CONSTS.XOPT_MOUNT_PROC : 0) |
      (spec.newPid ? CONSTS.XOPT_NEW_PID : 0) |
      (spec.propagation === "slave" ? CONSTS.XOPT_SLAVE : 0) |
      (spec.propagation === "shared" ? CONSTS.XOPT_SHARED : 0) |
      (spec.propagation === "private" ? CONSTS.XOPT_PRIVATE : 0) |
      (spec.keepCaps ? CONSTS.XOPT_KEEP_CAPS : 0) |
      (spec.timeOffsets !== null ? CONSTS.XOPT_TIME_OFFSETS : 0) |
      (spec.ownMm ? CONSTS.XOPT_OWN_MM : 0) |
      (spec.newSession ? CONSTS.XOPT_NEW_SESSION : 0) |
      (spec.ctty >= 0 ? CONSTS.XOPT_CTTY : 0),
    true,
  );
  v.setInt32(X("ctty"), spec.ctty, true);
  for (let i = 0; i < 3; i++) v.setInt32(X("stdio") + 4 * i, spec.stdio[i] as number, true);
  spec.fds.forEach(([fd, type], i) => {
    v.setInt32(X("fds") + 4 * i, fd, true);
    v.setUint32(X("types") + 4 * i, type >>> 0, true);
  });
  v.setInt32(X("stack_len"), X_STACK, true);
  v.setBigUint64(X("argv"), BigInt(base + argvAt), true);
  v.setBigUint64(X("envp"), BigInt(base + envAt), true);
  v.setBigUint64(X("path"), spec.path === null ? 0n : BigInt(addr[n] as number), true);
  v.setBigUint64(X("cwd"), spec.cwd === null ? 0n : BigInt(addr[n + 1] as number), true);
  v.setInt32(X("uid"), spec.uid, true);
  v.setInt32(X("gid"), spec.gid, true);
  v.setUint32(X("unshare"), spec.unshare >>> 0, true);
  v.setInt32(X("kill_sig"), spec.killSignal, true);
  v.setBigUint64(X("root"), spec.root === null ? 0n : BigInt(addr[n + 2] as number), true);
  v.setBigUint64(X("proc_dir"), spec.procDir === null ? 0n : BigInt(addr[n + 3] as number), true);
  const t = spec.timeOffsets;
  [t?.monotonic[0], t?.monotonic[1], t?.boottime[0], t?.boottime[1]].forEach((x, i) => {
    v.setBigInt64(X("time_off") + 8 * i, BigInt(x ?? 0), true);
  });
  v.setBigUint64(X("pass"), BigInt(base + passAt), true);
  v.setInt32(X("npass"), spec.passFds.length, true);
  const rc = call(OPS.exec, base, reg, rec);
  const head = readHead(v, "xreq");
  const step = EXEC_STEPS[head.step] ?? "none";
  const err = head.errno;
  if (rc <= 0) {
    freeRecord(rec);
    return { ok: false, errno: err || -rc || 22, step };
  }
  return { ok: true, pid: rc, pidfd: v.getInt32(X("cmd_pidfd"), true), rec, execErrno: step === "exec" ? err : 0 };
}

/** -EAGAIN while running; else the code, or CONSTS.POLL_SIGNALED+N for signal N, reaped; or -errno. */
export function execPoll(pidfd: number): number {
  return call(OPS.exec_poll, null, pidfd, 0);
}
