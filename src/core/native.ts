/**
 * Loads native/userns.c and owns the FFI symbol table. The only module that
 * sees pointers: everything else gets numbers, strings and opaque slots.
 *
 * Default: compiled once per thread by bun:ffi's TinyCC with -nostdlib (works
 * with only the Bun binary). BUN_USERNS_LIB=/path/libuserns.so: dlopen a
 * gcc build of the same file instead.
 */

import { cc, dlopen, type FFIFunction, ptr } from "bun:ffi";
import { readFileSync } from "node:fs";
import {
  ABI_VERSION,
  at,
  BLOCKS,
  CONSTS,
  contractDiff,
  EXEC_STEPS as EXEC_STEP_TABLE,
  HELPER_STEPS,
  MOUNT_STEPS as MOUNT_STEP_TABLE,
  NS_STEPS as NS_STEP_TABLE,
  OPS,
  PIN_WHYS,
} from "./contract.ts";
import { NATIVE_STEPS, type NativeStep, UsernsError } from "./errors.ts";

export type { NativeStep };

/**
 * One bound symbol, `bun_userns(op, ptr, x, y)`: Bun compiles a trampoline for
 * every symbol it binds, which a one-shot `bunx` pays at start (docs/performance.md).
 */
const SYMBOLS = {
  bun_userns: { args: ["i32", "ptr", "i32", "i32"], returns: "i32" },
} as const satisfies Record<string, FFIFunction>;

const OP = OPS;

