/**
 * The fds past 2 this command was started with. Bun marks every fd it
 * inherits close-on-exec, which no longer tells them from Bun's own, so the
 * launcher (src/bin/bun-userns) lists them before it execs Bun, as
 * BUN_USERNS_INHERITED_FDS="PID: N N …", PID being its own (which exec
 * keeps: ours). A list made for another process, or with an fd no longer
 * open, passes nothing of it. The variable is removed either way: the
 * command must not see it. Started without the launcher (bun src/cli.ts),
 * a command gets no fd past 2.
 */
import { closeSync, fstatSync } from "node:fs";

const VAR = "BUN_USERNS_INHERITED_FDS";

let taken: number[] | undefined;

export function inheritedFds(): number[] {
  if (taken !== undefined) return taken;
  const v = process.env[VAR];
  delete process.env[VAR];
  taken = [];
  const m = v === undefined ? null : /^(\d+):((?: \d+)*)$/.exec(v);
  if (m === null || Number(m[1]) !== process.pid) return taken;
  for (const word of (m[2] as string).split(" ")) {
    const fd = Number(word);
    if (word === "" || fd < 3 || fd > 2 ** 31 - 1) continue;
    try {
      fstatSync(fd);
      taken.push(fd);
    } catch {
      // Closed since the launcher looked: nothing to pass.
    }
  }
  return taken;
}

/**
 * Once the command holds its own copies: ours of those passed (all taken,
 * or FDS) are closed, so that a pipe end the command closes is closed for
 * good (its reader sees EOF), as when unshare and nsenter exec the command,
 * and as bwrap closes its own. None is taken again: their numbers may be
 * Bun's own from now on.
 */
export function dropInheritedFds(fds: readonly number[] = taken ?? []): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // Closed already: nothing to drop.
    }
  }
  taken = [];
}
