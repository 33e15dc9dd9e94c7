/** UsernsErrors for the idmapped-mount steps, with a hint for each known cause. */
import { errnoName, errnoText, type Step, syscallError, type UsernsError } from "../core/errors.ts";
import * as native from "../core/native.ts";

export type MountStep = "open_tree" | "mount_setattr" | "move_mount" | "umount";
const STEP_OF: Record<number, MountStep> = { 1: "open_tree", 2: "mount_setattr", 3: "move_mount", 4: "umount" };
const SYSCALL_OF: Record<MountStep, string> = {
  open_tree: "open_tree",
  mount_setattr: "mount_setattr",
  move_mount: "move_mount",
  umount: "umount2",
};

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
  const magic = native.fsType(path);
  if (magic === undefined) return "unknown";
  return FS_NAMES[magic] ?? `unknown (magic 0x${magic.toString(16)})`;
}

/** Is FD a user-namespace fd? (NS_GET_OWNER_UID answers only for one.) */
function isUserns(fd: number): boolean {
  return native.ownerUid(fd) >= 0;
}

export interface MountContext {
  source?: string;
  target?: string;
  usernsFd?: number;
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

/** Decode -(step * 1000 + errno) from native/mount.c into a UsernsError. */
export function mountError(rc: number, ctx: MountContext): UsernsError {
  const step = STEP_OF[Math.floor(-rc / 1000)] ?? "open_tree";
  const errno = -rc % 1000;
  const syscall = SYSCALL_OF[step];
  const what =
    step === "open_tree"
      ? `open_tree ${ctx.source}`
      : step === "mount_setattr"
        ? `mount_setattr ${ctx.source} (MOUNT_ATTR_IDMAP)`
        : step === "move_mount"
          ? `move_mount ${ctx.source ?? "tree"} onto ${ctx.target}`
          : `umount2 ${ctx.target}`;
  return syscallError(
    step as Step,
    syscall,
    errno,
    `${what}: ${errnoText(errno)} (${errnoName(errno)})`,
    mountHint(step, errno, ctx),
  );
}
