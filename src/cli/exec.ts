/**
 * `bun-userns exec`: CMD inside new namespaces, a drop-in for util-linux
 * unshare(1) (its options, their meanings, its exit status). A user
 * namespace is made only when asked for (-U, -r, -c, a map option), as
 * util-linux decides: then a helper parked in it makes the other
 * namespaces and CMD enters them (spawnInside); without one, CMD's own
 * process makes them (spawnInside's `unshare`), in our user namespace.
 */
import type { Helper } from "../core/helper.ts";
import type { ExecNamespace } from "../exec/namespaces.ts";
import { type InsideProcess, runsAsOtherUid, type SpawnInsideOptions, spawnInside } from "../exec/spawn-inside.ts";
import { type Pins, pinNamespaces, pinPidNamespaceOf, planPins } from "../ns/pins.ts";
import { KTIME_SEC_MAX, setTimeOffsets, type TimeOffsets } from "../ns/time-offsets.ts";
import { startHelper } from "../unshare.ts";
import {
  choice,
  flagsOf,
  namespaceOptions,
  nsTable,
  type OptionTable,
  type Parsed,
  parseArgv,
  printVersion,
  report,
  signalTable,
  str,
  UsageError,
  unshareList,
  write,
} from "./args.ts";
import { dropInheritedFds, inheritedFds } from "./inherited-fds.ts";
import { cliMaps, MAP_TABLE } from "./maps.ts";
import type { PtyRelay } from "./pty.ts";
import { checkTerminalOptions, finish, SignalRelay, TERMINAL_TABLE, terminalFor, terminalOptions } from "./relay.ts";

export const EXEC_HELP = `Usage: bun-userns exec [options] [--] CMD [ARGS...]

Runs CMD inside new namespaces, as util-linux unshare(1) does (same options,
same meanings; no util-linux at run time). A user namespace is made only when
asked for (-U, -r, -c or a map option). Exits with CMD's status, or dies of
the signal that killed it; 127 not found, 126 not executable, 1 on a failure,
2 on a usage error. SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
SIGWINCH and SIGCONT sent to bun-userns are passed on to CMD.

Options:
  -U, --user[=FILE]         a new user namespace (pinned to FILE)
  -m, --mount[=FILE]  -u, --uts[=FILE]  -i, --ipc[=FILE]  -n, --net[=FILE]
  -p, --pid[=FILE]    -C, --cgroup[=FILE]  -T, --time[=FILE]
                            the other namespaces (each pinned to FILE if given)
      --unshare LIST        the same as a list: mnt,uts,ipc,net,pid,cgroup,time
  -r, --map-root-user       own uid and gid as 0 (setgroups deny, unless --setgroups allow)
  -c, --map-current-user    own uid and gid as themselves
      --map-user=UID|NAME   own uid as this one      --map-group=GID|NAME  the same for the gid
      --map-users=RANGE     outer,inner,count (or inner:outer:count, auto, subids, all); repeatable
      --map-groups=RANGE    the same for gids
      --map-auto            --map-users=auto --map-groups=auto
      --map-subids          --map-users=subids --map-groups=subids
      --map M               a whole map for users and groups (container:host:size[,...])
      --mapper auto|direct|newuidmap   who writes the maps
      --setgroups allow|deny
  -f, --fork                CMD as a child (with -p: pid 1 of the new pid namespace)
      --kill-child[=SIG]    the signal CMD gets when bun-userns dies (default SIGKILL; implies --fork)
      --forward-signals     accepted (signals are always passed on; implies --fork)
      --mount-proc[=DIR]    a fresh proc at DIR (default /proc; implies -m)
      --propagation private|slave|shared|unchanged   of / in the new mount namespace (default private)
      --keep-caps           keep the capabilities of the new user namespace across exec
  -S, --setuid UID          become UID (in the new user namespace, if any)
  -G, --setgid GID          become GID, with no supplementary groups
  -R, --root DIR            chroot to DIR (then -w inside it, or /)
  -w, --wd DIR              working directory
      --monotonic SECS      offset of CLOCK_MONOTONIC in the new time namespace (needs -T)
      --boottime SECS       offset of CLOCK_BOOTTIME and /proc/uptime (needs -T)
      --clear-env           CMD gets no environment
      --whitelist-env LIST  CMD gets only these variables (comma-separated)
      --pty                 CMD gets its own terminal, a new pty relayed to ours
      --no-pty              never: CMD gets our terminal, in a new session if it runs as another uid
      --new-session         setsid() for CMD even when it runs as our own uid (like bwrap's)
  -h, --help   -V, --version

When stdin is a terminal and CMD runs as a host uid other than ours, CMD gets
a new pty instead of our terminal (as sudo's use_pty): it cannot type into
our shell (TIOCSTI) or reopen our terminal.

Example:
  bun-userns exec -r -n -- sh -c 'id -u; readlink /proc/self/ns/net'`;

