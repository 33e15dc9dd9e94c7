/**
 * Loads native/userns.c and owns the FFI symbol table. The only module that
 * sees pointers: everything else gets numbers, strings and opaque slots.
 *
 * Default: compiled once per thread by bun:ffi's TinyCC with -nostdlib (works
 * with only the Bun binary). BUN_USERNS_LIB=/path/libuserns.so: dlopen a
 * gcc build of the same file instead.
 */
import { cc, dlopen, type FFIFunction, ptr } from "bun:ffi";
import { NATIVE_STEPS, type NativeStep, UsernsError } from "./errors.ts";

export type { NativeStep };

/**
 * One bound symbol, `bun_userns(op, ptr, x, y)`: Bun compiles a trampoline for
 * every symbol it binds (~0.35 ms each), which a one-shot `bunx` pays at start.
 */
const SYMBOLS = {
  bun_userns: { args: ["i32", "ptr", "i32", "i32"], returns: "i32" },
} as const satisfies Record<string, FFIFunction>;

/** enum op of native/abi.h. */
const OP = {
  abi: 100,
  clone: 1,
  writeMaps: 2,
  start: 3,
  abort: 4,
  alive: 5,
  release: 6,
  close: 7,
  openNs: 8,
  probeKernel: 9,
  capEffective: 10,
  ownerUid: 11,
  nprocLimit: 13,
  writeSetgroups: 14,
  regOpen: 50,
  rec: 51,
} as const;

/** BUN_USERNS_ABI of native/abi.h: a build of another version is refused at load. */
const ABI_VERSION = 4;

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
  /* issue 12: aarch64. native/userns.c has the syscalls and assembly of these two only. */
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
  syscallOf = checkAbi(fn, so || SOURCE_PATH);
  info = { mode: so ? "dlopen" : "cc", path: so || SOURCE_PATH, loadMs: performance.now() - t0 };
  return fn;
}

/**
 * The C's own description of its ABI: version, request-block size and step
 * table must be what this file was written for. Returns each step's syscall.
 */
function checkAbi(fn: Entry, path: string): Record<NativeStep, string> {
  const buf = new Uint8Array(2048);
  const n = fn(OP.abi, buf, buf.length, 0);
  const text = n > 0 ? new TextDecoder().decode(buf.subarray(0, n)) : "";
  const m = /^abi=(\d+) req=(\d+) steps=(.*)$/.exec(text);
  const steps = (m?.[3] ?? "").split(",").filter(Boolean);
  const names = steps.map((s) => s.slice(0, s.indexOf(":")));
  if (
    Number(m?.[1]) !== ABI_VERSION ||
    Number(m?.[2]) !== OFF_GID_TEXT + MAP_TEXT_MAX ||
    names.join() !== NATIVE_STEPS.join()
  ) {
    throw new UsernsError(
      `bun-userns: ${path} does not match this version of the package (wanted abi=${ABI_VERSION} req=${OFF_GID_TEXT + MAP_TEXT_MAX} and its step table, got ${JSON.stringify(text.slice(0, 80) || n)}); rebuild it from native/userns.c`,
      { code: "ENOEXEC", errno: 8, step: "native" },
    );
  }
  return Object.fromEntries(steps.map((s) => s.split(":"))) as Record<NativeStep, string>;
}

let syscallOf: Record<NativeStep, string> | undefined;

function call(op: number, p: number | Uint8Array | null, x: number, y: number): number {
  if (entry === undefined) entry = load();
  return entry(op, p, x, y);
}

/** How the native layer was loaded (loads it if needed). */
export function nativeInfo(): NativeInfo {
  if (entry === undefined) entry = load();
  return info as NativeInfo;
}

/** The syscall that failed at a step, as the C's step table names it. */
export function stepSyscall(step: NativeStep): string {
  if (entry === undefined) entry = load();
  return (syscallOf as Record<NativeStep, string>)[step];
}

/* The request block of native/abi.h (struct req). */
const OFF_FLAGS = 0;
const OFF_OWNER = 8;
const OFF_SETGROUPS = 12;
const OFF_UID_LEN = 16;
const OFF_GID_LEN = 20;
const OFF_STEP = 32;
const OFF_ERR = 36;
const OFF_PIDFD = 44;
const OFF_STACK_LEN = 48;
const OFF_PARK_EXEC = 64;
const OFF_UID_TEXT = 80;
const MAP_TEXT_MAX = 4096;
const OFF_GID_TEXT = OFF_UID_TEXT + MAP_TEXT_MAX;
const STACK_LEN = 16384;
const SLOT_BYTES = OFF_GID_TEXT + MAP_TEXT_MAX + STACK_LEN;

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

