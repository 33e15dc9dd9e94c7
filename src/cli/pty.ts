/**
 * The CLI's terminal for a command of another host uid (exec/enter): what
 * sudo's use_pty does. The command gets a new pty's slave as its stdio
 * (where ours is a terminal) and as the controlling terminal of a new
 * session (native/exec.c); it never holds our terminal, so it can neither
 * push input into it (TIOCSTI lands in its own pty, read by nobody once it
 * has exited) nor reopen it through /dev/tty. We put our terminal in raw
 * mode (^C, ^Z reach the pty's line discipline, which signals the
 * command's foreground job) and copy bytes both ways, and the window size
 * at start and on every SIGWINCH.
 */
import { write, writeSync } from "node:fs";
import { isatty, ReadStream } from "node:tty";
import { errnoName, errnoText, UsernsError } from "../core/errors.ts";
import type { InsideProcess } from "../exec/spawn-inside.ts";
import { closePtyEnd, copyWindowSize, openPty } from "../exec/terminal.ts";

/**
 * After the command has exited, how long the output may stay quiet before
 * we stop waiting for its end: a background process of the command that
 * outlived it may hold the slave open for good (sudo stops then too).
 */
const QUIET_AFTER_EXIT_MS = 100;

export class PtyRelay implements Disposable {
  readonly master: number;
  /** The slave, until the command holds it (closeSlave). */
  #slave: number;
  readonly #out: number;
  #raw = false;
  #reader: ReadStream | undefined;
  #ended = false;
  #lastData = 0;
  #onEnd: (() => void) | undefined;
  #writes: Promise<void> = Promise.resolve();
  readonly #onInput = (d: Buffer) => this.#toCommand(d);
  readonly #onWinch = () => this.#copySize();
  readonly #onExit = () => this.restore();

  /** A new pty like our terminal on fd 0 (settings and size). */
  constructor() {
    const r = openPty(0);
    if (typeof r === "number") {
      throw new UsernsError(`cannot open a pty for the command: /dev/ptmx: ${errnoText(-r)}`, {
        code: errnoName(-r),
        errno: -r,
        syscall: "openat",
        step: "open",
        hint: "--no-pty runs it without one (in a new session, without a controlling terminal)",
      });
    }
    this.master = r.master;
    this.#slave = r.slave;
    // Its output goes to the first of our stdout, stderr, stdin that is a terminal.
    this.#out = [1, 2, 0].find((fd) => isatty(fd)) ?? 1;
  }

  /** The slave fd for the command's stdio: our terminal fds are replaced by it, others kept. */
  stdio(): [number | "inherit", number | "inherit", number | "inherit"] {
    return [0, 1, 2].map((fd) => (isatty(fd) ? this.#slave : "inherit")) as [
      number | "inherit",
      number | "inherit",
      number | "inherit",
    ];
  }

  /** Once the command has it: the pty ends (EIO on the master) when the last holder closes it. */
  closeSlave(): void {
    if (this.#slave >= 0) closePtyEnd(this.#slave);
    this.#slave = -1;
  }

  /** Raw mode and the copying, until finish(). */
  start(): void {
    process.on("exit", this.#onExit);
    process.on("SIGWINCH", this.#onWinch);
    this.#copySize(); // it may have changed since the pty was opened
    const reader = new ReadStream(this.master);
    this.#reader = reader;
    reader.on("data", (d: Buffer) => {
      this.#lastData = performance.now();
      writeAll(this.#out, d);
    });
    // EIO: every holder of the slave has closed it; all its output was read.
    const end = () => {
      this.#ended = true;
      this.#onEnd?.();
    };
    reader.on("error", end);
    reader.on("end", end);
    reader.on("close", end);
    if (process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      this.#raw = true;
    }
    process.stdin.on("data", this.#onInput);
    process.stdin.resume();
  }

  /** Wait for the command's output (see QUIET_AFTER_EXIT_MS), then restore our terminal. */
  async finish(): Promise<void> {
    if (this.#reader !== undefined && !this.#ended) {
      await new Promise<void>((resolve) => {
        this.#onEnd = resolve;
        this.#lastData = Math.max(this.#lastData, performance.now());
        const check = () => {
          if (this.#ended) return;
          const quiet = performance.now() - this.#lastData;
          if (quiet >= QUIET_AFTER_EXIT_MS) resolve();
          else setTimeout(check, QUIET_AFTER_EXIT_MS - quiet + 1).unref();
        };
        check();
      });
    }
    this.restore();
  }

  /** Our terminal as it was; stop copying. Every exit path comes here (also process "exit"). */
  restore(): void {
    if (this.#raw) {
      this.#raw = false;
      try {
        process.stdin.setRawMode(false);
      } catch {
        // a terminal gone (hung up) has nothing to restore
      }
    }
    process.stdin.off("data", this.#onInput);
    process.stdin.pause();
    process.off("SIGWINCH", this.#onWinch);
    process.off("exit", this.#onExit);
    this.#reader?.removeAllListeners("data");
    this.#reader?.destroy();
    this.#reader = undefined;
    this.closeSlave();
  }

  [Symbol.dispose](): void {
    this.restore();
  }

  #copySize(): void {
    copyWindowSize(0, this.master);
  }

  /** To the command, in order, off the event loop: a write blocks while the pty's input is full. */
  #toCommand(d: Buffer): void {
    this.#writes = this.#writes.then(
      () =>
        new Promise<void>((resolve) => {
          write(this.master, d, () => resolve()); // a command that is gone drops its input
        }),
    );
  }
}

/** Write it all (a terminal may take it in parts); a terminal that is gone drops it. */
function writeAll(fd: number, d: Uint8Array): void {
  let at = 0;
  while (at < d.length) {
    try {
      at += writeSync(fd, d, at);
    } catch (e) {
      if ((e as { code?: string }).code !== "EAGAIN") return;
    }
  }
}

/** Run the command on its own pty; its status as the CLI reports it. */
export async function relayed(relay: PtyRelay, p: InsideProcess, wait: (p: InsideProcess) => Promise<number>) {
  relay.closeSlave();
  relay.start();
  try {
    return await wait(p);
  } finally {
    await relay.finish();
  }
}