export const EXEC_TABLE: OptionTable = {
  ...nsTable(false),
  ...MAP_TABLE,
  unshare: { type: "string" },
  fork: { type: "boolean", short: "f" },
  "kill-child": { type: "optional" },
  "forward-signals": { type: "boolean" },
  "mount-proc": { type: "optional" },
  propagation: { type: "string" },
  setgroups: { type: "string" },
  "keep-caps": { type: "boolean" },
  setuid: { type: "string", short: "S" },
  setgid: { type: "string", short: "G" },
  root: { type: "string", short: "R" },
  wd: { type: "string", short: "w" },
  monotonic: { type: "string" },
  boottime: { type: "string" },
  "clear-env": { type: "boolean" },
  "whitelist-env": { type: "string" },
  ...TERMINAL_TABLE,
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
};

/** A signal as util-linux takes it: a number, or a name with or without SIG. */
export function signalArg(cmd: string, opt: string, v: string): NodeJS.Signals {
  const all = signalTable();
  const byNumber = Object.keys(all).find((k) => String(all[k]) === v);
  const name = /^[0-9]+$/.test(v)
    ? byNumber
    : v.toUpperCase().startsWith("SIG")
      ? v.toUpperCase()
      : `SIG${v.toUpperCase()}`;
  if (name === undefined || all[name] === undefined)
    throw new UsageError(`${cmd}: --${opt}: unknown signal ${JSON.stringify(v)}`);
  return name as NodeJS.Signals;
}

/** An id for -S/-G: a decimal number, as util-linux reads it. */
export function idArg(cmd: string, opt: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]{1,10}$/.test(v) || Number(v) > 4294967294)
    throw new UsageError(`${cmd}: --${opt} takes a number, not ${JSON.stringify(v)}`);
  return Number(v);
}

function offsets(v: Parsed["values"]): TimeOffsets | undefined {
  let out: TimeOffsets | undefined;
  for (const clock of ["monotonic", "boottime"] as const) {
    const raw = str(v[clock]);
    if (raw === undefined) continue;
    if (!/^-?[0-9]{1,19}(\.[0-9]{1,9})?$/.test(raw))
      throw new UsageError(`exec: --${clock} takes seconds (e.g. 86400, -3.5), not ${JSON.stringify(raw)}`);
    if (Math.abs(Number(raw)) > KTIME_SEC_MAX)
      throw new UsageError(`exec: --${clock} ${raw} is beyond the kernel's ±${KTIME_SEC_MAX} s`);
    out = { ...out, [clock]: Number(raw) };
  }
  return out;
}

/** CMD's environment: ours, none (--clear-env), or only the listed variables. */
function environment(v: Parsed["values"]): Record<string, string | undefined> | undefined {
  const keep = str(v["whitelist-env"]);
  if (keep !== undefined) {
    const names = new Set(keep.split(","));
    return Object.fromEntries(Object.entries(process.env).filter(([k]) => names.has(k)));
  }
  return v["clear-env"] ? {} : undefined;
}

/** Everything the options ask for, checked before anything is made. */
function plan(p: Parsed) {
  const v = p.values;
  const { kinds, files } = namespaceOptions("exec", p);
  for (const k of unshareList("exec", str(v.unshare))) kinds.add(k);
  const procDir = v["mount-proc"];
  if (procDir !== undefined) kinds.add("mnt");
  if (procDir === "") throw new UsageError("exec: --mount-proc= needs a directory");
  const maps = cliMaps("exec", p);
  const user = kinds.has("user") || maps !== undefined;
  const setgroups = choice("exec", "setgroups", v.setgroups, ["allow", "deny"] as const);
  if (setgroups !== undefined && !user)
    throw new UsageError("exec: --setgroups is about a new user namespace: add -U (or a map option)");
  const propagation = choice("exec", "propagation", v.propagation, [
    "private",
    "slave",
    "shared",
    "unchanged",
  ] as const);
  const time = offsets(v);
  if (time !== undefined && !kinds.has("time")) {
    const which = v.monotonic !== undefined ? "--monotonic" : "--boottime";
    throw new UsageError(`exec: ${which} offsets a new time namespace: add -T (or --unshare time)`);
  }
  const kill = v["kill-child"];
  const killSignal = kill === undefined ? undefined : kill === true ? "SIGKILL" : signalArg("exec", "kill-child", kill);
  const fork = v.fork === true || kill !== undefined || v["forward-signals"] === true;
  if (files.pid !== undefined && !fork)
    throw new UsageError("exec: --pid=FILE pins the pid namespace CMD is pid 1 of: add --fork (-f)");
  if (Object.keys(files).length > 0) planPins(files); // a bad path creates nothing
  checkTerminalOptions("exec", v);
  return {
    kinds,
    files,
    maps,
    user,
    setgroups: setgroups ?? (maps?.denySetgroups ? "deny" : undefined),
    propagation: propagation ?? "private",
    time,
    killSignal,
    fork,
    procDir: typeof procDir === "string" ? procDir : undefined,
    uid: idArg("exec", "setuid", str(v.setuid)),
    gid: idArg("exec", "setgid", str(v.setgid)),
    root: str(v.root),
    wd: str(v.wd),
    env: environment(v),
  };
}