export const SOURCE_PATH = `${import.meta.dir}/../../native/userns.c`.replace(/\/src\/core\/\.\.\/\.\.\//, "/");

export interface NativeInfo {
  mode: "cc" | "dlopen";
  path: string;
  loadMs: number;
}

type Entry = (op: number, p: number | Uint8Array | null, x: number, y: number) => number;
let entry: Entry | undefined;
let info: NativeInfo | undefined;

function load(): Entry {
  const t0 = performance.now();
  const so = process.env.BUN_USERNS_LIB;
  /* aarch64. native/userns.c has the syscalls and assembly of these two only. */
  if (process.arch !== "x64" && process.arch !== "arm64") {
    throw new UsernsError(`bun-userns: unsupported architecture ${process.arch} (x64 and arm64 only)`, {
      code: "ENOSYS",
      errno: 38,
      step: "native",
    });
  }
  let fn: Entry;
  try {
    const l = so ? dlopen(so, SYMBOLS) : cc({ source: SOURCE_PATH, flags: ["-nostdlib"], symbols: SYMBOLS });
    fn = l.symbols.bun_userns as Entry;
  } catch (cause) {
    throw new UsernsError(
      `bun-userns: cannot load the native helper (${so ? `dlopen ${so}` : "cc"}): ${String(cause)}`,
      { code: "ENOEXEC", errno: 8, step: "native", cause },
    );
  }
  checkContract(fn, so || SOURCE_PATH);
  info = { mode: so ? "dlopen" : "cc", path: so || SOURCE_PATH, loadMs: performance.now() - t0 };
  return fn;
}

/**
 * The C's own text of the contract (native/abi.h, OP_ABI) must be ours
 * (contract.ts) line for line: ops, every request block's fields, every step
 * table and option bit. A build that differs in anything is refused, naming
 * what differs, before any call could misread it.
 */
function checkContract(fn: Entry, path: string): void {
  const buf = new Uint8Array(65536);
  const n = fn(OP.abi, buf, buf.length, 0);
  const text = n > 0 ? new TextDecoder().decode(buf.subarray(0, n)) : "";
  const diff = text.startsWith("abi ")
    ? contractDiff(text)
    : [`the build answers no contract (${JSON.stringify(text.slice(0, 60) || n)}): built before abi ${ABI_VERSION}`];
  if (diff.length === 0) return;
  const shown = diff.slice(0, 6).join("; ") + (diff.length > 6 ? `; and ${diff.length - 6} more` : "");
  throw new UsernsError(
    `bun-userns: ${path} does not match this version of the package: ${shown}; rebuild it from native/userns.c`,
    { code: "ENOEXEC", errno: 8, step: "native" },
  );
}

function call(op: number, p: number | Uint8Array | null, x: number, y: number): number {
  if (entry === undefined) entry = load();
  return entry(op, p, x, y);
}

/** How the native layer was loaded (loads it if needed). */
export function nativeInfo(): NativeInfo {
  if (entry === undefined) entry = load();
  return info as NativeInfo;
}

const HELPER_SYSCALL = Object.fromEntries(HELPER_STEPS) as Record<NativeStep, string>;
/** The syscall that fails at a helper's step (the contract's step table). */
export function stepSyscall(step: NativeStep): string {
  return HELPER_SYSCALL[step];
}

/* struct req (native/abi.h): the helper's request block, then its stack. */
const OFF_FLAGS = at("req", "flags");
const OFF_OWNER = at("req", "owner_uid");
const OFF_SETGROUPS = at("req", "setgroups");
const OFF_UID_LEN = at("req", "uid_len");
const OFF_GID_LEN = at("req", "gid_len");
const OFF_STEP = at("req", "step");
const OFF_ERR = at("req", "err");
const OFF_PIDFD = at("req", "pidfd");
const OFF_STACK_LEN = at("req", "stack_len");
const OFF_PARK_EXEC = at("req", "park_exec");
const OFF_UID_TEXT = at("req", "uid_text");
const OFF_GID_TEXT = at("req", "gid_text");
const MAP_TEXT_MAX = BLOCKS.req.fields.uid_text[1];
const STACK_LEN = 16384;
const SLOT_BYTES = BLOCKS.req.size + STACK_LEN;

/**
 * Memory a helper runs on (its stack and request block). Kept by the helper's
 * owner until the helper is reaped, then reused: pages stay faulted in.
 */
export class Slot {
  readonly bytes = new Uint8Array(SLOT_BYTES);
  readonly view = new DataView(this.bytes.buffer);
  readonly address = ptr(this.bytes);
}

const pool: Slot[] = [];
const POOL_MAX = 32;

export function releaseSlot(slot: Slot): void {
  if (pool.length < POOL_MAX) pool.push(slot);
}

export interface SpawnSpec {
  flags: number;
  /** Euid to create the user namespace as, or -1. */
  ownerUid: number;
  /** "auto": "allow", or "deny" where the parent user namespace forbids "allow". */
  setgroups: "allow" | "deny" | "auto";
  /** / of a new mount namespace, set by the helper (default private). */
  propagation?: "private" | "slave" | "shared" | "unchanged";
  uidText: string;
  gidText: string;
  /**
   * How the helper keeps Bun's memory from whoever gains CAP_SYS_PTRACE in its
   * namespaces: "exec" leaves Bun's mm by exec'ing the park program after
   * setup; "seal" makes the mm non-dumpable for good (only for a caller that
   * keeps ptrace access to a sealed mm: CAP_SYS_PTRACE).
   */
  park: "exec" | "seal";
}

export type SpawnResult =
  | { ok: true; pid: number; pidfd: number; slot: Slot; rec: number }
  | { ok: false; errno: number; step: NativeStep }
  | { ok: false; mapper: MapperFailure };

/**
 * Writes uid_map and gid_map of the waiting helper PID from outside
 * (newuidmap/newgidmap), or says why it could not. The helper cannot be
 * reaped meanwhile, so PID cannot be reused.
 */
export type MapWriter = (pid: number) => MapperFailure | undefined;
export interface MapperFailure {
  readonly error: Error;
}

/** The map texts are ASCII digits, spaces and newlines, shorter than the C's buffers ("": left unwritten). */
function putText(bytes: Uint8Array, at: number, s: string): boolean {
  if (s.length >= MAP_TEXT_MAX) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 10 && c !== 32 && (c < 48 || c > 57)) return false;
    bytes[at + i] = c;
  }
  return true;
}

let spawns = 0;
/** How many helpers this thread has tried to start (tests prove "nothing was created"). */
export function spawnAttempts(): number {
  return spawns;
}

function failure(slot: Slot, rc: number): SpawnResult {
  const v = slot.view;
  const step = NATIVE_STEPS[v.getInt32(OFF_STEP, true)] ?? "none";
  const errno = v.getInt32(OFF_ERR, true) || -rc;
  releaseSlot(slot);
  return { ok: false, errno, step };
}

/**
 * Start a parked helper: clone (it waits), write its maps, let it unshare
 * and park. On failure nothing is left behind.
 */