/** The map texts are ASCII digits, spaces and newlines, shorter than the C's buffers. */
function putText(bytes: Uint8Array, at: number, s: string): boolean {
  if (s.length === 0 || s.length >= MAP_TEXT_MAX) return false;
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
  v.setInt32(OFF_SETGROUPS, { auto: 0, allow: 1, deny: 2 }[spec.setgroups], true);
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
    const setgroups = call(OP.writeSetgroups, slot.address, 0, 0);
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
    const mapped = call(OP.writeMaps, slot.address, 0, 0);
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
  return call(OP.openNs, bytes, pid, 0);
}

/** NS_GET_OWNER_UID of a user-namespace fd: uid or -errno. */
export function ownerUid(fd: number): number {
  const out = new Uint32Array(1);
  const rc = call(OP.ownerUid, new Uint8Array(out.buffer), fd, 0);
  return rc < 0 ? rc : (out[0] as number);
}

/** Capabilities 0-30 of this thread's effective set (0 on error). */
export function capEffective(): number {
  return Math.max(call(OP.capEffective, null, 0, 0), 0);
}

/** 0, or -(step * 1000 + errno): 1 pidfd_open, 2 pidfd_send_signal, 3 waitid, 4 close_range. */
export function probeKernel(): number {
  return call(OP.probeKernel, null, 0, 0);
}

/** Soft RLIMIT_NPROC (2147483647 for unlimited), or -errno. */
export function nprocLimit(): number {
  return call(OP.nprocLimit, null, 0, 0);
}

/* issue 9: mounts (native/mount.c, ops 20-23) ------------------------------------- */
const OP_MOUNT = { openTreeIdmap: 20, attachTree: 21, umount: 22, fsType: 23 } as const;
/** struct mount_req of native/mount.c. */
const MREQ_PATH = 32;
const MREQ_OWNER = MREQ_PATH + 4096;
const MREQ_BYTES = MREQ_OWNER + 8;
/** struct target_req of native/mount.c. */
const TREQ_PATH = 32;

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

/** A mount call's answer: 0 / an fd, or -(step * 1000 + errno); step 6: the walk refused at `refused`. */
export interface MountAnswer {
  rc: number;
  refused?: Refusal;
}

/** Path bytes plus NUL, or undefined when they do not fit (or hold a NUL). */
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
  return Math.floor(-rc / 1000) === 6 ? { rc, refused: refusal(buf, pathAt, ownerAt) } : { rc };
}

/**
 * Detached idmapped clone of spec.path (resolved once, then open_tree +
 * mount_setattr): its fd, or -(step * 1000 + errno), step 1 open_tree,
 * 2 mount_setattr, 6 the walk.
 */
export function openTreeIdmap(spec: OpenTreeSpec): MountAnswer {
  const path = pathBytes(spec.path, 4096);
  if (path === undefined) return { rc: -(1000 + 36) };
  const buf = new Uint8Array(MREQ_BYTES);
  const v = new DataView(buf.buffer);
  v.setBigUint64(0, BigInt(spec.attrSet), true);
  v.setBigUint64(8, BigInt(spec.attrClr), true);
  v.setBigUint64(16, BigInt(spec.propagation), true);
  v.setInt32(24, spec.usernsFd, true);
  v.setInt32(28, spec.recursive ? 1 : 0, true);
  buf.set(path, MREQ_PATH);
  return answer(call(OP_MOUNT.openTreeIdmap, buf, 0, 0), buf, MREQ_PATH, MREQ_OWNER);
}

function targetReq(target: string, fd: number, flags: number): Uint8Array | undefined {
  const t = pathBytes(target, 4096);
  if (t === undefined) return undefined;
  const buf = new Uint8Array(TREQ_PATH + 4096);
  const v = new DataView(buf.buffer);
  v.setInt32(0, fd, true);
  v.setInt32(4, flags, true);
  buf.set(t, TREQ_PATH);
  return buf;
}

/** move_mount of tree FD onto TARGET (its directory resolved once, no symlink at its end): 0 or -(3000 + errno), or a walk refusal. */
export function attachTree(fd: number, target: string): MountAnswer {
  const buf = targetReq(target, fd, 0);
  if (buf === undefined) return { rc: -(3000 + 36) };
  return answer(call(OP_MOUNT.attachTree, buf, 0, 0), buf, TREQ_PATH, 8);
}

