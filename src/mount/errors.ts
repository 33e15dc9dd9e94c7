/** UsernsErrors for the idmapped-mount steps, with a hint for each known cause. */
import { readFileSync, realpathSync } from "node:fs";
import { resolve } from "node:path";
import { MOUNT_STEPS } from "../core/contract.ts";
import { errnoName, errnoText, type Step, syscallError, type UsernsError } from "../core/errors.ts";
import * as processCodec from "../core/process-codec.ts";
import * as mountCodec from "./mount-codec.ts";

export type MountStep = "open_tree" | "mount_setattr" | "move_mount" | "umount";
/** The contract's mount steps (MSTEPS) that a failure names as its step. */
const STEP_OF: Partial<Record<mountCodec.MountStepName, MountStep>> = {
  open_tree: "open_tree",
  mount_setattr: "mount_setattr",
  move_mount: "move_mount",
  umount: "umount",
};
const SYSCALL_OF = Object.fromEntries(MOUNT_STEPS) as Record<MountStep, string>;

/** statfs magics (include/uapi/linux/magic.h) of filesystems a hint may name. */
const FS_NAMES: Record<number, string> = {
  61267: "ext4",
  1481003842: "xfs",
  2435016766: "btrfs",
  2035054128: "overlay",
  16914836: "tmpfs",
  1702057286: "fuse",
  40864: "proc",
  1650812274: "sysfs",
  26985: "nfs",
  16914839: "9p",
  2508478710: "hugetlbfs",
  4979: "devtmpfs/devfs",
  2613483: "cgroup",
  1667723888: "cgroup2",
  1936814952: "squashfs",
  538032816: "exfat",
  19780: "vfat",
  4076150800: "f2fs",
  2240043254: "ramfs",
  1684170528: "debugfs",
  1953653091: "tracefs",
  3405662737: "bpf",
  1397118030: "ntfs",
  4283649346: "cifs",
  1853056627: "nsfs",
};

/** "ext4", or "unknown (0x…)": the filesystem at PATH, for messages. */
export function fsName(path: string): string {
  const magic = mountCodec.fsType(path);
  if (magic === undefined) return "unknown";
  return FS_NAMES[magic] ?? `unknown (magic 0x${magic.toString(16)})`;
}

/** Is FD a user-namespace fd? (NS_GET_OWNER_UID answers only for one.) */
function isUserns(fd: number): boolean {
  return processCodec.ownerUid(fd) >= 0;
}

export interface MountContext {
  source?: string;
  target?: string;
  usernsFd?: number;
  /** The tree was opened with AT_RECURSIVE (submounts cloned and idmapped too). */
  recursive?: boolean;
  /** The mount a handle attached, which its unmount must find at TARGET. */
  mountId?: bigint;
}

