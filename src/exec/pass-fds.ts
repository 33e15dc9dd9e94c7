/**
 * passFds: fds of the caller's that a command keeps at their own numbers
 * (as Python's pass_fds), for spawnInside() and sandbox(). Bun marks every
 * fd it inherits close-on-exec, so without this a command started from Bun
 * gets none past 0-2; the native side clears close-on-exec on these alone,
 * in the command's own fd table, and closes every other.
 */
import { fstatSync } from "node:fs";
import { UsernsError } from "../core/usernserror.ts";

/** More than any real command line passes; the native side walks the list once per fd it keeps. */
export const PASS_FDS_MAX = 4096;

/**
 * The list copied once (a Proxy or getter is read once), each an integer fd
 * past 2 (0-2 are stdio's), as a sorted list without repeats. FAIL makes
 * the error for a bad list, in the caller's words.
 */
export function checkPassFds(value: unknown, fail: (message: string) => Error): number[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw fail(`passFds must be an array of fds, got ${typeof value}`);
  const list = Array.from(value as unknown[]);
  if (list.length > PASS_FDS_MAX) throw fail(`passFds has ${list.length} entries; at most ${PASS_FDS_MAX}`);
  const out = new Set<number>();
  list.forEach((fd, i) => {
    if (typeof fd !== "number" || !Number.isInteger(fd) || fd < 3 || fd > 2 ** 31 - 1)
      throw fail(
        `passFds[${i}] must be an fd from 3 to ${2 ** 31 - 1} (0-2 are stdio's), got ${typeof fd === "number" ? fd : typeof fd}`,
      );
    out.add(fd);
  });
  return [...out].sort((a, b) => a - b);
}

/**
 * The first passed fd that is one of OURS (the fds a start opened itself):
 * another thread closed the caller's fd since it was checked, and the start
 * got its number. Nothing to look at (and nothing built) without passFds.
 */
export function passFdReused(fds: readonly number[], ours: () => Iterable<number>): number | undefined {
  if (fds.length === 0) return undefined;
  const made = new Set(ours());
  return fds.find((fd) => made.has(fd));
}

/** Each fd open now, or a UsernsError naming the first that is not (before anything is started). */
export function checkPassFdsOpen(fds: readonly number[], who: string): void {
  for (const fd of fds) {
    try {
      fstatSync(fd);
    } catch {
      throw new UsernsError(`${who}: passFds: ${fd} is not an open file descriptor`, {
        code: "EBADF",
        errno: 9,
        syscall: "fstat",
        step: "options",
      });
    }
  }
}
