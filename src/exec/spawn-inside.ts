/**
 * spawnInside: enter a helper's (or any pid's) namespaces and exec argv there
 * (native/exec.c). The JS thread sleeps only until the child has let go of
 * Bun's memory at its execve; while the command runs, the poller
 * (poller.ts) reaps it without blocking. Four small steps, each its own
 * module: validation (spawn-options.ts: plain data, nothing opened), the
 * plan (spawn-plan.ts: namespace fds, pipes, the session), the native call
 * (spawn-start.ts), and the handle (command-handle.ts).
 */
import { errnoName, errnoText, UsernsError } from "../core/errors.ts";
import type { Helper } from "../core/helper.ts";
import * as registryCodec from "../core/registry-codec.ts";
import { adoptCommand, type InsideProcess } from "./command-handle.ts";
import type { ExecNamespace } from "./namespaces.ts";
import { checkSpawnInside, type SpawnInsideOptions } from "./spawn-options.ts";
import { planSpawn } from "./spawn-plan.ts";
import { startCommand } from "./spawn-start.ts";

export { adoptCommand, type InsideProcess } from "./command-handle.ts";
export { runningCommands } from "./poller.ts";
export { checkStdio, type SpawnInsideOptions, type StdioSpec } from "./spawn-options.ts";
export { runsAsOtherUid } from "./spawn-plan.ts";
export type { ExecNamespace };

/**
 * Enter the namespaces of a helper (or of any pid) and exec argv there.
 * Throws UsernsError (nothing left behind) when the namespaces cannot be
 * entered or the command cannot be executed (code ENOENT: not found;
 * EACCES: not executable).
 */
export function spawnInside(
  helperOrPid: Helper | number,
  argv: readonly string[],
  options: SpawnInsideOptions = {},
): InsideProcess {
  const req = checkSpawnInside(helperOrPid, argv, options);
  const plan = planSpawn(req);
  const r = startCommand(req, plan);
  // A command that could not exec gets no streams: its pipe ends are closed below.
  const handle = adoptCommand(r, r.execErrno === 0 ? plan.parentEnds : [], req.signal);
  if (r.execErrno !== 0) {
    // It exits 127/126 by itself; reap it, then say why.
    for (const rec of plan.ours) registryCodec.recClose(rec);
    handle.exited.catch(() => {});
    const name = req.args[0] as string;
    throw new UsernsError(r.execErrno === 2 ? `${name}: command not found` : `${name}: ${errnoText(r.execErrno)}`, {
      code: errnoName(r.execErrno),
      errno: r.execErrno,
      syscall: "execve",
      step: "exec",
    });
  }
  return handle;
}
