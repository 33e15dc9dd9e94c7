/**
 * `bun-userns exec` (CMD runs inside new namespaces, util-linux
 * unshare(1) options) and `bun-userns enter` (CMD runs inside an existing
 * process's namespaces or namespace files, nsenter(1) options). Exit status
 * as a shell: CMD's code, 128+N if signal N killed it, 127 not found, 126
 * not executable. SIGTERM, SIGINT and SIGHUP sent to us are passed on to CMD.
 */

import { CLONE_NEWPID, NAMESPACE_FLAGS, type NamespaceName } from "../core/flags.ts";
import type { Helper } from "../core/helper.ts";
import { startHelper } from "../core/unshare.ts";
import { checkNamespaceName, type ExecNamespace } from "../exec/namespaces.ts";
import { type InsideProcess, runsAsOtherUid, type SpawnInsideOptions, spawnInside } from "../exec/spawn-inside.ts";
import { isTerminal } from "../exec/terminal.ts";
import { type Pins, pinNamespaces, pinPidNamespaceOf, planPins } from "../ns/pins.ts";
import { KTIME_SEC_MAX, setTimeOffsets, type TimeOffsets } from "../ns/time-offsets.ts";
import {
  failure,
  NS_OPTIONS,
  parse,
  split,
  takeFiles,
  UNSHARE_OPTIONS,
  UsageError,
  unshareFlags,
  usage,
  write,
} from "./args.ts";
import { cliMaps, MAP_OPTIONS, MAP_VALUE_OPTIONS } from "./maps.ts";
import type { PtyRelay } from "./pty.ts";

export const EXEC_HELP = `Usage: bun-userns exec [options] -- CMD [ARGS...]

Runs CMD inside a new user namespace and the namespaces asked for (like
util-linux unshare(1), with no util-linux at run time). Exits with CMD's
status (128+N if signal N killed it; 127 not found; 126 not executable).
SIGTERM, SIGINT and SIGHUP sent to bun-userns are passed on to CMD.

Options:
  -r, --map-root-user      own uid and gid as 0 (the default)
      --map-current-user   own uid and gid as themselves
      --map M              the same map for users and groups (container:host:size[,...])
      --map-users M        uid map      --map-groups M   gid map
  -m, --mount   -u, --uts   -i, --ipc   -n, --net   -p, --pid   -C, --cgroup   -T, --time
      --unshare LIST       the same as a list: mnt,uts,ipc,net,pid,cgroup,time
      --fork               fork once inside (implied by -p: CMD is pid 1)
      --mount-proc         mount a fresh /proc (implies -m)
      --propagation P      private (default), slave or shared
      --monotonic SECS     offset of CLOCK_MONOTONIC inside (needs -T; may be negative, fractional)
      --boottime SECS      offset of CLOCK_BOOTTIME and /proc/uptime inside (needs -T)
      --setgroups allow|deny
      --wd DIR             working directory inside (default: the current one)
      --NS=FILE            pin a namespace to FILE (NS: user, mount, net, uts, ipc, cgroup, pid, time)
      --pty                CMD gets its own terminal, a new pty relayed to ours (see below)
      --no-pty             never: CMD gets our terminal, in a new session if it runs as another uid
      --new-session        setsid() for CMD even when it runs as our own uid (like bwrap's)
  -h, --help

When stdin is a terminal and CMD runs as a host uid other than ours, CMD gets
a new pty instead of our terminal (as sudo's use_pty): it cannot type into
our shell (TIOCSTI) or reopen our terminal. Job control, ^C, ^Z and the
window size work inside it. As our own uid, CMD shares our terminal.

Example:
  bun-userns exec -r -n -- sh -c 'id -u; readlink /proc/self/ns/net'`;

export const ENTER_HELP = `Usage: bun-userns enter --target PID [options] -- CMD [ARGS...]

Runs CMD inside the namespaces of process PID (like util-linux nsenter(1)),
or inside namespace files (--net=/run/netns/x). Exit status as a shell.

Options:
  -t, --target PID         the process whose namespaces to enter
  -U, --user  -m, --mount  -n, --net  -i, --ipc  -u, --uts  -p, --pid  -C, --cgroup  -T, --time
  -a, --all                every namespace of PID that differs from ours (not pid, time)
      --NS=FILE            enter the namespace in FILE instead (NS as above)
      --wd DIR             working directory inside
      --pty                CMD gets its own terminal, a new pty relayed to ours (see below)
      --no-pty             never: CMD gets our terminal, in a new session if it runs as another uid
      --new-session        setsid() for CMD even when it runs as our own uid (like bwrap's)
  -h, --help

As for exec: CMD of another host uid gets a new pty when stdin is a terminal.`;

