/**
 * The idmapped mounts' codec (native/mount.c): struct mount_req (a detached
 * idmapped clone) and struct target_req (attach, unmount), and statfs.
 * A failure is -errno with the step in the block's head (MSTEPS).
 */
import { newBlock, pathBytes, type Refusal, readHead, readRefusal } from "../core/block.ts";
import { at, BLOCKS, MOUNT_STEPS as MOUNT_STEP_TABLE, OPS } from "../core/contract.ts";
import { call } from "../core/native.ts";

export type { Refusal };

const MOUNT_STEP_NAMES = MOUNT_STEP_TABLE.map(([name]) => name);
export type MountStepName = (typeof MOUNT_STEP_TABLE)[number][0];
const TOO_LONG = 36; // ENAMETOOLONG

export interface OpenTreeSpec {
  path: string;
  usernsFd: number;
  attrSet: number;
  attrClr: number;
  propagation: number;
  recursive: boolean;
}

/** A mount call's answer: 0 / an fd, or -errno and the step that failed. */
export type MountAnswer =
  | {
      rc: number;
      step?: undefined;
      /** attachTree: the attached mount's id (STATX_MNT_ID_UNIQUE where the kernel has it); 0n if unknown. */
      mountId?: bigint;
    }
  | {
      rc: number;
      step: MountStepName;
      /** step "resolve": where the walk refused. */
      refused?: Refusal;
    };

function answer(rc: number, b: { bytes: Uint8Array; view: DataView }, block: "mount_req" | "target_req"): MountAnswer {
  if (rc >= 0) return { rc };
  const head = readHead(b.view, block);
  const step = MOUNT_STEP_NAMES[head.step] ?? "none";
  const errno = head.errno || -rc;
  return step === "resolve"
    ? { rc: -errno, step, refused: readRefusal(b.bytes, at(block, "path"), at(block, "owner")) }
    : { rc: -errno, step };
}

/**
 * Detached idmapped clone of spec.path (resolved once, then open_tree +
 * mount_setattr): its fd, or a failure at open_tree, mount_setattr or the walk.
 */
export function openTreeIdmap(spec: OpenTreeSpec): MountAnswer {
  const path = pathBytes(spec.path, BLOCKS.mount_req.fields.path[1]);
  if (path === undefined) return { rc: -TOO_LONG, step: "open_tree" };
  const b = newBlock("mount_req");
  b.view.setBigUint64(at("mount_req", "attr_set"), BigInt(spec.attrSet), true);
  b.view.setBigUint64(at("mount_req", "attr_clr"), BigInt(spec.attrClr), true);
  b.view.setBigUint64(at("mount_req", "propagation"), BigInt(spec.propagation), true);
  b.view.setInt32(at("mount_req", "userns_fd"), spec.usernsFd, true);
  b.view.setInt32(at("mount_req", "recursive"), spec.recursive ? 1 : 0, true);
  b.bytes.set(path, at("mount_req", "path"));
  return answer(call(OPS.open_tree_idmap, b.bytes, 0, 0), b, "mount_req");
}

function targetReq(target: string, fd: number, flags: number, mountId = 0n) {
  const t = pathBytes(target, BLOCKS.target_req.fields.path[1]);
  if (t === undefined) return undefined;
  const b = newBlock("target_req");
  b.view.setInt32(at("target_req", "fd"), fd, true);
  b.view.setInt32(at("target_req", "flags"), flags, true);
  b.view.setBigUint64(at("target_req", "mnt_id"), mountId, true);
  b.bytes.set(t, at("target_req", "path"));
  return b;
}

/** move_mount of tree FD onto TARGET (its directory resolved once, no symlink at its end): 0 or a move_mount failure, or a walk refusal. */
export function attachTree(fd: number, target: string): MountAnswer {
  const b = targetReq(target, fd, 0);
  if (b === undefined) return { rc: -TOO_LONG, step: "move_mount" };
  const a = answer(call(OPS.attach_tree, b.bytes, 0, 0), b, "target_req");
  return a.rc === 0 ? { rc: 0, mountId: b.view.getBigUint64(at("target_req", "mnt_id"), true) } : a;
}

/**
 * umount2 of the mount at TARGET (its directory resolved once): 0 or an
 * umount failure, or a walk refusal; with MOUNTID (not 0n), only that mount:
 * an "other_mount" failure (EINVAL) when another is there.
 */
export function umount(target: string, flags: number, mountId = 0n): MountAnswer {
  const b = targetReq(target, -1, flags, mountId);
  if (b === undefined) return { rc: -TOO_LONG, step: "umount" };
  return answer(call(OPS.umount, b.bytes, 0, 0), b, "target_req");
}

/** statfs(path).f_type (the filesystem magic), or undefined. */
export function fsType(path: string): number | undefined {
  const p = pathBytes(path, BLOCKS.fs_query.fields.path[1]);
  if (p === undefined) return undefined;
  const b = newBlock("fs_query");
  b.bytes.set(p, at("fs_query", "path"));
  if (call(OPS.fs_type, b.bytes, 0, 0) < 0) return undefined;
  return Number(b.view.getBigUint64(at("fs_query", "magic"), true));
}
