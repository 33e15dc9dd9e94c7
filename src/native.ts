/**
 * Loads native/userns.c and owns the FFI symbol table. The only module that
 * sees pointers: everything else gets numbers, strings and opaque slots.
 *
 * Default: compiled once per thread by bun:ffi's TinyCC with -nostdlib (works
 * with only the Bun binary). BUN_USERNS_LIB=/path/libuserns.so: dlopen a
 * gcc build of the same file instead.
 */
import { cc, dlopen, type FFIFunction, ptr } from "bun:ffi";
import { UsernsError } from "./errors.ts";

/**
 * One bound symbol, `bun_userns(op, ptr, x, y)`: Bun compiles a trampoline for
 * every symbol it binds (~0.35 ms each), which a one-shot `bunx` pays at start.
 */
const SYMBOLS = {
  bun_userns: { args: ["i32", "ptr", "i32", "i32"], returns: "i32" },
} as const satisfies Record<string, FFIFunction>;

/** enum op of native/userns.c. */
const OP = {
  spawn: 0,
  alive: 1,
  release: 2,
  close: 3,
  openNs: 4,
  probePidfd: 5,
  capEffective: 6,
  ownerUid: 7,
  idmapProbe: 8,
} as const;

export const SOURCE_PATH = `${import.meta.dir}/../native/userns.c`.replace(/\/src\/\.\.\//, "/");

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
  if (process.arch !== "x64") {
    throw new UsernsError(`bun-userns: unsupported architecture ${process.arch} (x64 only)`, {
      code: "ENOSYS",
      errno: 38,
      step: "native",
    });
  }
  try {
    const l = so ? dlopen(so, SYMBOLS) : cc({ source: SOURCE_PATH, flags: ["-nostdlib"], symbols: SYMBOLS });
    info = { mode: so ? "dlopen" : "cc", path: so || SOURCE_PATH, loadMs: performance.now() - t0 };
    return l.symbols.bun_userns as Entry;
  } catch (cause) {
    throw new UsernsError(
      `bun-userns: cannot load the native helper (${so ? `dlopen ${so}` : "cc"}): ${String(cause)}`,
      {
        code: "ENOEXEC",
        errno: 8,
        step: "native",
        cause,
      },
    );
  }
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

/* The request block of native/userns.c (struct req). */
const OFF_FLAGS = 0;
const OFF_OWNER = 8;
const OFF_SETGROUPS = 12;
const OFF_UID_LEN = 16;
const OFF_GID_LEN = 20;
const OFF_STEP = 32;
const OFF_ERR = 36;
const OFF_PIDFD = 44;
const OFF_STACK_LEN = 48;
const OFF_UID_TEXT = 64;
const MAP_TEXT_MAX = 4096;
const OFF_GID_TEXT = OFF_UID_TEXT + MAP_TEXT_MAX;
const STACK_LEN = 16384;
const SLOT_BYTES = OFF_GID_TEXT + MAP_TEXT_MAX + STACK_LEN;

/** Step numbers of native/userns.c (enum step). */
const STEPS = [
  "none",
  "sigmask",
  "capget",
  "setresuid",
  "clone",
  "uid_map",
  "setgroups",
  "gid_map",
  "close_range",
  "unshare",
  "mount",
  "pdeathsig",
  "parent_gone",
  "ptrace",
  "park",
  "restore",
] as const;
export type NativeStep = (typeof STEPS)[number];

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
}

export type SpawnResult =
  | { ok: true; pid: number; pidfd: number; slot: Slot }
  | { ok: false; errno: number; step: NativeStep };

function putAscii(bytes: Uint8Array, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) bytes[at + i] = s.charCodeAt(i);
}

let spawns = 0;
/** How many helpers this thread has tried to start (tests prove "nothing was created"). */
export function spawnAttempts(): number {
  return spawns;
}

/** Start a parked helper; on failure nothing is left behind. */
export function spawn(spec: SpawnSpec): SpawnResult {
  spawns++;
  const slot = pool.pop() ?? new Slot();
  const v = slot.view;
  v.setBigUint64(OFF_FLAGS, BigInt(spec.flags), true);
  v.setInt32(OFF_OWNER, spec.ownerUid, true);
  v.setInt32(OFF_SETGROUPS, { auto: 0, allow: 1, deny: 2 }[spec.setgroups], true);
  v.setInt32(OFF_UID_LEN, spec.uidText.length, true);
  v.setInt32(OFF_GID_LEN, spec.gidText.length, true);
  v.setInt32(OFF_STACK_LEN, STACK_LEN, true);
  putAscii(slot.bytes, OFF_UID_TEXT, spec.uidText);
  putAscii(slot.bytes, OFF_GID_TEXT, spec.gidText);
  const pid = call(OP.spawn, slot.address, 0, 0);
  if (pid > 0) return { ok: true, pid, pidfd: v.getInt32(OFF_PIDFD, true), slot };
  const step = STEPS[v.getInt32(OFF_STEP, true)] ?? "none";
  const errno = v.getInt32(OFF_ERR, true) || -pid;
  releaseSlot(slot);
  return { ok: false, errno, step };
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

/** 0, or -(step * 1000 + errno): 1 pidfd_open, 2 pidfd_send_signal, 3 waitid. */
export function probePidfd(): number {
  return call(OP.probePidfd, null, 0, 0);
}

/** 0, or -(step * 1000 + errno): 1 open_tree, 2 mount_setattr(MOUNT_ATTR_IDMAP). */
export function idmapProbe(path: string, usernsFd: number): number {
  return call(OP.idmapProbe, cstr(path), usernsFd, 0);
}
