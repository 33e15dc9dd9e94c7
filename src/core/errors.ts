/** Errors with Go-compatible messages and machine-readable fields. */
import type { EXEC_STEPS, SANDBOX_STEPS } from "./contract.ts";
import { HELPER_STEPS } from "./contract.ts";

/** A helper's steps (the contract's step table, native/abi.h STEPS), by the number the C reports. */
export const NATIVE_STEPS = HELPER_STEPS.map(([step]) => step);
export type NativeStep = (typeof HELPER_STEPS)[number][0];
/** A command's steps (the contract's XSTEPS, native/exec.c): where spawnInside's entering child failed. */
export type ExecStep = (typeof EXEC_STEPS)[number][0];
/** A sandbox's steps (the contract's SSTEPS, native/sandbox.c). */
export type SandboxStep = (typeof SANDBOX_STEPS)[number][0];

/** Where in the sequence an error arose. */
export type Step =
  | NativeStep
  | ExecStep
  | SandboxStep
  | "flags"
  | "options"
  | "pidfd"
  | "parse"
  | "native"
  | "liveness"
  | "kill"
  | "open"
  | "proc"
  | "subid"
  | "newuidmap"
  | "newgidmap"
  /* spawnInside: its stdio pipes, and the wait for its command */
  | "pipe"
  | "wait"
  /* mounts */
  | "open_tree"
  | "mount_setattr"
  | "move_mount"
  | "umount"
  /* namespaces as fds and files */
  | "namespace"
  | "pin"
  | "unpin"
  | "time_offsets";

import { UsernsError, type UsernsErrorFields } from "./usernserror.ts";

export { UsernsError, type UsernsErrorFields } from "./usernserror.ts";

/** Errno names and Go's lowercase texts (`syscall.Errno.Error()` on Linux). */
const ERRNO: Record<number, [string, string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  3: ["ESRCH", "no such process"],
  4: ["EINTR", "interrupted system call"],
  5: ["EIO", "input/output error"],
  6: ["ENXIO", "no such device or address"],
  7: ["E2BIG", "argument list too long"],
  8: ["ENOEXEC", "exec format error"],
  9: ["EBADF", "bad file descriptor"],
  10: ["ECHILD", "no child processes"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "cannot allocate memory"],
  13: ["EACCES", "permission denied"],
  14: ["EFAULT", "bad address"],
  16: ["EBUSY", "device or resource busy"],
  17: ["EEXIST", "file exists"],
  19: ["ENODEV", "no such device"],
  20: ["ENOTDIR", "not a directory"],
  21: ["EISDIR", "is a directory"],
  22: ["EINVAL", "invalid argument"],
  23: ["ENFILE", "too many open files in system"],
  24: ["EMFILE", "too many open files"],
  25: ["ENOTTY", "inappropriate ioctl for device"],
  28: ["ENOSPC", "no space left on device"],
  30: ["EROFS", "read-only file system"],
  34: ["ERANGE", "numerical result out of range"],
  36: ["ENAMETOOLONG", "file name too long"],
  38: ["ENOSYS", "function not implemented"],
  40: ["ELOOP", "too many levels of symbolic links"],
  75: ["EOVERFLOW", "value too large for defined data type"],
  87: ["EUSERS", "too many users"],
  95: ["EOPNOTSUPP", "operation not supported"],
  110: ["ETIMEDOUT", "connection timed out"],
};

export const EPERM = 1;
export const ESRCH = 3;
export const EBADF = 9;
export const EACCES = 13;
export const EINVAL = 22;
export const EAGAIN = 11;
export const ENOSPC = 28;
export const ENOSYS = 38;
export const ETIMEDOUT = 110;

export function errnoName(errno: number): string {
  return ERRNO[errno]?.[0] ?? `E${errno}`;
}

/** Go's text for an errno: `syscall.Errno(n).Error()`. */
export function errnoText(errno: number): string {
  return ERRNO[errno]?.[1] ?? `errno ${errno}`;
}

/** What the kernel said, as Go would print it: `<syscall>: <errno text>` parts. */
export function syscallError(step: Step, syscall: string, errno: number, message: string, hint?: string): UsernsError {
  return new UsernsError(message, { code: errnoName(errno), errno, syscall, step, hint });
}

/** A rule broken before anything was created (maps, flags, options). */
export function invalid(step: Step, message: string, extra: Partial<UsernsErrorFields> = {}): UsernsError {
  return new UsernsError(message, { code: "EINVAL", errno: EINVAL, step, ...extra });
}