export async function cmdExec(args: string[]): Promise<number> {
  let p: Parsed;
  let x: ReturnType<typeof plan>;
  try {
    p = parseArgv("exec", args, EXEC_TABLE, "command");
    if (p.values.help) {
      write(1, `${EXEC_HELP}\n`);
      return 0;
    }
    if (p.values.version) {
      await printVersion();
      return 0;
    }
    if (p.rest.length === 0) throw new UsageError("exec: missing command (bun-userns exec [options] -- CMD [ARGS...])");
    x = plan(p);
  } catch (e) {
    return report(e);
  }
  const relay = new SignalRelay();
  let helper: Helper | undefined;
  let holder: InsideProcess | undefined;
  let pty: PtyRelay | undefined;
  const pins: Pins[] = [];
  try {
    const newPid = x.kinds.has("pid");
    const others = [...x.kinds].filter((k) => k !== "user" && k !== "pid");
    const { pid: pidFile, ...otherFiles } = x.files;
    // util-linux keeps the working directory; entering a mount namespace (setns) would reset it.
    const cwd = x.wd ?? (x.root === undefined ? process.cwd() : undefined);
    const common: SpawnInsideOptions = {
      newPidNamespace: newPid,
      fork: x.fork,
      mountProc: x.procDir ?? p.values["mount-proc"] === true,
      root: x.root,
      cwd,
      killSignal: x.killSignal,
      // The fds we were given, as unshare(1)'s command gets them.
      passFds: inheritedFds(),
      ...(x.env === undefined ? {} : { env: x.env }),
    };
    let target: Helper | number = process.pid;
    let options: SpawnInsideOptions;
    if (x.user) {
      // A helper parked in the new user namespace makes the others; CMD enters them.
      helper = startHelper(x.maps?.uidMap ?? "none", x.maps?.gidMap ?? "none", flagsOf(others), {
        setgroups: x.setgroups,
        mapper: x.maps?.mapper,
        propagation: x.propagation,
      });
      if (x.time !== undefined) setTimeOffsets(helper, x.time); // before anything enters: then they freeze
      if (Object.keys(otherFiles).length > 0) pins.push(pinNamespaces(helper, otherFiles));
      target = helper;
      // Our own ids, as mapped there (unshare changes no id), or its root with --map; -S/-G take ids there.
      const own = x.maps?.asRoot ? 0 : ("keep" as const);
      options = {
        ...common,
        namespaces: ["user", ...(others as ExecNamespace[])],
        uid: x.uid ?? own,
        gid: x.gid ?? own,
        keepCaps: p.values["keep-caps"] === true,
      };
    } else if (Object.keys(otherFiles).length > 0) {
      // Pins need the namespaces to exist before CMD may exit: a holder makes them, CMD enters them.
      holder = spawnInside(process.pid, ["sh", "-c", "read x"], {
        namespaces: [],
        unshare: others,
        timeOffsets: x.time,
        propagation: x.propagation,
        stdio: ["pipe", "ignore", "ignore"],
      });
      pins.push(pinNamespaces(holder.pid, otherFiles));
      target = holder.pid;
      options = { ...common, namespaces: others as ExecNamespace[], uid: x.uid, gid: x.gid };
    } else {
      options = {
        ...common,
        namespaces: [],
        unshare: others as ExecNamespace[],
        timeOffsets: x.time,
        propagation: x.propagation,
        uid: x.uid,
        gid: x.gid,
      };
    }
    const t = target;
    pty = await terminalFor(p.values, () => runsAsOtherUid(t, options));
    const cmd = spawnInside(target, p.rest, { ...options, ...terminalOptions(p.values, pty) });
    dropInheritedFds();
    // CMD holds the namespaces now; the helper's (or holder's) job is done.
    helper?.release();
    helper = undefined;
    holder?.kill("SIGKILL");
    if (pidFile !== undefined) {
      // Only a pid namespace with its pid 1 can be pinned: CMD (forked) is that.
      try {
        pins.push(pinPidNamespaceOf(cmd.pid, pidFile));
      } catch (e) {
        cmd.kill("SIGKILL");
        await cmd.exited;
        throw e;
      }
    }
    pins.length = 0; // they outlive the command: that is what they are for
    return await finish(relay, cmd, pty);
  } catch (e) {
    for (const pin of pins) pin.unpin();
    pty?.restore();
    relay[Symbol.dispose]();
    return report(e);
  } finally {
    helper?.release();
    holder?.kill("SIGKILL");
  }
}
