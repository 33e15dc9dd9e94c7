/**
 * `bun-userns run`: CMD is the callback. It runs with the helper's pid in
 * $USERNS_PID and in place of "{pid}"; then the liveness check, kill, reap.
 * Signals behave as in a shell: the terminal's SIGINT/SIGQUIT reach CMD
 * through the process group while we ignore them; SIGTERM/SIGHUP sent to us
 * are passed on to CMD. Either way the helper is still reaped.
 */
import type { Subprocess } from "bun";
import { NAMESPACE_FLAGS } from "../core/flags.ts";
import { unshareAfterEnterUserns } from "../unshare.ts";
import {
  choice,
  flagsOf,
  namespaceOptions,
  nsTable,
  out,
  parseArgv,
  report,
  signalTable,
  str,
  UsageError,
  unshareList,
  write,
} from "./args.ts";
import { dropInheritedFds, inheritedFds } from "./inherited-fds.ts";
import { cliMaps, MAP_TABLE } from "./maps.ts";

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
  // The fds we were given, each at its own number (the slots between stay closed).
  const stdio: ("inherit" | "ignore" | number)[] = ["inherit", "inherit", "inherit"];
  for (const fd of inheritedFds()) {
    while (stdio.length < fd) stdio.push("ignore");
    stdio[fd] = fd;
  }
  try {
    return Bun.spawn(argv, {
      stdio: stdio as ["inherit", "inherit", "inherit"],
      env: { ...process.env, USERNS_PID: String(pid) },
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new CommandStartError(`${argv[0]}: command not found`, 127);
    if (code === "EACCES") throw new CommandStartError(`${argv[0]}: permission denied`, 126);
    throw new CommandStartError(`${argv[0]}: ${(e as Error).message}`, 126);
  }
}

/** Bun types signalCode as a name or a number; report the name. */
function signalName(code: string | number | null): string | null {
  if (code === null || typeof code === "string") return code;
  const all = signalTable();
  return Object.keys(all).find((name) => all[name] === code) ?? `SIG${code}`;
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
        // The handlers go in before CMD starts: whoever sees CMD ready and
        // signals us must meet a handler, never the default action.
        for (const [sig, fn] of handlers) process.on(sig, fn);
        child = startCommand(argv, pid);
        dropInheritedFds();
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

  const signum = signal === null ? 0 : (signalTable()[signal] ?? 0);
  const commandStatus = signal !== null ? 128 + signum : exitCode;
  let status: number;
  if (error instanceof CommandStartError) status = error.status;
  else if (error !== undefined) status = 1;
  else status = commandStatus ?? 1;

  if (spec.json) {
    const e = error as { message?: string; code?: string; step?: string } | undefined;
    write(
      1,
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
    write(2, `bun-userns: ${(error as Error).message ?? String(error)}\n${hint ? `hint: ${hint}\n` : ""}`);
  }
  return status;
}

export const RUN_HELP = `Usage: bun-userns run [options] -- CMD [ARGS...]

Creates a helper parked in a new user namespace (exactly as
unshareAfterEnterUserns does), runs CMD with the helper's pid in $USERNS_PID
and in place of every literal {pid} in ARGS, then checks the helper is still
alive and kills and reaps it. Exits with CMD's status (128+N if a signal N
killed it); 1 if the helper died while CMD ran.

Options:
      --map M           the same map for users and groups: container-id:host-id:size[,...]
                        (default: 0:<euid>:1 and 0:<egid>:1)
  -r, --map-root-user   own uid and gid as 0 (setgroups deny, unless --setgroups allow)
  -c, --map-current-user  own uid and gid as themselves
      --map-user=UID    own uid as UID     --map-group=GID   own gid as GID
      --map-users=RANGE uid range outer,inner,count (or inner:outer:count, auto, subids, all); repeatable
      --map-groups=RANGE  gid range, the same
      --map-auto        your first /etc/subuid and /etc/subgid ranges from 0 (as util-linux)
      --mapper auto|direct|newuidmap   who writes the maps (default auto: this
                        process when it may, shadow's newuidmap/newgidmap otherwise)
      --unshare LIST    namespaces to unshare in the helper: ${Object.keys(NAMESPACE_FLAGS).join(",")}
  -m, --mount  -u, --uts  -i, --ipc  -n, --net  -p, --pid  -C, --cgroup  -T, --time
                        the same, one namespace each (as in unshare(1))
      --setgroups allow|deny   /proc/PID/setgroups (default: allow when privileged)
      --owner mapping|caller   owner of the user namespace (default: mapping)
      --json            print one JSON document about the run on stdout at the end
  -h, --help

Examples:
  bun-userns run --map 0:1000:65536 --unshare mnt,net -- sh -c 'readlink /proc/$USERNS_PID/ns/user /proc/{pid}/ns/net'
  bun-userns run --map-users 100000,0,65536 --map-groups 100000,0,65536 -- mount-idmapped /proc/{pid}/ns/user
  bun-userns run --net -- ip netns attach sandbox {pid}`;

export async function cmdRun(args: string[]): Promise<number> {
  let json = false;
  try {
    const p = parseArgv(
      "run",
      args,
      {
        ...MAP_TABLE,
        ...nsTable(false),
        unshare: { type: "string" },
        setgroups: { type: "string" },
        owner: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      "command",
    );
    const v = p.values;
    if (v.help) {
      out(RUN_HELP);
      return 0;
    }
    json = v.json === true;
    if (p.rest.length === 0) throw new UsageError("run: missing command (bun-userns run [options] -- CMD [ARGS...])");
    const { kinds, files } = namespaceOptions("run", p);
    if (Object.keys(files).length > 0) throw new UsageError("run: --NS=FILE pins: use bun-userns pin or exec");
    if (kinds.has("user"))
      throw new UsageError("run: its helper's user namespace is always new: -U/--user adds nothing");
    for (const k of unshareList("run", str(v.unshare))) {
      if (k === "user") throw new UsageError("run: --unshare user: user namespaces are always created by run");
      kinds.add(k);
    }
    const setgroups = choice("run", "setgroups", v.setgroups, ["allow", "deny"] as const);
    const owner = choice("run", "owner", v.owner, ["mapping", "caller"] as const);
    const maps = cliMaps("run", p);
    const uid = process.geteuid?.() ?? 0;
    const gid = process.getegid?.() ?? 0;
    return await runCommand({
      uidMap: maps?.uidMap ?? `0:${uid}:1`,
      gidMap: maps?.gidMap ?? `0:${gid}:1`,
      mapper: maps?.mapper,
      flags: flagsOf(kinds),
      command: p.rest,
      json,
      setgroups: setgroups ?? (maps?.denySetgroups ? "deny" : undefined),
      owner,
    });
  } catch (e) {
    return report(e, json);
  }
}