export function spawn(spec: SpawnSpec, writer?: MapWriter): SpawnResult {
  spawns++;
  const slot = pool.pop() ?? new Slot();
  const v = slot.view;
  v.setBigUint64(OFF_FLAGS, BigInt(spec.flags), true);
  v.setInt32(OFF_OWNER, spec.ownerUid, true);
  v.setInt32(
    OFF_SETGROUPS,
    { auto: CONSTS.SETGROUPS_AUTO, allow: CONSTS.SETGROUPS_ALLOW, deny: CONSTS.SETGROUPS_DENY }[spec.setgroups],
    true,
  );
  v.setInt32(
    at("req", "propagation"),
    {
      private: CONSTS.PROP_PRIVATE,
      slave: CONSTS.PROP_SLAVE,
      shared: CONSTS.PROP_SHARED,
      unchanged: CONSTS.PROP_UNCHANGED,
    }[spec.propagation ?? "private"],
    true,
  );
  v.setInt32(OFF_UID_LEN, spec.uidText.length, true);
  v.setInt32(OFF_GID_LEN, spec.gidText.length, true);
  v.setInt32(OFF_STACK_LEN, STACK_LEN, true);
  v.setInt32(OFF_PARK_EXEC, spec.park === "exec" ? 1 : 0, true);
  if (!putText(slot.bytes, OFF_UID_TEXT, spec.uidText) || !putText(slot.bytes, OFF_GID_TEXT, spec.gidText)) {
    v.setInt32(OFF_STEP, 0, true);
    v.setInt32(OFF_ERR, 22, true);
    return failure(slot, -22);
  }
  const reg = registry();
  const rec = takeRecord();
  const pid = call(OP.clone, slot.address, reg, rec);
  if (pid <= 0) {
    freeRecord(rec);
    return failure(slot, pid);
  }
  const abort = (err: number): number => {
    const rc = recordCall(RA.abort, rec, err, slot.address);
    freeRecord(rec);
    return rc;
  };
  if (writer) {
    const setgroups = call(OP.write_setgroups, slot.address, 0, 0);
    if (setgroups < 0) return failure(slot, abort(setgroups));
    let failed: MapperFailure | undefined;
    try {
      failed = writer(pid);
    } catch (error) {
      failed = { error: error as Error };
    }
    if (failed) {
      abort(-1);
      releaseSlot(slot);
      return { ok: false, mapper: failed };
    }
  } else {
    const mapped = call(OP.write_maps, slot.address, 0, 0);
    if (mapped < 0) return failure(slot, abort(mapped));
  }
  const parked = call(OP.start, slot.address, reg, rec);
  if (parked <= 0) {
    freeRecord(rec);
    return failure(slot, parked);
  }
  return { ok: true, pid, pidfd: v.getInt32(OFF_PIDFD, true), slot, rec };
}

/** 0 while parked; -ESRCH once dead, reaped elsewhere or being killed. */
export function alive(pidfd: number, pid: number): number {
  return call(OP.alive, null, pidfd, pid);
}

/** SIGKILL, reap, close the pidfd; -errno of the kill (-ESRCH: already reaped elsewhere). */
export function release(pidfd: number): number {
  return call(OP.release, null, pidfd, 0);
}

export function close(fd: number): number {
  return call(OP.close, null, fd, 0);
}

const encoder = new TextEncoder();
function cstr(s: string): Uint8Array {
  return encoder.encode(`${s}\0`);
}

const NS_NAMES = new Map<string, Uint8Array>();
/** Open /proc/PID/ns/NAME O_RDONLY|O_CLOEXEC: fd or -errno. */
export function openNs(pid: number, name: string): number {
  let bytes = NS_NAMES.get(name);
  if (bytes === undefined) {
    bytes = cstr(name);
    NS_NAMES.set(name, bytes);
  }
  return call(OP.open_ns, bytes, pid, 0);
}

/** NS_GET_OWNER_UID of a user-namespace fd: uid or -errno. */
export function ownerUid(fd: number): number {
  const out = new Uint32Array(1);
  const rc = call(OP.owner_uid, new Uint8Array(out.buffer), fd, 0);
  return rc < 0 ? rc : (out[0] as number);
}

/** Capabilities 0-30 of this thread's effective set (0 on error). */
export function capEffective(): number {
  return Math.max(call(OP.cap_effective, null, 0, 0), 0);
}

/** 0, or -(step * 1000 + errno): 1 pidfd_open, 2 pidfd_send_signal, 3 waitid, 4 close_range. */
export function probeKernel(): number {
  return call(OP.probe_kernel, null, 0, 0);
}

/** Soft RLIMIT_NPROC (2147483647 for unlimited), or -errno. */
export function nprocLimit(): number {
  return call(OP.nproc_limit, null, 0, 0);
}

/* idmapped mounts (native/mount.c): struct mount_req and struct target_req ----------- */
const MREQ_PATH = at("mount_req", "path");
const MREQ_OWNER = at("mount_req", "owner");
const TREQ_PATH = at("target_req", "path");
const TREQ_OWNER = at("target_req", "owner");