/** umount2 of the mount at TARGET (its directory resolved once): 0 or -(4000 + errno), or a walk refusal. */
export function umount(target: string, flags: number): MountAnswer {
  const buf = targetReq(target, -1, flags);
  if (buf === undefined) return { rc: -(4000 + 36) };
  return answer(call(OP_MOUNT.umount, buf, 0, 0), buf, TREQ_PATH, 8);
}

/** statfs(path).f_type (the filesystem magic), or undefined. */
export function fsType(path: string): number | undefined {
  const p = pathBytes(path, 4096);
  if (p === undefined) return undefined;
  const buf = new Uint8Array(8 + p.length + 1);
  buf.set(p, 8);
  const rc = call(OP_MOUNT.fsType, buf, 0, 0);
  if (rc < 0) return undefined;
  return Number(new DataView(buf.buffer).getBigUint64(0, true));
}

/* issue 11: exec — struct xreq of native/exec.c, the entering child's request. */
const OP_EXEC = 30;
const OP_EXEC_POLL = 31;
const OP_PIPE = 32;
const OP_EXEC_KILL = 33;
const OP_PIDFD_OPEN = 34;
/* issue 11: exit notices (native/watch.c) */
const OP_WATCH = { open: 35, add: 36, wait: 37 } as const;
const X_HEADER = 192;
const X_STACK = 65536;
const X_FD_MAX = 8;
/** enum xstep of native/exec.c. */
export const EXEC_STEPS = [
  "none",
  "sigmask",
  "clone",
  "pdeathsig",
  "parent_gone",
  "stdio",
  "setns_fd",
  "setns",
  "close_range",
  "chdir",
  "fork",
  "mount_proc",
  "exec",
  "pidfd_open",
  "unshare",
  "propagation",
  "setid",
  "gate",
  "stopped",
  "dumpable",
  "killed",
] as const;
export type ExecStep = (typeof EXEC_STEPS)[number];

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
  /** Mount propagation of / to set before exec (the helper left it private). */
  propagation?: "slave" | "shared";
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
 * the child has let go of Bun's memory, so no child still reads it. Allocating
 * (and zeroing) 64 KiB of stack per call was a fifth of spawnInside's time.
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
  const strings = [...spec.argv, ...spec.env, spec.path ?? "", spec.cwd ?? ""];
  const tableAt = X_HEADER + X_STACK;
  const ptrCount = spec.argv.length + 1 + spec.env.length + 1;
  // UTF-8 takes at most 3 bytes per UTF-16 unit, plus the NUL.
  let bound = tableAt + ptrCount * 8 + 8;
  for (const s of strings) bound += s.length * 3 + 1;
  const bytes = requestBlock(bound);
  const v = xview as DataView;
  const base = xbase;
  let at = tableAt + ptrCount * 8;
  const addr: number[] = [];
  for (const s of strings) {
    addr.push(base + at);
    at += encoder.encodeInto(s, bytes.subarray(at)).written;
    bytes[at++] = 0;
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
  v.setInt32(0, spec.pidfd, true);
  v.setUint32(4, spec.nsFlags >>> 0, true);
  v.setInt32(8, spec.fds.length, true);
  v.setInt32(
    12,
    (spec.fork ? 1 : 0) |
      (spec.mountProc ? 2 : 0) |
      (spec.newPid ? 4 : 0) |
      (spec.propagation === "slave" ? 8 : 0) |
      (spec.propagation === "shared" ? 16 : 0) |
      (spec.ownMm ? 32 : 0),
    true,
  );
  for (let i = 0; i < 3; i++) v.setInt32(16 + 4 * i, spec.stdio[i] as number, true);
  spec.fds.forEach(([fd, type], i) => {
    v.setInt32(48 + 4 * i, fd, true);
    v.setUint32(80 + 4 * i, type >>> 0, true);
  });
  v.setInt32(112, X_STACK, true);
  v.setBigUint64(120, BigInt(base + argvAt), true);
  v.setBigUint64(128, BigInt(base + envAt), true);
  v.setBigUint64(136, spec.path === null ? 0n : BigInt(addr[n] as number), true);
  v.setBigUint64(144, spec.cwd === null ? 0n : BigInt(addr[n + 1] as number), true);
  v.setInt32(152, spec.uid, true);
  v.setInt32(156, spec.gid, true);
  const rc = call(OP_EXEC, base, reg, rec);
  const step = EXEC_STEPS[v.getInt32(40, true)] ?? "none";
  const err = v.getInt32(44, true);
  if (rc <= 0) {
    freeRecord(rec);
    return { ok: false, errno: err || -rc || 22, step };
  }
  return { ok: true, pid: rc, pidfd: v.getInt32(36, true), rec, execErrno: step === "exec" ? err : 0 };
}

