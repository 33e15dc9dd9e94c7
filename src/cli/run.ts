/**
 * `bun-userns run`: CMD is the callback. It runs with the helper's pid in
 * $USERNS_PID and in place of "{pid}"; then the liveness check, kill, reap.
 * Signals behave as in a shell: the terminal's SIGINT/SIGQUIT reach CMD
 * through the process group while we ignore them; SIGTERM/SIGHUP sent to us
 * are passed on to CMD. Either way the helper is still reaped.
 */
import { constants } from "node:os";
import type { Subprocess } from "bun";
import { unshareAfterEnterUserns } from "../core/unshare.ts";

export interface RunSpec {
  uidMap: string;
  gidMap: string;
  flags: number;
  command: string[];
  json: boolean;
  setgroups?: "allow" | "deny";
  owner?: "mapping" | "caller";
  mapper?: "auto" | "direct" | "newuidmap";
}

class CommandStartError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function startCommand(argv: string[], pid: number): Subprocess {
  try {
    return Bun.spawn(argv, {
      stdio: ["inherit", "inherit", "inherit"],
      env: { ...process.env, USERNS_PID: String(pid) },
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new CommandStartError(`${argv[0]}: command not found`, 127);
    if (code === "EACCES") throw new CommandStartError(`${argv[0]}: permission denied`, 126);
    throw new CommandStartError(`${argv[0]}: ${(e as Error).message}`, 126);
  }
}

const SIGNALS = constants.signals as Record<string, number>;

/** Bun types signalCode as a name or a number; report the name. */
function signalName(code: string | number | null): string | null {
  if (code === null || typeof code === "string") return code;
  return Object.keys(SIGNALS).find((name) => SIGNALS[name] === code) ?? `SIG${code}`;
}

export async function runCommand(spec: RunSpec): Promise<number> {
  let child: Subprocess | undefined;
  let helperPid = 0;
  let exitCode: number | null = null;
  let signal: string | null = null;
  const ignore = () => {};
  const forward = (sig: NodeJS.Signals) => () => child?.kill(sig);
  const handlers: [NodeJS.Signals, () => void][] = [
    ["SIGINT", ignore],
    ["SIGQUIT", ignore],
    ["SIGTERM", forward("SIGTERM")],
    ["SIGHUP", forward("SIGHUP")],
  ];
  let error: unknown;
  try {
    await unshareAfterEnterUserns(
      spec.uidMap,
      spec.gidMap,
      spec.flags,
      async (pid) => {
        helperPid = pid;
        const argv = spec.command.map((a) => a.replaceAll("{pid}", String(pid)));
        // Listening before CMD starts: a signal that comes as soon as CMD runs is not missed.
        for (const [sig, fn] of handlers) process.on(sig, fn);
        child = startCommand(argv, pid);
        await child.exited;
        exitCode = child.exitCode;
        signal = signalName(child.signalCode);
      },
      { setgroups: spec.setgroups, owner: spec.owner, mapper: spec.mapper },
    );
  } catch (e) {
    error = e;
  } finally {
    for (const [sig, fn] of handlers) process.off(sig, fn);
  }

  const signum = signal === null ? 0 : (SIGNALS[signal] ?? 0);
  const commandStatus = signal !== null ? 128 + signum : exitCode;
  let status: number;
  if (error instanceof CommandStartError) status = error.status;
  else if (error !== undefined) status = 1;
  else status = commandStatus ?? 1;

  if (spec.json) {
    const e = error as { message?: string; code?: string; step?: string } | undefined;
    process.stdout.write(
      `${JSON.stringify({
        ok: error === undefined && status === 0,
        command: spec.command,
        helperPid: helperPid || null,
        exitCode,
        signal,
        status,
        error: e === undefined ? null : { message: e.message ?? String(e), code: e.code ?? null, step: e.step ?? null },
      })}\n`,
    );
  }
  if (error !== undefined) {
    const hint = (error as { hint?: string }).hint;
    process.stderr.write(`bun-userns: ${(error as Error).message ?? String(error)}\n${hint ? `hint: ${hint}\n` : ""}`);
  }
  return status;
}