export interface OpenTreeSpec {
  path: string;
  usernsFd: number;
  attrSet: number;
  attrClr: number;
  propagation: number;
  recursive: boolean;
}

/** Where a path walk (native/resolve.c) refused: the component as walked, and a refused symlink's owner. */
export interface Refusal {
  at: string;
  owner?: number;
}

/**
 * A mount call's answer: 0 / an fd, or -(step * 1000 + errno); step 6: the
 * walk refused at `refused`; step 7: another mount than `mountId` is there.
 */
export interface MountAnswer {
  rc: number;
  refused?: Refusal;
  /** attachTree: the attached mount's id (STATX_MNT_ID_UNIQUE where the kernel has it); 0n if unknown. */
  mountId?: bigint;
}

/** A path's bytes, without a NUL: the zeroed request block supplies it. Undefined when they do not fit beside it (or hold a NUL). */
function pathBytes(s: string, max: number): Uint8Array | undefined {
  const b = encoder.encode(s);
  if (b.length >= max || b.includes(0)) return undefined;
  return b;
}

function refusal(buf: Uint8Array, pathAt: number, ownerAt: number): Refusal {
  const end = buf.indexOf(0, pathAt);
  const owner = new DataView(buf.buffer).getUint32(ownerAt, true);
  return {
    at: new TextDecoder().decode(buf.subarray(pathAt, end < 0 ? undefined : end)),
    ...(owner !== 0xffffffff ? { owner } : {}),
  };
}

function answer(rc: number, buf: Uint8Array, pathAt: number, ownerAt: number): MountAnswer {
  return mountStepOf(rc) === "resolve" ? { rc, refused: refusal(buf, pathAt, ownerAt) } : { rc };
}

/**
 * Detached idmapped clone of spec.path (resolved once, then open_tree +
 * mount_setattr): its fd, or -(step * 1000 + errno), step 1 open_tree,
 * 2 mount_setattr, 6 the walk.
 */
export function openTreeIdmap(spec: OpenTreeSpec): MountAnswer {
  const path = pathBytes(spec.path, 4096);
  if (path === undefined) return { rc: -(mountStepNumber("open_tree") * 1000 + TOO_LONG) };
  const buf = new Uint8Array(BLOCKS.mount_req.size);
  const v = new DataView(buf.buffer);
  v.setBigUint64(at("mount_req", "attr_set"), BigInt(spec.attrSet), true);
  v.setBigUint64(at("mount_req", "attr_clr"), BigInt(spec.attrClr), true);
  v.setBigUint64(at("mount_req", "propagation"), BigInt(spec.propagation), true);
  v.setInt32(at("mount_req", "userns_fd"), spec.usernsFd, true);
  v.setInt32(at("mount_req", "recursive"), spec.recursive ? 1 : 0, true);
  buf.set(path, MREQ_PATH);
  return answer(call(OP.open_tree_idmap, buf, 0, 0), buf, MREQ_PATH, MREQ_OWNER);
}

function targetReq(target: string, fd: number, flags: number, mountId = 0n): Uint8Array | undefined {
  const t = pathBytes(target, 4096);
  if (t === undefined) return undefined;
  const buf = new Uint8Array(BLOCKS.target_req.size);
  const v = new DataView(buf.buffer);
  v.setInt32(at("target_req", "fd"), fd, true);
  v.setInt32(at("target_req", "flags"), flags, true);
  v.setBigUint64(at("target_req", "mnt_id"), mountId, true);
  buf.set(t, TREQ_PATH);
  return buf;
}

/** A mount step's number in the contract's table (MSTEPS): its failures are -(number * 1000 + errno). */
export function mountStepNumber(step: MountStepName): number {
  return MOUNT_STEP_NAMES.indexOf(step);
}
const MOUNT_STEP_NAMES = MOUNT_STEP_TABLE.map(([name]) => name);
export type MountStepName = (typeof MOUNT_STEP_TABLE)[number][0];
/** The step name of a mount answer's code. */
export function mountStepOf(rc: number): MountStepName | undefined {
  return MOUNT_STEP_NAMES[Math.floor(-rc / 1000)];
}
const TOO_LONG = 36; // ENAMETOOLONG

/** move_mount of tree FD onto TARGET (its directory resolved once, no symlink at its end): 0 or a move_mount failure, or a walk refusal. */
export function attachTree(fd: number, target: string): MountAnswer {
  const buf = targetReq(target, fd, 0);
  if (buf === undefined) return { rc: -(mountStepNumber("move_mount") * 1000 + TOO_LONG) };
  const a = answer(call(OP.attach_tree, buf, 0, 0), buf, TREQ_PATH, TREQ_OWNER);
  return a.rc === 0 ? { rc: 0, mountId: new DataView(buf.buffer).getBigUint64(at("target_req", "mnt_id"), true) } : a;
}

