/**
 * The registry (native/registry.c): what this thread's calls hold, recorded by
 * the native call that creates it, in a memfd of the thread's own. Record
 * numbers are handed out here; the actions on a record (release, kill, poll,
 * close, sweep) run in the C, which checks the record still names what it did.
 */
import { readFileSync } from "node:fs";
import { at, BLOCKS, CONSTS, OPS } from "./contract.ts";
import { UsernsError } from "./errors.ts";
import { call } from "./native.ts";

/** The registry's record actions (the contract's RA_*). */
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
/** What a record holds (the contract's REC_*). */
export const RECORD_KIND = {
  free: CONSTS.REC_FREE,
  helper: CONSTS.REC_HELPER,
  command: CONSTS.REC_COMMAND,
  pipe: CONSTS.REC_PIPE,
} as const;
const HEADER_BYTES = BLOCKS.reg_header.size;
const RECORD_BYTES = BLOCKS.rec.size;
const MAGIC = "bunureg1";
/** What /proc/self/fd/N links to for a registry (memfd_create's name). */
export const REGISTRY_LINK = "/memfd:bun-userns-registry (deleted)";

/** This thread's registry fd (module state is per thread: each Worker loads its own copy). */
let regfd = -1;
const freeRecords: number[] = [];
let nextRecord = 0;
let recArgBytes: Uint8Array | undefined;
let recArgs: DataView | undefined;

/** A thread's start time (proc(5) stat field 22): with its tid, names it for the whole boot. */
export function threadStart(stat: string): bigint {
  return BigInt(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "0");
}

/** This thread's registry fd, made at its first call that records anything. */
export function registry(): number {
  if (regfd >= 0) return regfd;
  const start = new BigUint64Array([threadStart(readFileSync("/proc/thread-self/stat", "utf8"))]);
  const fd = call(OPS.reg_open, new Uint8Array(start.buffer), 0, 0);
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

/** A free record number for a call about to record something. */
export function takeRecord(): number {
  return freeRecords.pop() ?? nextRecord++;
}
/** Give back a record number the C left free (its call failed, or its action forgot it). */
export function freeRecord(rec: number): void {
  freeRecords.push(rec);
}

function recordCall(action: number, rec: number, arg = 0, address = 0, fd = registry()): number {
  if (recArgs === undefined) {
    recArgBytes = new Uint8Array(BLOCKS.rec_args.size);
    recArgs = new DataView(recArgBytes.buffer);
  }
  recArgs.setInt32(at("rec_args", "action"), action, true);
  recArgs.setInt32(at("rec_args", "arg"), arg, true);
  recArgs.setUint32(at("rec_args", "req_lo"), address % 2 ** 32, true);
  recArgs.setUint32(at("rec_args", "req_hi"), Math.floor(address / 2 ** 32), true);
  return call(OPS.rec, recArgBytes as Uint8Array, fd, rec);
}

/** Whether an action forgot its record (its fd is closed or was not ours any more). */
function done(rec: number, rc: number): number {
  if (rc !== -9 /* EBADF: not our registry */) freeRecord(rec);
  return rc;
}

/**
 * A helper waiting for its maps (its request block at ADDRESS) is told to
 * give up with -ERR, killed and reaped; its record is freed. The C's answer.
 */
export function recAbort(rec: number, err: number, address: number): number {
  const rc = recordCall(RA.abort, rec, err, address);
  freeRecord(rec);
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
  return recordCall(RA.sweep, rec, 0, 0, fd);
}

/** A registry's contents as read from its memfd: its thread, and the records in use. */
export interface RegistryImage {
  tid: number;
  start: bigint;
  inUse: number[];
}

/** Decode BYTES read from a registry memfd; undefined if they are not a registry's. */
export function readRegistry(bytes: Uint8Array): RegistryImage | undefined {
  if (bytes.length < HEADER_BYTES) return undefined;
  const magic = at("reg_header", "magic");
  for (let i = 0; i < MAGIC.length; i++) if (bytes[magic + i] !== MAGIC.charCodeAt(i)) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = Math.floor((bytes.length - HEADER_BYTES) / RECORD_BYTES);
  const inUse: number[] = [];
  for (let i = 0; i < count; i++)
    if (v.getInt32(HEADER_BYTES + i * RECORD_BYTES + at("rec", "kind"), true) !== RECORD_KIND.free) inUse.push(i);
  return {
    tid: v.getInt32(at("reg_header", "tid"), true),
    start: v.getBigUint64(at("reg_header", "start"), true),
    inUse,
  };
}