/** -EAGAIN while running; else the shell status (code, 128+N), reaped; or -errno. */
export function execPoll(pidfd: number): number {
  return call(OP_EXEC_POLL, null, pidfd, 0);
}

/** pidfd_send_signal: 0 or -errno. */
export function execKill(pidfd: number, sig: number): number {
  return call(OP_EXEC_KILL, null, pidfd, sig);
}

/** pipe2(O_CLOEXEC), both ends recorded: [read, write] fds and their records, or -errno. */
export function pipe(): { fds: [number, number]; recs: [number, number] } | number {
  const reg = registry();
  const recs: [number, number] = [takeRecord(), takeRecord()];
  const out = new Int32Array([-1, -1, recs[0], recs[1]]);
  const rc = call(OP_PIPE, new Uint8Array(out.buffer), reg, 0);
  if (rc < 0) {
    freeRecord(recs[0]);
    freeRecord(recs[1]);
    return rc;
  }
  return { fds: [out[0] as number, out[1] as number], recs };
}

/** pidfd_open(pid, 0) (always close-on-exec): fd or -errno. */
export function openPidfd(pid: number): number {
  return call(OP_PIDFD_OPEN, null, pid, 0);
}

/** epoll_create1(EPOLL_CLOEXEC): the exit watcher's set; fd or -errno. */
export function watchOpen(): number {
  return call(OP_WATCH.open, null, 0, 0);
}

/** Add a pidfd to the set (EPOLLIN|EPOLLONESHOT): 0 or -errno. */
export function watchAdd(epfd: number, pidfd: number): number {
  return call(OP_WATCH.add, null, epfd, pidfd);
}

/** Bytes per event slot of watchWait's buffer (native/watch.c). */
export const WATCH_EVENT_BYTES = 16;

/** Block in epoll_pwait until a watched process exited: how many did, or -errno. */
export function watchWait(events: Uint8Array, epfd: number): number {
  const max = Math.floor(events.length / WATCH_EVENT_BYTES);
  if (max < 1) return -22;
  return call(OP_WATCH.wait, events, epfd, max);
}

/* issue 11: namespaces as fds and files (native/ns.c, ops 40-44) */
const NS_OP = { open: 40, stat: 42, pin: 43, unpin: 44 } as const;
/** enum ns_step of native/ns.c. */
const NS_STEPS = ["done", "open", "check", "mount", "umount", "unlink", "resolve"] as const;
export type NsStep = (typeof NS_STEPS)[number];

/** 32 bytes the op answers into, then PATH as a C string. */
function nsBuf(path: string): Uint8Array {
  const b = new Uint8Array(32 + Buffer.byteLength(path) + 1);
  encoder.encodeInto(path, b.subarray(32));
  return b;
}

/** Open PATH as a namespace (O_PATH, nsfs check, O_RDONLY|O_CLOEXEC reopen; one open for a /proc/PID/ns link we built): fd and CLONE_NEW* type, or -errno (-ENOTTY: not a namespace). */
export function nsOpen(path: string, procLink = false): { fd: number; type: number } | number {
  const b = nsBuf(path);
  const fd = call(NS_OP.open, b, procLink ? 1 : 0, 0);
  return fd < 0 ? fd : { fd, type: new DataView(b.buffer).getInt32(0, true) };
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
  const rc = call(NS_OP.stat, b, fd, 0);
  if (rc < 0) return rc;
  const v = new DataView(b.buffer);
  const u64 = (o: number) => v.getUint32(o, true) + v.getUint32(o + 4, true) * 2 ** 32;
  return {
    type: v.getUint32(0, true),
    mountRoot: v.getUint32(4, true) === 1,
    mountId: u64(8),
    inode: u64(16),
    uid: v.getUint32(24, true),
    size: v.getUint32(28, true),
  };
}

/** struct pin_req of native/ns.c. */
const PREQ_PATH = 64;
/** enum pin_why of native/ns.c. */
const PIN_WHY = [
  "none",
  "symlink",
  "not-file",
  "mounted",
  "not-empty",
  "owner",
  "not-pin",
  "other-pin",
  "kept",
] as const;
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
  const b = new Uint8Array(PREQ_PATH + 4096);
  const v = new DataView(b.buffer);
  v.setInt32(12, flags, true);
  if (made) {
    v.setBigUint64(16, made.mountId, true);
    v.setBigUint64(24, made.nsInode, true);
    v.setBigUint64(32, made.fileInode, true);
    v.setUint32(40, made.devMajor, true);
    v.setUint32(44, made.devMinor, true);
  }
  encoder.encodeInto(path, b.subarray(PREQ_PATH, PREQ_PATH + 4095));
  return b;
}