/**
 * umount2 of the mount at TARGET (its directory resolved once): 0 or an
 * umount failure, or a walk refusal; with MOUNTID (not 0n), only that mount:
 * an "other_mount" failure (EINVAL) when another is there.
 */
export function umount(target: string, flags: number, mountId = 0n): MountAnswer {
  const buf = targetReq(target, -1, flags, mountId);
  if (buf === undefined) return { rc: -(mountStepNumber("umount") * 1000 + TOO_LONG) };
  return answer(call(OP.umount, buf, 0, 0), buf, TREQ_PATH, TREQ_OWNER);
}

/** statfs(path).f_type (the filesystem magic), or undefined. */
export function fsType(path: string): number | undefined {
  const p = pathBytes(path, 4096);
  if (p === undefined) return undefined;
  const buf = new Uint8Array(BLOCKS.fs_query.size);
  buf.set(p, at("fs_query", "path"));
  const rc = call(OP.fs_type, buf, 0, 0);
  if (rc < 0) return undefined;
  return Number(new DataView(buf.buffer).getBigUint64(at("fs_query", "magic"), true));
}

/* commands inside namespaces (native/exec.c): struct xreq, then its stack, pointer tables and strings */
const X_HEADER = BLOCKS.xreq.size;
const X_STACK = 65536;
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
  const rc = call(OP.exec, base, reg, rec);
  const step = EXEC_STEPS[v.getInt32(X("step"), true)] ?? "none";
  const err = v.getInt32(X("err"), true);
  if (rc <= 0) {
    freeRecord(rec);
    return { ok: false, errno: err || -rc || 22, step };
  }
  return { ok: true, pid: rc, pidfd: v.getInt32(X("cmd_pidfd"), true), rec, execErrno: step === "exec" ? err : 0 };
}

/** -EAGAIN while running; else the code, or CONSTS.POLL_SIGNALED+N for signal N, reaped; or -errno. */
export function execPoll(pidfd: number): number {
  return call(OP.exec_poll, null, pidfd, 0);
}

/** pidfd_send_signal(pidfd, sig): 0 or -errno. */
export function pidfdSignal(pidfd: number, sig: number): number {
  return call(OP.pidfd_signal, null, pidfd, sig);
}

/** pipe2(O_CLOEXEC), both ends recorded: [read, write] fds and their records, or -errno. */
export function pipe(): { fds: [number, number]; recs: [number, number] } | number {
  const reg = registry();
  const recs: [number, number] = [takeRecord(), takeRecord()];
  const out = new Uint8Array(BLOCKS.pipe_out.size);
  const v = new DataView(out.buffer);
  v.setInt32(at("pipe_out", "read_slot"), recs[0], true);
  v.setInt32(at("pipe_out", "write_slot"), recs[1], true);
  const rc = call(OP.pipe, out, reg, 0);
  if (rc < 0) {
    freeRecord(recs[0]);
    freeRecord(recs[1]);
    return rc;
  }
  return { fds: [v.getInt32(at("pipe_out", "read_fd"), true), v.getInt32(at("pipe_out", "write_fd"), true)], recs };
}

/** pidfd_open(pid, 0) (always close-on-exec): fd or -errno. */
export function openPidfd(pid: number): number {
  return call(OP.pidfd_open, null, pid, 0);
}

/**
 * A new pty, both ends O_CLOEXEC|O_NOCTTY: { master, slave } or -errno. The
 * slave starts with the settings and window size of terminal `like` (-1: the
 * kernel's defaults). The caller closes both.
 */
export function ptyOpen(like: number): { master: number; slave: number } | number {
  const out = new Uint8Array(BLOCKS.pty_out.size);
  const rc = call(OP.pty_open, out, like, 0);
  if (rc < 0) return rc;
  const v = new DataView(out.buffer);
  return { master: v.getInt32(at("pty_out", "master"), true), slave: v.getInt32(at("pty_out", "slave"), true) };
}

export interface Winsize {
  rows: number;
  cols: number;
  xpixel?: number;
  ypixel?: number;
}

/** A terminal's window size (struct winsize) or -errno. */
export function getWinsize(fd: number): Winsize | number {
  const ws = new Uint8Array(BLOCKS.winsize_io.size);
  const rc = call(OP.winsize, ws, fd, 0);
  if (rc < 0) return rc;
  const v = new DataView(ws.buffer);
  const W = (f: Parameters<typeof at<"winsize_io">>[1]) => v.getUint16(at("winsize_io", f), true);
  return { rows: W("rows"), cols: W("cols"), xpixel: W("xpixel"), ypixel: W("ypixel") };
}

