/**
 * What `exec` and `enter` do around a running CMD, as util-linux unshare
 * --forward-signals and bwrap do: signals sent to us are passed on to CMD,
 * its terminal (a pty of its own when it runs as another uid), and at the
 * end its status, or death by the very signal that killed it.
 */
import type { InsideProcess, SpawnInsideOptions } from "../exec/spawn-inside.ts";
import { isTerminal } from "../exec/terminal.ts";
import { type OptionTable, UsageError } from "./args.ts";
import type { PtyRelay } from "./pty.ts";

/** Passed on to CMD: what a terminal, a supervisor or a user sends a foreground job. */
const RELAYED = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT"] as const;

/**
 * Passes RELAYED on to CMD. Listening starts before CMD does: a signal that
 * arrives while CMD is being started is held and delivered once CMD is
 * known, instead of killing us with CMD left to its parent-death signal.
 */
export class SignalRelay implements Disposable {
  #target: InsideProcess | undefined;
  #held: NodeJS.Signals[] = [];
  readonly #handlers: (readonly [NodeJS.Signals, () => void])[] = [];

  constructor() {
    for (const s of RELAYED) {
      const fn = () => (this.#target ? this.#target.kill(s) : this.#held.push(s));
      this.#handlers.push([s, fn]);
      process.on(s, fn);
    }
  }

  async waitFor(p: InsideProcess): Promise<number> {
    this.#target = p;
    for (const s of this.#held.splice(0)) p.kill(s);
    return await p.exited;
  }

  [Symbol.dispose](): void {
    for (const [s, fn] of this.#handlers.splice(0)) process.off(s, fn);
  }
}

/** --pty, --no-pty, --new-session: CMD's terminal. */
export const TERMINAL_TABLE: OptionTable = {
  pty: { type: "boolean" },
  "no-pty": { type: "boolean" },
  "new-session": { type: "boolean" },
};

export function checkTerminalOptions(cmd: string, v: Record<string, unknown>): void {
  if (v.pty && v["no-pty"]) throw new UsageError(`${cmd}: choose --pty or --no-pty`);
  if (v.pty && !isTerminal(0)) throw new UsageError(`${cmd}: --pty needs a terminal on stdin`);
}

/**
 * A pty for CMD when stdin is a terminal and CMD runs as a host uid other
 * than ours (or --pty); undefined otherwise (--no-pty, or CMD is us). The
 * relay's module (and node:tty with it) loads only then.
 */
export async function terminalFor(v: Record<string, unknown>, otherUid: () => boolean): Promise<PtyRelay | undefined> {
  if (v["no-pty"]) return undefined;
  if (!v.pty && !(isTerminal(0) && otherUid())) return undefined;
  return new (await import("./pty.ts")).PtyRelay();
}

/**
 * With a pty: its slave for our terminal fds, and as CMD's controlling
 * terminal. Without: --new-session forces setsid; otherwise spawnInside's
 * default (a new session when CMD is another uid and a terminal is in reach).
 */
export function terminalOptions(v: Record<string, unknown>, pty: PtyRelay | undefined): SpawnInsideOptions {
  if (pty !== undefined) return { stdio: pty.stdio(), controllingTerminal: 0 };
  return v["new-session"] ? { newSession: true } : {};
}

/**
 * Wait for CMD (through its pty if it has one), then restore the terminal
 * and stop relaying. Its exit code; if a signal killed it, we die of the
 * same signal, as util-linux unshare does (a shell loop around us then stops
 * at ^C); a signal Bun keeps for itself (SIGPIPE) leaves us 128+N.
 */
export async function finish(relay: SignalRelay, p: InsideProcess, pty: PtyRelay | undefined): Promise<number> {
  let status: number;
  try {
    status =
      pty === undefined
        ? await relay.waitFor(p)
        : await (await import("./pty.ts")).relayed(pty, p, (q) => relay.waitFor(q));
  } finally {
    pty?.restore();
    relay[Symbol.dispose]();
  }
  const sig = p.signalCode;
  if (sig === null) return status;
  process.kill(process.pid, sig);
  await Bun.sleep(100); // the default action takes the whole process; only an ignored signal gets here
  return status;
}