/** mountinfo's octal escapes (\040 for a space) decoded. */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Mount points strictly under DIR (its real path), with their filesystem type, shallowest first. */
function submountsUnder(dir: string): { path: string; fs: string }[] {
  let real: string;
  let info: string;
  try {
    real = realpathSync(dir);
    info = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const prefix = real === "/" ? "/" : `${real}/`;
  const out: { path: string; fs: string }[] = [];
  for (const line of info.split("\n")) {
    const f = line.split(" ");
    const at = unescapeMountinfo(f[4] ?? "");
    const fs = f[f.indexOf("-") + 1] ?? "";
    if (at.startsWith(prefix) && at !== real) out.push({ path: at, fs });
  }
  return out.sort((a, b) => a.path.split("/").length - b.path.split("/").length);
}

/** Does a detached, non-recursive idmapped clone of PATH work with this user namespace? */
function idmapsAlone(path: string, usernsFd: number): boolean | undefined {
  const r = mountCodec.openTreeIdmap({
    path: resolve(path),
    usernsFd,
    attrSet: 0,
    attrClr: 0,
    propagation: 0,
    recursive: false,
  });
  if (r.rc >= 0) {
    processCodec.close(r.rc);
    return true;
  }
  return r.step === "mount_setattr" && r.rc === -22 ? false : undefined;
}

/**
 * A recursive idmap refused with EINVAL: which mount of the tree refused.
 * SOURCE's own mount first, then each submount alone (a namespace pin, an
 * nsfs mount, is a common one under /tmp or /run). Probes are detached
 * clones, closed at once: nothing is attached.
 */
export function refusingMount(
  source: string,
  usernsFd: number,
): { path: string; fs: string; top: boolean } | undefined {
  if (idmapsAlone(source, usernsFd) === false) return { path: source, fs: fsName(source), top: true };
  for (const m of submountsUnder(source)) {
    if (idmapsAlone(m.path, usernsFd) === false) return { path: m.path, fs: m.fs, top: false };
  }
  return undefined;
}

/** The hint for ERRNO at STEP, naming the filesystem and path where that is the cause. */
export function mountHint(step: MountStep, errno: number, ctx: MountContext): string | undefined {
  const src = ctx.source ?? "";
  switch (errno) {
    case 38:
      return "the kernel has no new mount API (open_tree/mount_setattr/move_mount need Linux 5.12 or later)";
    case 2:
      return step === "open_tree"
        ? `the source ${src} does not exist`
        : `the target ${ctx.target ?? ""} does not exist (create the mountpoint first)`;
    case 22:
      if (step === "mount_setattr") {
        if (ctx.usernsFd !== undefined && !isUserns(ctx.usernsFd))
          return `fd ${ctx.usernsFd} is not a user-namespace fd (open /proc/PID/ns/user or use getUsernsFd)`;
        if (ctx.recursive && ctx.usernsFd !== undefined) {
          const m = refusingMount(src, ctx.usernsFd);
          if (m && !m.top)
            return `the submount ${m.path} (${m.fs}${m.fs === "nsfs" ? ": a namespace pin" : ""}) under ${src} does not support idmapped mounts, and a recursive mount idmaps every submount; --no-recursive / { recursive: false } leaves submounts out (${kernelTable()})`;
        }
        return `the ${fsName(src)} filesystem at ${src} does not support idmapped mounts on this kernel (${kernelTable()}; never NFS, 9p, hugetlbfs, procfs; with a recursive mount, every submount must support them too)`;
      }
      if (step === "move_mount") return `the target ${ctx.target ?? ""} cannot take this mount`;
      if (step === "umount") return `${ctx.target ?? ""} is not a mountpoint`;
      return undefined;
    case 1:
      if (step === "mount_setattr")
        return "idmapping needs CAP_SYS_ADMIN over the user namespace given and over the filesystem's own user namespace; the initial user namespace cannot be used, and a mount that is already idmapped cannot be idmapped again";
      return "mounting needs CAP_SYS_ADMIN in the caller's mount namespace (run as root)";
    case 13:
      return "search permission denied on a component of the path";
    case 16:
      return step === "umount"
        ? `${ctx.target ?? ""} is busy (files open or a process's cwd there); --lazy / { detach: true } detaches it now and frees it when unused`
        : "the mount is busy";
    case 9:
      return "the descriptor is closed or not a mount/namespace fd";
    default:
      return undefined;
  }
}

export function kernelTable(): string {
  return "ext4/xfs 5.12, btrfs 5.15, overlayfs 5.19, tmpfs 6.3, FUSE 6.12";
}

/** The step a path walk refused in: where its path was going. */
export type MountPhase = "open_tree" | "move_mount" | "umount";

/** A path walk (native/resolve.c) refused a component: the error names it and the rule. */
function walkError(phase: MountPhase, errno: number, refused: mountCodec.Refusal, ctx: MountContext): UsernsError {
  const named = phase === "open_tree" ? `source ${ctx.source}` : `target ${ctx.target}`;
  const rule =
    refused.owner === undefined
      ? `${refused.at}: ${errnoText(errno)}`
      : refused.owner === 0
        ? `${refused.at} is root's symlink in a directory another uid can write (or below one): it is not followed, as that uid could have moved it there`
        : `${refused.at} is a symlink owned by uid ${refused.owner}: only root's symlinks are followed (another uid could swap it between check and use)`;
  return syscallError(
    phase as Step,
    "openat",
    errno,
    `${SYSCALL_OF[phase]} ${named}: ${rule} (${errnoName(errno)})`,
    refused.owner !== undefined
      ? "name the real directory (readlink -f), or have root own the link"
      : errno === 2
        ? `${refused.at} does not exist`
        : undefined,
  );
}

/** A native/mount.c failure (-errno, and the step that failed) as a UsernsError. */
export function mountError(a: mountCodec.MountAnswer, ctx: MountContext, phase: MountPhase = "open_tree"): UsernsError {
  const errno = -a.rc;
  if (a.step !== undefined && a.refused) return walkError(phase, errno, a.refused, ctx);
  if (a.step === "other_mount") {
    return syscallError(
      "umount",
      "statx",
      errno,
      `umount2 ${ctx.target}: the mount there is not the one this handle attached (mount id ${ctx.mountId}): a handle unmounts only its own mount; nothing was unmounted (EINVAL)`,
      "another mount was stacked on it or took its place; unmount(path) removes whatever is mounted at a path",
    );
  }
  const step = STEP_OF[a.step ?? "open_tree"] ?? "open_tree";
  const syscall = SYSCALL_OF[step];
  const what =
    step === "open_tree"
      ? `open_tree ${ctx.source}`
      : step === "mount_setattr"
        ? `mount_setattr ${ctx.source} (MOUNT_ATTR_IDMAP)`
        : step === "move_mount"
          ? `move_mount ${ctx.source ?? "tree"} onto ${ctx.target}`
          : `umount2 ${ctx.target}`;
  if (step === "move_mount" && errno === 40) {
    return syscallError(
      step,
      "openat",
      errno,
      `${what}: the target is a symlink (ELOOP)`,
      "a mount is never attached on a symlink nor on what it points to: name the real directory",
    );
  }
  return syscallError(
    step as Step,
    syscall,
    errno,
    `${what}: ${errnoText(errno)} (${errnoName(errno)})`,
    mountHint(step, errno, ctx),
  );
}