/** Set a terminal's window size (on a pty master: SIGWINCH to the slave's foreground group); 0 or -errno. */
export function setWinsize(fd: number, size: Winsize): number {
  const ws = new Uint8Array(BLOCKS.winsize_io.size);
  const v = new DataView(ws.buffer);
  v.setUint16(at("winsize_io", "rows"), size.rows, true);
  v.setUint16(at("winsize_io", "cols"), size.cols, true);
  v.setUint16(at("winsize_io", "xpixel"), size.xpixel ?? 0, true);
  v.setUint16(at("winsize_io", "ypixel"), size.ypixel ?? 0, true);
  return call(OP.winsize, ws, fd, 1);
}

/** epoll_create1(EPOLL_CLOEXEC): the exit watcher's set; fd or -errno. */
export function watchOpen(): number {
  return call(OP.watch_open, null, 0, 0);
}

/** Add a pidfd to the set (EPOLLIN|EPOLLONESHOT): 0 or -errno. */
export function watchAdd(epfd: number, pidfd: number): number {
  return call(OP.watch_add, null, epfd, pidfd);
}

/** Bytes per event slot of watchWait's buffer (native/watch.c). */
export const WATCH_EVENT_BYTES = 16;

/** Block in epoll_pwait until a watched process exited: how many did, or -errno. */
export function watchWait(events: Uint8Array, epfd: number): number {
  const max = Math.floor(events.length / WATCH_EVENT_BYTES);
  if (max < 1) return -22;
  return call(OP.watch_wait, events, epfd, max);
}

/* namespaces as fds and files (native/ns.c): struct ns_query and struct pin_req */
/** NSSTEPS: a pin's or an unpin's steps, by the number the C reports. */
const NS_STEPS = NS_STEP_TABLE.map(([name]) => name);
export type NsStep = (typeof NS_STEP_TABLE)[number][0];

/** A struct ns_query with PATH (too long a path is cut at the C's buffer and fails there). */
function nsBuf(path: string): Uint8Array {
  const b = new Uint8Array(BLOCKS.ns_query.size);
  const p = at("ns_query", "path");
  encoder.encodeInto(path, b.subarray(p, p + BLOCKS.ns_query.fields.path[1] - 1));
  return b;
}

/** Open PATH as a namespace (O_PATH, nsfs check, O_RDONLY|O_CLOEXEC reopen; one open for a /proc/PID/ns link we built): fd and CLONE_NEW* type, or -errno (-ENOTTY: not a namespace). */
export function nsOpen(path: string, procLink = false): { fd: number; type: number } | number {
  const b = nsBuf(path);
  const fd = call(OP.ns_open, b, procLink ? 1 : 0, 0);
  return fd < 0 ? fd : { fd, type: new DataView(b.buffer).getInt32(at("ns_query", "answer"), true) };
}

export interface NsStat {
  /** S_IFMT bits. */
  type: number;
  mountRoot: boolean;
  mountId: number;
  inode: number;
  uid: number;
  /** Bytes, clipped to 2^32-1. */
  size: number;
}

/** statx of PATH (not following a last symlink), or of FD when PATH is "": or -errno. */
export function nsStat(path: string, fd = -1): NsStat | number {
  const b = nsBuf(path);
  const rc = call(OP.ns_stat, b, fd, 0);
  if (rc < 0) return rc;
  const v = new DataView(b.buffer);
  // answer[8] (native/ns.c bun_userns_ns_stat): type, mount root, mount id (2 words), inode (2 words), uid, size.
  const word = (i: number) => v.getUint32(at("ns_query", "answer") + 4 * i, true);
  return {
    type: word(0),
    mountRoot: word(1) === 1,
    mountId: word(2) + word(3) * 2 ** 32,
    inode: word(4) + word(5) * 2 ** 32,
    uid: word(6),
    size: word(7),
  };
}

const PREQ_PATH = at("pin_req", "path");
/** PIN_WHYS: why a pin or an unpin was refused. */
const PIN_WHY = PIN_WHYS;
export type PinWhy = (typeof PIN_WHY)[number];

/** What a pin made: unpin compares it before it unmounts or unlinks anything. */
export interface PinMade {
  mountId: bigint;
  nsInode: bigint;
  fileInode: bigint;
  devMajor: number;
  devMinor: number;
}

