/**
 * A started command as a handle (InsideProcess): its exit from the poller,
 * our pipe ends as streams (each closed once, by its end, cancel or close,
 * or by the leak net), kill() through its registry record.
 */
import * as registryCodec from "../core/registry-codec.ts";
import { badValue, typeError } from "../core/validate.ts";
import { exiting, type Running, watch } from "./poller.ts";

export interface InsideProcess {
  /** The command's pid, in our pid namespace. */
  readonly pid: number;
  /** Exit code, or 128+N when signal N killed it (as a shell reports it). */
  readonly exited: Promise<number>;
  /** Once `exited` has settled: the signal that killed it ("SIGKILL"…), or null if it exited. */
  readonly signalCode: NodeJS.Signals | null;
  readonly stdin: WritableStream<Uint8Array> | undefined;
  readonly stdout: ReadableStream<Uint8Array> | undefined;
  readonly stderr: ReadableStream<Uint8Array> | undefined;
  /** Send a signal (default SIGTERM) until it has been reaped; false after that. */
  kill(signal?: NodeJS.Signals | number): boolean;
}

/**
 * Our end of a pipe, closed once: by the stream's end, cancel or close, or,
 * when the caller drops a stream it never finished, by the leak net.
 */
interface End {
  fd: number;
  /** Its record in this thread's registry. */
  rec: number;
  open: boolean;
}
const dropped = new FinalizationRegistry<End>((end) => closeEnd(end));
function closeEnd(end: End): void {
  if (end.open) registryCodec.recClose(end.rec);
  end.open = false;
}

function readable(fd: number, rec: number): ReadableStream<Uint8Array> {
  const reader = Bun.file(fd).stream().getReader();
  const end: End = { fd, rec, open: true };
  const done = () => closeEnd(end);
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      const { value, done: end } = await reader.read();
      if (end) {
        done();
        c.close();
      } else c.enqueue(value);
    },
    async cancel() {
      await reader.cancel().catch(() => {});
      done();
    },
  });
  dropped.register(stream, end);
  return stream;
}

/**
 * EOF on FD: the read end of a pipe whose write end only the command's own
 * process holds (sandbox()'s monitor keeps it and never passes it on), so
 * EOF is its exit, seen by Bun's event loop the moment it happens. Then FD
 * is closed through its record.
 */
async function exitNotice(fd: number, rec: number, r: Running): Promise<void> {
  const reader = Bun.file(fd).stream().getReader();
  try {
    while (!(await reader.read()).done) {}
  } catch {
    // A read error ends the wait as EOF does: the poller decides.
  } finally {
    registryCodec.recClose(rec);
  }
  exiting(r);
}

function writable(fd: number, rec: number): WritableStream<Uint8Array> {
  const sink = Bun.file(fd).writer();
  const end: End = { fd, rec, open: true };
  const done = () => closeEnd(end);
  const stream = new WritableStream<Uint8Array>({
    async write(chunk) {
      sink.write(chunk);
      await sink.flush();
    },
    async close() {
      await sink.flush();
      done();
    },
    abort() {
      done();
    },
  });
  dropped.register(stream, end);
  return stream;
}

/** Signal numbers by name: node:os loads only when a signal is named (a one-shot pays for each module: docs/performance.md). */
const signals = (): Record<string, number> =>
  (require("node:os") as typeof import("node:os")).constants.signals as Record<string, number>;

function signalName(n: number): NodeJS.Signals {
  const all = signals();
  return (Object.keys(all).find((k) => all[k] === n) ?? `SIG${n}`) as NodeJS.Signals;
}

export function signalNumber(sig: unknown, what = "signal"): number {
  if (typeof sig !== "number" && typeof sig !== "string")
    throw typeError(what, 'a name like "SIGTERM" or a number', sig);
  if (typeof sig === "number" && Number.isInteger(sig) && sig >= 0 && sig <= 64) return sig;
  if (typeof sig === "string" && signals()[sig] !== undefined) return signals()[sig] as number;
  throw badValue(`${what}: unknown signal ${JSON.stringify(sig)}: expected a name like "SIGTERM" or a number 0-64`);
}

/**
 * A started command (a child of this process, its pidfd recorded as `rec`)
 * as a handle: reaped by the shared poller, our pipe ends as streams,
 * `signal` kills it. `killSignal` maps a signal before it is sent (sandbox()
 * turns SIGKILL into its monitor's "end and clean up"). `exitPipe`: the read
 * end of a pipe only the command's process holds the other end of (its EOF
 * is that process's exit: reaped without waiting for the timer).
 */
export function adoptCommand(
  cmd: { pid: number; pidfd: number; rec: number },
  parentEnds: readonly ({ fd: number; rec: number } | undefined)[],
  signal: AbortSignal | undefined,
  killSignal: (n: number) => number = (n) => n,
  exitPipe?: { fd: number; rec: number },
): InsideProcess {
  let resolve!: (n: number) => void;
  let reject!: (e: unknown) => void;
  const exited = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const rec: Running = { pidfd: cmd.pidfd, rec: cmd.rec, resolve, reject, watched: false, watchAt: 0 };
  const onAbort = () => registryCodec.recKill(rec.rec, killSignal(9));
  if (signal) {
    signal.addEventListener("abort", onAbort, { once: true });
    rec.onDone = () => signal.removeEventListener("abort", onAbort);
  }
  watch(rec);
  if (exitPipe) void exitNotice(exitPipe.fd, exitPipe.rec, rec);
  return {
    pid: cmd.pid,
    exited,
    get signalCode(): NodeJS.Signals | null {
      return rec.signal === undefined ? null : signalName(rec.signal);
    },
    stdin: parentEnds[0] === undefined ? undefined : writable(parentEnds[0].fd, parentEnds[0].rec),
    stdout: parentEnds[1] === undefined ? undefined : readable(parentEnds[1].fd, parentEnds[1].rec),
    stderr: parentEnds[2] === undefined ? undefined : readable(parentEnds[2].fd, parentEnds[2].rec),
    kill(sig: NodeJS.Signals | number = "SIGTERM"): boolean {
      const n = signalNumber(sig);
      if (rec.pidfd < 0) return false;
      // Through its pidfd only while that number still names this command (native/registry.c).
      return registryCodec.recKill(rec.rec, killSignal(n)) === 0;
    },
  };
}