/**
 * Passes SIGTERM/SIGINT/SIGHUP on to CMD. Listening starts before CMD does:
 * a signal that arrives while the helper is still being released (CMD may
 * already be printing) is held and delivered once CMD is known, instead of
 * killing us with CMD left to PDEATHSIG.
 */
class SignalRelay implements Disposable {
  #target: InsideProcess | undefined;
  #held: NodeJS.Signals[] = [];
  readonly #handlers: (readonly [NodeJS.Signals, () => void])[] = [];

  constructor() {
    for (const s of ["SIGTERM", "SIGINT", "SIGHUP"] as const) this.pass(s);
  }

  /** Pass this signal on too (with a pty: SIGQUIT, which would otherwise leave our terminal raw). */
  pass(s: NodeJS.Signals): void {
    const fn = () => (this.#target ? this.#target.kill(s) : this.#held.push(s));
    this.#handlers.push([s, fn]);
    process.on(s, fn);
  }

  async waitFor(p: InsideProcess): Promise<number> {
    this.#target = p;
    for (const s of this.#held.splice(0)) p.kill(s);
    return await p.exited;
  }

  [Symbol.dispose](): void {
    for (const [s, fn] of this.#handlers) process.off(s, fn);
  }
}

export async function cmdExec(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let command: string[];
  let files: Partial<Record<ExecNamespace, string>>;
  try {
    const [head, cmd] = split(
      args,
      new Set([...MAP_VALUE_OPTIONS, "--unshare", "--setgroups", "--propagation", "--wd", "--monotonic", "--boottime"]),
    );
    // getopt takes the word after --monotonic even when it starts with "-" (a negative offset).
    for (let i = 0; i < head.length - 1; i++) {
      if (head[i] === "--monotonic" || head[i] === "--boottime") head.splice(i, 2, `${head[i]}=${head[i + 1]}`);
    }
    const taken = takeFiles(head, "exec");
    files = taken.files;
    command = cmd;
    values = parse({
      args: taken.rest,
      strict: true,
      allowPositionals: false,
      options: {
        ...MAP_OPTIONS,
        ...UNSHARE_OPTIONS,
        fork: { type: "boolean", short: "f" },
        "mount-proc": { type: "boolean" },
        propagation: { type: "string" },
        monotonic: { type: "string" },
        boottime: { type: "string" },
        setgroups: { type: "string" },
        wd: { type: "string" },
        ...TERMINAL_OPTIONS,
        help: { type: "boolean", short: "h" },
      },
    }).values;
    if (values.help) {
      write(1, `${EXEC_HELP}\n`);
      return 0;
    }
    if (command.length === 0)
      throw new UsageError("exec: missing command (bun-userns exec [options] -- CMD [ARGS...])");
    if (values.setgroups !== undefined && values.setgroups !== "allow" && values.setgroups !== "deny") {
      throw new UsageError(`exec: --setgroups takes allow or deny, not ${JSON.stringify(values.setgroups)}`);
    }
    const prop = values.propagation ?? "private";
    if (prop !== "private" && prop !== "slave" && prop !== "shared") {
      throw new UsageError(`exec: --propagation takes private, slave or shared, not ${JSON.stringify(prop)}`);
    }
    checkTerminalOptions("exec", values);
  } catch (e) {
    if (e instanceof UsageError) return usage(e);
    return failure(e);
  }
  let offsets: TimeOffsets | undefined;
  for (const clock of ["monotonic", "boottime"] as const) {
    const raw = values[clock];
    if (typeof raw !== "string") continue;
    if (!/^-?[0-9]{1,19}(\.[0-9]{1,9})?$/.test(raw)) {
      return usage(new UsageError(`exec: --${clock} takes seconds (e.g. 86400, -3.5), not ${JSON.stringify(raw)}`));
    }
    if (Math.abs(Number(raw)) > KTIME_SEC_MAX) {
      return usage(new UsageError(`exec: --${clock} ${raw} is beyond the kernel's ±${KTIME_SEC_MAX} s`));
    }
    offsets = { ...offsets, [clock]: Number(raw) };
  }
  let helper: Helper | undefined;
  let pty: PtyRelay | undefined;
  const pins: Pins[] = [];
  using relay = new SignalRelay();
  try {
    let flags = unshareFlags(values);
    if (values["mount-proc"]) flags |= NAMESPACE_FLAGS.mnt;
    // A pin asks for its namespace to be new, except user (always new).
    for (const ns of Object.keys(files) as ExecNamespace[]) {
      if (ns !== "user" && (flags & NAMESPACE_FLAGS[ns as NamespaceName]) === 0) {
        const opt = Object.keys(NS_OPTIONS).find((k) => NS_OPTIONS[k] === ns);
        return usage(
          new UsageError(`exec: --${opt}=FILE pins a new ${ns} namespace: add --${opt} (or --unshare ${ns})`),
        );
      }
    }
    flags >>>= 0;
    if (offsets !== undefined && (flags & NAMESPACE_FLAGS.time) === 0) {
      const which = values.monotonic !== undefined ? "--monotonic" : "--boottime";
      return usage(new UsageError(`exec: ${which} offsets a new time namespace: add -T (or --unshare time)`));
    }
    const maps = cliMaps("exec", values as Record<string, string | undefined>);
    if (typeof maps === "string") return usage(new UsageError(maps));
    // Pin paths are checked before anything exists: a bad one creates nothing.
    if (Object.keys(files).length > 0) planPins(files);
    const newPid = (flags & CLONE_NEWPID) !== 0;
    const helperFlags = (flags & ~CLONE_NEWPID) >>> 0;
    helper = startHelper(maps.uidMap, maps.gidMap, helperFlags, {
      setgroups: values.setgroups as "allow" | "deny" | undefined,
      mapper: maps.mapper,
    });
    const names: ExecNamespace[] = ["user"];
    for (const [name, bit] of Object.entries(NAMESPACE_FLAGS)) {
      if ((helperFlags & bit) !== 0) names.push(name as ExecNamespace);
    }
    // Before anything enters the time namespace: then the kernel freezes them.
    if (offsets !== undefined) setTimeOffsets(helper, offsets);
    const { pid: pidFile, ...fromHelper } = files;
    if (Object.keys(fromHelper).length > 0) pins.push(pinNamespaces(helper, fromHelper));
    // util-linux: --map-current-user keeps our ids; otherwise CMD is the namespace's root.
    const uid = values["map-current-user"] ? (process.geteuid?.() ?? 0) : 0;
    pty = await terminalFor(values, () => runsAsOtherUid(helper as Helper, { namespaces: names, uid }));
    const p = spawnInside(helper, command, {
      namespaces: names,
      newPidNamespace: newPid,
      mountProc: values["mount-proc"] === true,
      fork: values.fork === true,
      propagation: values.propagation as "private" | "slave" | "shared" | undefined,
      cwd: (values.wd as string | undefined) ?? process.cwd(),
      uid,
      gid: values["map-current-user"] ? (process.getegid?.() ?? 0) : 0,
      ...terminalOptions(values, pty),
    });
    // CMD holds the namespaces now; the helper's job is done.
    helper.release();
    helper = undefined;
    if (pidFile !== undefined) {
      // Only a pid namespace with its pid 1 can be pinned: CMD (or its fork) is that.
      try {
        pins.push(pinPidNamespaceOf(p.pid, pidFile));
      } catch (e) {
        p.kill();
        await p.exited;
        throw e;
      }
    }
    pins.length = 0; // they outlive the command: that is what they are for
    if (pty === undefined) return await relay.waitFor(p);
    relay.pass("SIGQUIT");
    return await (await import("./pty.ts")).relayed(pty, p, (q) => relay.waitFor(q));
  } catch (e) {
    for (const pin of pins) pin.unpin();
    return failure(e);
  } finally {
    helper?.release();
    pty?.restore();
  }
}

export async function cmdEnter(args: string[]): Promise<number> {
  using relay = new SignalRelay();
  let p: InsideProcess;
  let pty: PtyRelay | undefined;
  try {
    const [head, command] = split(args, new Set(["--target", "-t", "--wd"]));
    const { rest, files } = takeFiles(head, "enter");
    const { values } = parse({
      args: rest,
      strict: true,
      allowPositionals: false,
      options: {
        target: { type: "string", short: "t" },
        user: { type: "boolean", short: "U" },
        mount: { type: "boolean", short: "m" },
        net: { type: "boolean", short: "n" },
        ipc: { type: "boolean", short: "i" },
        uts: { type: "boolean", short: "u" },
        pid: { type: "boolean", short: "p" },
        cgroup: { type: "boolean", short: "C" },
        time: { type: "boolean", short: "T" },
        all: { type: "boolean", short: "a" },
        wd: { type: "string" },
        ...TERMINAL_OPTIONS,
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      write(1, `${ENTER_HELP}\n`);
      return 0;
    }
    if (command.length === 0) throw new UsageError("enter: missing command (bun-userns enter --target PID -- CMD)");
    checkTerminalOptions("enter", values);
    const names: ExecNamespace[] = [];
    for (const [opt, ns] of Object.entries(NS_OPTIONS)) {
      if ((values as Record<string, unknown>)[opt] === true) names.push(checkNamespaceName(ns, "enter"));
    }
    let pid = process.pid;
    if (values.target !== undefined) {
      if (!/^[1-9][0-9]{0,9}$/.test(values.target)) {
        throw new UsageError(`enter: --target takes a pid, not ${JSON.stringify(values.target)}`);
      }
      pid = Number(values.target);
    } else if (names.length > 0 || values.all) {
      throw new UsageError("enter: namespaces without a file need --target PID");
    } else if (Object.keys(files).length === 0) {
      throw new UsageError("enter: nothing to enter: give --target PID with --all or namespace options, or --NS=FILE");
    }
    if (values.all && names.length > 0) throw new UsageError("enter: --all cannot be combined with namespace options");
    if (names.length === 0 && !values.all && values.target !== undefined && Object.keys(files).length === 0) {
      throw new UsageError("enter: say which namespaces: --all, or --user --mount --net ...");
    }
    const namespaces = values.all ? undefined : names;
    pty = await terminalFor(values, () => runsAsOtherUid(pid, { namespaces, namespaceFiles: files }));
    p = spawnInside(pid, command, {
      namespaces,
      namespaceFiles: files,
      cwd: values.wd,
      ...terminalOptions(values, pty),
    });
  } catch (e) {
    pty?.restore();
    if (e instanceof UsageError) return usage(e);
    return failure(e);
  }
  if (pty === undefined) return await relay.waitFor(p);
  relay.pass("SIGQUIT");
  try {
    return await (await import("./pty.ts")).relayed(pty, p, (q) => relay.waitFor(q));
  } finally {
    pty.restore();
  }
}

/** --pty, --no-pty, --new-session: CMD's terminal (see EXEC_HELP). */
const TERMINAL_OPTIONS = {
  pty: { type: "boolean" },
  "no-pty": { type: "boolean" },
  "new-session": { type: "boolean" },
} as const;

function checkTerminalOptions(cmd: string, v: Record<string, unknown>): void {
  if (v.pty && v["no-pty"]) throw new UsageError(`${cmd}: choose --pty or --no-pty`);
  if (v.pty && !isTerminal(0)) throw new UsageError(`${cmd}: --pty needs a terminal on stdin`);
}

/**
 * A pty for CMD when stdin is a terminal and CMD runs as a host uid other
 * than ours (or --pty); undefined otherwise (--no-pty, or CMD is us). The
 * relay's module (and node:tty with it) loads only then.
 */
async function terminalFor(v: Record<string, unknown>, otherUid: () => boolean): Promise<PtyRelay | undefined> {
  if (v["no-pty"]) return undefined;
  if (!v.pty && !(isTerminal(0) && otherUid())) return undefined;
  return new (await import("./pty.ts")).PtyRelay();
}

/**
 * With a pty: its slave for our terminal fds, and as CMD's controlling
 * terminal. Without: --new-session forces setsid; otherwise spawnInside's
 * default (a new session when CMD is another uid and a terminal is in reach).
 */
function terminalOptions(v: Record<string, unknown>, pty: PtyRelay | undefined): SpawnInsideOptions {
  if (pty !== undefined) return { stdio: pty.stdio(), controllingTerminal: 0 };
  return v["new-session"] ? { newSession: true } : {};
}