export interface PinFailure {
  errno: number;
  step: NsStep;
  why: PinWhy;
  /** The refused symlink's or file's owner. */
  owner?: number;
  /** After a refused walk: the path as walked up to the component that refused. */
  at?: string;
}

function pinReq(path: string, flags: number, made?: PinMade): Uint8Array {
  const b = new Uint8Array(BLOCKS.pin_req.size);
  const v = new DataView(b.buffer);
  v.setInt32(at("pin_req", "flags"), flags, true);
  if (made) {
    v.setBigUint64(at("pin_req", "mnt_id"), made.mountId, true);
    v.setBigUint64(at("pin_req", "ns_ino"), made.nsInode, true);
    v.setBigUint64(at("pin_req", "file_ino"), made.fileInode, true);
    v.setUint32(at("pin_req", "dev_major"), made.devMajor, true);
    v.setUint32(at("pin_req", "dev_minor"), made.devMinor, true);
  }
  encoder.encodeInto(path, b.subarray(PREQ_PATH, PREQ_PATH + BLOCKS.pin_req.fields.path[1] - 1));
  return b;
}

function pinFailure(rc: number, b: Uint8Array): PinFailure {
  const v = new DataView(b.buffer);
  const step = NS_STEPS[v.getInt32(at("pin_req", "step"), true)] ?? "open";
  const why = PIN_WHY[v.getInt32(at("pin_req", "why"), true)] ?? "none";
  const owner = v.getUint32(at("pin_req", "owner"), true);
  const f: PinFailure = { errno: -rc, step, why };
  if (why === "symlink" || why === "owner") f.owner = owner;
  if (step === "resolve") f.at = refusal(b, PREQ_PATH, at("pin_req", "owner")).at;
  return f;
}

/**
 * Bind namespace fd onto PATH (created when `create`; an existing file of the
 * caller's may have content when `overwrite`), its directory resolved once:
 * what it made, or why not.
 */
export function nsPin(nsfd: number, path: string, create: boolean, overwrite = false): { made: PinMade } | PinFailure {
  const b = pinReq(path, (create ? CONSTS.PIN_CREATE : 0) | (overwrite ? CONSTS.PIN_OVERWRITE : 0));
  const rc = call(OP.ns_pin, b, nsfd, 0);
  if (rc !== 0) return pinFailure(rc, b);
  const v = new DataView(b.buffer);
  return {
    made: {
      mountId: v.getBigUint64(at("pin_req", "mnt_id"), true),
      nsInode: v.getBigUint64(at("pin_req", "ns_ino"), true),
      fileInode: v.getBigUint64(at("pin_req", "file_ino"), true),
      devMajor: v.getUint32(at("pin_req", "dev_major"), true),
      devMinor: v.getUint32(at("pin_req", "dev_minor"), true),
    },
  };
}

/**
 * Unmount the namespace pin at PATH (its directory resolved once). With MADE,
 * only that mount, and the file only if it is the one that pin created
 * (unlink); without, any namespace pin, and the file only if it is what a pin
 * creates (empty, 0444-like, the caller's). 0 / { kept } or a failure.
 */
export function nsUnpin(
  path: string,
  made: PinMade | undefined,
  unlink: boolean,
): { unlinked: boolean; why: PinWhy } | PinFailure {
  const b = pinReq(path, unlink ? (made ? CONSTS.PIN_UNLINK : CONSTS.PIN_UNLINK_MADE) : 0, made);
  const rc = call(OP.ns_unpin, b, 0, 0);
  if (rc !== 0) return pinFailure(rc, b);
  const v = new DataView(b.buffer);
  return {
    unlinked: v.getInt32(at("pin_req", "unlinked"), true) === 1,
    why: PIN_WHY[v.getInt32(at("pin_req", "why"), true)] ?? "none",
  };
}

/* ---- the registry (native/registry.c): what this thread's calls hold ---- */
/** The registry's record actions and kinds (the contract's RA_* and REC_*). */
const RA = {
  forget: CONSTS.RA_FORGET,
  close: CONSTS.RA_CLOSE,
  kill: CONSTS.RA_KILL,
  poll: CONSTS.RA_POLL,
  release: CONSTS.RA_RELEASE,
  alive: CONSTS.RA_ALIVE,
  check: CONSTS.RA_CHECK,
  sweep: CONSTS.RA_SWEEP,
  abort: CONSTS.RA_ABORT,
} as const;
export const RECORD_KIND = {
  free: CONSTS.REC_FREE,
  helper: CONSTS.REC_HELPER,
  command: CONSTS.REC_COMMAND,
  pipe: CONSTS.REC_PIPE,
} as const;
export const REGISTRY_HEADER_BYTES = BLOCKS.reg_header.size;
export const RECORD_BYTES = BLOCKS.rec.size;
export const REGISTRY_MAGIC = "bunureg1";
/** What /proc/self/fd/N links to for a registry (memfd_create's name). */
export const REGISTRY_LINK = "/memfd:bun-userns-registry (deleted)";

