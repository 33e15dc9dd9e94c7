/**
 * A pty for a command that must not hold the caller's terminal (a command
 * of another host uid: see src/cli/pty.ts), and its window size. Both ends
 * are O_CLOEXEC|O_NOCTTY (native/pty.c).
 */
import * as processCodec from "../core/process-codec.ts";

/** A new pty whose slave starts with the settings and size of terminal LIKE (-1: the kernel's): both ends, or -errno. */
export function openPty(like: number): { master: number; slave: number } | number {
  return processCodec.ptyOpen(like);
}

/** Close one end of a pty (or any fd this process holds). */
export function closePtyEnd(fd: number): void {
  processCodec.close(fd);
}

/** Give terminal TO the window size of terminal FROM (on a pty master: SIGWINCH to the slave's foreground group). */
export function copyWindowSize(from: number, to: number): void {
  const ws = processCodec.getWinsize(from);
  if (typeof ws !== "number") processCodec.setWinsize(to, ws);
}

/**
 * Whether a descriptor is a terminal, without node:tty (its first import
 * builds Node's stream classes, a cost larger than Bun's whole start): the
 * kernel answers TIOCGWINSZ on every tty and ENOTTY (or EBADF) on anything else.
 */
export function isTerminal(fd: number): boolean {
  return typeof processCodec.getWinsize(fd) !== "number";
}
