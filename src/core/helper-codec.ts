/**
 * The helper's codec (native/helper.c, native/spawn.c): struct req, the
 * request block a helper shares with its caller, followed by its stack, and
 * the ops that start, probe and release a helper.
 */
import { ptr } from "bun:ffi";
import { readHead } from "./block.ts";
import { at, BLOCKS, CONSTS, HELPER_STEPS, OPS } from "./contract.ts";
import { NATIVE_STEPS, type NativeStep } from "./errors.ts";
import { call } from "./native.ts";
import { freeRecord, recAbort, registry, takeRecord } from "./registry-codec.ts";

export type { NativeStep };

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
const OFF_PIDFD = at("req", "pidfd");
const OFF_STACK_LEN = at("req", "stack_len");
const OFF_PARK_EXEC = at("req", "park_exec");
const OFF_PROPAGATION = at("req", "propagation");
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

/** A failed op: the step and errno its head names (native/fail.c); the slot goes back to the pool. */
function failure(slot: Slot, rc: number): SpawnResult {
  const head = readHead(slot.view, "req");
  releaseSlot(slot);
  return { ok: false, errno: head.errno || -rc, step: NATIVE_STEPS[head.step] ?? "none" };
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
    OFF_PROPAGATION,
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
    releaseSlot(slot);
    return { ok: false, errno: 22, step: "none" };
  }
  const reg = registry();
  const rec = takeRecord();
  const pid = call(OPS.clone, slot.address, reg, rec);
  if (pid <= 0) {
    freeRecord(rec);
    return failure(slot, pid);
  }
  const abort = (err: number): number => recAbort(rec, err, slot.address);
  if (writer) {
    const setgroups = call(OPS.write_setgroups, slot.address, 0, 0);
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
    const mapped = call(OPS.write_maps, slot.address, 0, 0);
    if (mapped < 0) return failure(slot, abort(mapped));
  }
  const parked = call(OPS.start, slot.address, reg, rec);
  if (parked <= 0) {
    freeRecord(rec);
    return failure(slot, parked);
  }
  return { ok: true, pid, pidfd: v.getInt32(OFF_PIDFD, true), slot, rec };
}

/** 0 while parked; -ESRCH once dead, reaped elsewhere or being killed. */
export function alive(pidfd: number, pid: number): number {
  return call(OPS.alive, null, pidfd, pid);
}

/** SIGKILL, reap, close the pidfd: -errno of the kill (-ESRCH: already reaped elsewhere). */
export function release(pidfd: number): number {
  return call(OPS.release, null, pidfd, 0);
}