/** This thread's registry fd (module state is per thread: each Worker loads its own copy). */
let regfd = -1;
const freeRecords: number[] = [];
let nextRecord = 0;
const recArgBytes = new Uint8Array(BLOCKS.rec_args.size);
const recArgs = new DataView(recArgBytes.buffer);

/** A thread's start time (proc(5) stat field 22): with its tid, names it for the whole boot. */
export function threadStart(stat: string): bigint {
  return BigInt(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "0");
}

/** This thread's registry, made at its first call that records anything. */
function registry(): number {
  if (regfd >= 0) return regfd;
  const start = new BigUint64Array([threadStart(readFileSync("/proc/thread-self/stat", "utf8"))]);
  const fd = call(OP.reg_open, new Uint8Array(start.buffer), 0, 0);
  if (fd < 0) {
    throw new UsernsError(`memfd_create: errno ${-fd}`, {
      code: "EMFILE",
      errno: -fd,
      syscall: "memfd_create",
      step: "clone",
      hint: "the registry of this thread's helpers and commands could not be made (too many open files?)",
    });
  }
  regfd = fd;
  return fd;
}

/** Make this thread's registry now (before anything a failure would have to undo). */
export function ensureRegistry(): void {
  registry();
}

function takeRecord(): number {
  return freeRecords.pop() ?? nextRecord++;
}
function freeRecord(rec: number): void {
  freeRecords.push(rec);
}

function recordCall(action: number, rec: number, arg = 0, address = 0): number {
  recArgs.setInt32(at("rec_args", "action"), action, true);
  recArgs.setInt32(at("rec_args", "arg"), arg, true);
  recArgs.setUint32(at("rec_args", "req_lo"), address % 2 ** 32, true);
  recArgs.setUint32(at("rec_args", "req_hi"), Math.floor(address / 2 ** 32), true);
  return call(OP.rec, recArgBytes, registry(), rec);
}

/** Whether an action forgot its record (its fd is closed or was not ours any more). */
function done(rec: number, rc: number): number {
  if (rc !== -9 /* EBADF: not our registry */) freeRecord(rec);
  return rc;
}

/** Kill, reap, close a recorded helper or command: -errno of the kill (-ESRCH: already gone). */
export function recRelease(rec: number): number {
  return done(rec, recordCall(RA.release, rec));
}

/** A recorded helper: 0 while parked, -ESRCH once dead, -EBADF if its pidfd number now names something else. */
export function recAlive(rec: number): number {
  return recordCall(RA.alive, rec);
}

/** Signal a recorded process (through its pidfd while that still names it): 0 or -errno. */
export function recKill(rec: number, sig: number): number {
  return recordCall(RA.kill, rec, sig);
}

/** A recorded command's exit: -EAGAIN while running; else its code, or CONSTS.POLL_SIGNALED+N for signal N (reaped, pidfd closed), or -errno. */
export function recPoll(rec: number): number {
  const rc = recordCall(RA.poll, rec);
  return rc === -11 ? rc : done(rec, rc);
}

/** Close a recorded fd (only if it is still the one recorded). */
export function recClose(rec: number): number {
  return done(rec, recordCall(RA.close, rec));
}

/** The recorded fd if it still names what was recorded, else -EBADF. */
export function recCheck(rec: number): number {
  return recordCall(RA.check, rec);
}

/**
 * End what record `rec` of another (gone) thread's registry `fd` names: a
 * process is killed and reaped, an fd closed if it is still that one. The
 * record's kind, or 0 if it was free.
 */
export function recSweep(fd: number, rec: number): number {
  recArgs.setInt32(at("rec_args", "action"), RA.sweep, true);
  return call(OP.rec, recArgBytes, fd, rec);
}

/* sandbox (native/sandbox.c): the request block is built by src/sandbox/request.ts (offsets only, no pointers). */

/** Start a sandbox from its request block: the monitor's pid (its pidfd recorded as `rec`), or -errno. */
export function sandboxStart(block: Uint8Array): { rc: number; rec: number } {
  const reg = registry();
  const rec = takeRecord();
  const rc = call(OP.sandbox, block, reg, rec);
  if (rc <= 0) freeRecord(rec);
  return { rc, rec };
}