function pinFailure(rc: number, b: Uint8Array): PinFailure {
  const v = new DataView(b.buffer);
  const step = NS_STEPS[v.getInt32(0, true)] ?? "open";
  const why = PIN_WHY[v.getInt32(4, true)] ?? "none";
  const owner = v.getUint32(8, true);
  const f: PinFailure = { errno: -rc, step, why };
  if (why === "symlink" || why === "owner") f.owner = owner;
  if (step === "resolve") f.at = refusal(b, PREQ_PATH, 8).at;
  return f;
}

/** Bind namespace fd onto PATH (created when `create`), its directory resolved once: what it made, or why not. */
export function nsPin(nsfd: number, path: string, create: boolean): { made: PinMade } | PinFailure {
  const b = pinReq(path, create ? 1 : 0);
  const rc = call(NS_OP.pin, b, nsfd, 0);
  if (rc !== 0) return pinFailure(rc, b);
  const v = new DataView(b.buffer);
  return {
    made: {
      mountId: v.getBigUint64(16, true),
      nsInode: v.getBigUint64(24, true),
      fileInode: v.getBigUint64(32, true),
      devMajor: v.getUint32(40, true),
      devMinor: v.getUint32(44, true),
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
  const b = pinReq(path, unlink ? (made ? 2 : 4) : 0, made);
  const rc = call(NS_OP.unpin, b, 0, 0);
  if (rc !== 0) return pinFailure(rc, b);
  const v = new DataView(b.buffer);
  return { unlinked: v.getInt32(48, true) === 1, why: PIN_WHY[v.getInt32(4, true)] ?? "none" };
}

/* ---- the registry (native/registry.c): what this thread's calls hold ---- */
/** enum rec_action of native/registry.c. */
const RA = { forget: 0, close: 1, kill: 2, poll: 3, release: 4, alive: 5, check: 6, sweep: 7, abort: 8 } as const;
/** enum rec_kind of native/registry.c. */
export const RECORD_KIND = { free: 0, helper: 1, command: 2, pipe: 3 } as const;
export const REGISTRY_HEADER_BYTES = 64;
export const RECORD_BYTES = 32;
export const REGISTRY_MAGIC = "bunureg1";
/** What /proc/self/fd/N links to for a registry (memfd_create's name). */
export const REGISTRY_LINK = "/memfd:bun-userns-registry (deleted)";

/** This thread's registry fd (module state is per thread: each Worker loads its own copy). */
let regfd = -1;
const freeRecords: number[] = [];
let nextRecord = 0;
const recArgs = new Int32Array(4);
const recArgBytes = new Uint8Array(recArgs.buffer);

/** A thread's start time (proc(5) stat field 22): with its tid, names it for the whole boot. */
export function threadStart(stat: string): bigint {
  return BigInt(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "0");
}

/** This thread's registry, made at its first call that records anything. */
function registry(): number {
  if (regfd >= 0) return regfd;
  const { readFileSync } = require("node:fs") as typeof import("node:fs");
  const start = new BigUint64Array([threadStart(readFileSync("/proc/thread-self/stat", "utf8"))]);
  const fd = call(OP.regOpen, new Uint8Array(start.buffer), 0, 0);
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
  recArgs[0] = action;
  recArgs[1] = arg;
  recArgs[2] = (address % 2 ** 32) | 0;
  recArgs[3] = Math.floor(address / 2 ** 32) | 0;
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

/** A recorded command's exit: -EAGAIN while running; else its shell status (reaped, pidfd closed) or -errno. */
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
  recArgs[0] = RA.sweep;
  return call(OP.rec, recArgBytes, fd, rec);
}

/* sandbox (native/sandbox.c): the request block is built by src/sandbox/request.ts (offsets only, no pointers). */
const OP_SANDBOX = 60;
const OP_SANDBOX_ABI = 61;

/** Start a sandbox from its request block: the monitor's pid (its pidfd recorded as `rec`), or -errno. */
export function sandboxStart(block: Uint8Array): { rc: number; rec: number } {
  const reg = registry();
  const rec = takeRecord();
  const rc = call(OP_SANDBOX, block, reg, rec);
  if (rc <= 0) freeRecord(rec);
  return { rc, rec };
}

/** native/sandbox.c's description of its block and step table. */
export function sandboxAbi(): string {
  const buf = new Uint8Array(4096);
  const n = call(OP_SANDBOX_ABI, buf, buf.length, 0);
  return n > 0 ? new TextDecoder().decode(buf.subarray(0, n)) : "";
}
