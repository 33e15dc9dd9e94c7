/**
 * The codec of namespaces as files (native/ns.c): statx of a namespace file
 * or its directory, and the pins (struct ns_query, struct pin_req). Opening
 * a namespace is below every domain: src/core/process-codec.ts.
 */
import { putCut, readCString, readHead } from "../core/block.ts";
import { at, BLOCKS, CONSTS, NS_STEPS as NS_STEP_TABLE, OPS, PIN_WHYS } from "../core/contract.ts";
import { call } from "../core/native.ts";

/** NSSTEPS: a pin's or an unpin's steps, by the number the C reports. */
const NS_STEPS = NS_STEP_TABLE.map(([name]) => name);
export type NsStep = (typeof NS_STEP_TABLE)[number][0];

/** A struct ns_query with PATH (too long a path is cut at the C's buffer and fails there). */
function nsBuf(path: string): Uint8Array {
  const b = new Uint8Array(BLOCKS.ns_query.size);
  putCut(b, at("ns_query", "path"), BLOCKS.ns_query.fields.path[1], path);
  return b;
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
  const rc = call(OPS.ns_stat, b, fd, 0);
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
  putCut(b, PREQ_PATH, BLOCKS.pin_req.fields.path[1], path);
  return b;
}

function pinFailure(rc: number, b: Uint8Array): PinFailure {
  const v = new DataView(b.buffer);
  const head = readHead(v, "pin_req");
  const step = NS_STEPS[head.step] ?? "open";
  const why = PIN_WHY[v.getInt32(at("pin_req", "why"), true)] ?? "none";
  const owner = v.getUint32(at("pin_req", "owner"), true);
  const f: PinFailure = { errno: head.errno || -rc, step, why };
  if (why === "symlink" || why === "owner") f.owner = owner;
  if (step === "resolve") f.at = readCString(b, PREQ_PATH);
  return f;
}

/**
 * Bind namespace fd onto PATH (created when `create`; an existing file of the
 * caller's may have content when `overwrite`), its directory resolved once:
 * what it made, or why not.
 */
export function nsPin(nsfd: number, path: string, create: boolean, overwrite = false): { made: PinMade } | PinFailure {
  const b = pinReq(path, (create ? CONSTS.PIN_CREATE : 0) | (overwrite ? CONSTS.PIN_OVERWRITE : 0));
  const rc = call(OPS.ns_pin, b, nsfd, 0);
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
  const rc = call(OPS.ns_unpin, b, 0, 0);
  if (rc !== 0) return pinFailure(rc, b);
  const v = new DataView(b.buffer);
  return {
    unlinked: v.getInt32(at("pin_req", "unlinked"), true) === 1,
    why: PIN_WHY[v.getInt32(at("pin_req", "why"), true)] ?? "none",
  };
}
