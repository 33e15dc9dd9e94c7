/**
 * The idmapped mounts' codec (native/mount.c): struct mount_req (a detached
 * idmapped clone) and struct target_req (attach, unmount), and statfs.
 */

import { pathBytes, type Refusal, readRefusal } from "../core/block.ts";
import { at, BLOCKS, MOUNT_STEPS as MOUNT_STEP_TABLE, OPS } from "../core/contract.ts";
import { call } from "../core/native.ts";

export type { Refusal };

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

function answer(rc: number, buf: Uint8Array, pathAt: number, ownerAt: number): MountAnswer {
  return mountStepOf(rc) === "resolve" ? { rc, refused: readRefusal(buf, pathAt, ownerAt) } : { rc };
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
  return answer(call(OPS.open_tree_idmap, buf, 0, 0), buf, MREQ_PATH, MREQ_OWNER);
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
  const a = answer(call(OPS.attach_tree, buf, 0, 0), buf, TREQ_PATH, TREQ_OWNER);
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
  return answer(call(OPS.umount, buf, 0, 0), buf, TREQ_PATH, TREQ_OWNER);
}

/** statfs(path).f_type (the filesystem magic), or undefined. */
export function fsType(path: string): number | undefined {
  const p = pathBytes(path, 4096);
  if (p === undefined) return undefined;
  const buf = new Uint8Array(BLOCKS.fs_query.size);
  buf.set(p, at("fs_query", "path"));
  const rc = call(OPS.fs_type, buf, 0, 0);
  if (rc < 0) return undefined;
  return Number(new DataView(buf.buffer).getBigUint64(at("fs_query", "magic"), true));
}
