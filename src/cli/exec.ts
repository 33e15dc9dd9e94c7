/**
 * issue 11: `bun-userns exec` (CMD runs inside new namespaces, util-linux
 * unshare(1) options) and `bun-userns enter` (CMD runs inside an existing
 * process's namespaces or namespace files, nsenter(1) options). Exit status
 * as a shell: CMD's code, 128+N if signal N killed it, 127 not found, 126
 * not executable. SIGTERM, SIGINT and SIGHUP sent to us are passed on to CMD.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { UsernsError } from "../core/errors.ts";
import { CLONE_NEWPID, NAMESPACE_FLAGS, type NamespaceName, parseNamespaceList } from "../core/flags.ts";
import type { Helper } from "../core/helper.ts";
import { startHelper } from "../core/unshare.ts";
import { checkNamespaceName, type ExecNamespace } from "../exec/namespaces.ts";
import { type InsideProcess, spawnInside } from "../exec/spawn-inside.ts";
import { cliMaps, MAP_OPTIONS, MAP_VALUE_OPTIONS } from "./maps.ts";

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
      --setgroups allow|deny
      --wd DIR             working directory inside (default: the current one)
      --NS=FILE            pin a namespace to FILE (NS: user, mount, net, uts, ipc, cgroup, pid, time)
  -h, --help

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
  -h, --help`;

class UsageError extends Error {}

/** util-linux spelling of each namespace option, and the name spawnInside takes. */
const NS_OPTIONS: Record<string, ExecNamespace> = {
  user: "user",
  mount: "mnt",
  net: "net",
  uts: "uts",
  ipc: "ipc",
  cgroup: "cgroup",
  pid: "pid",
  time: "time",
};

/** Pull `--NS=FILE` out of the options (parseArgs has no optional values). */
function takeFiles(head: string[]): { rest: string[]; files: Partial<Record<ExecNamespace, string>> } {
  const rest: string[] = [];
  const files: Partial<Record<ExecNamespace, string>> = {};
  for (const a of head) {
    const m = /^--([a-z]+)=(.*)$/s.exec(a);
    const ns = m ? NS_OPTIONS[m[1] as string] : undefined;
    if (m && ns) {
      if ((m[2] as string) === "") throw new UsageError(`--${m[1]}= needs a file`);
      files[ns] = m[2] as string;
    } else rest.push(a);
  }
  return { rest, files };
}

function split(args: string[], takesValue: Set<string>): [string[], string[]] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") return [args.slice(0, i), args.slice(i + 1)];
    if (!a.startsWith("-")) return [args.slice(0, i), args.slice(i)];
    if (takesValue.has(a)) i++;
  }
  return [args, []];
}

function parse<const T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
  }
}

function usage(e: unknown): number {
  process.stderr.write(`bun-userns: ${(e as Error).message}\nTry 'bun-userns --help'.\n`);
  return 2;
}

function failure(e: unknown): number {
  const u = e instanceof UsernsError ? e : undefined;
  process.stderr.write(
    `bun-userns: ${e instanceof Error ? e.message : String(e)}\n${u?.hint ? `hint: ${u.hint}\n` : ""}`,
  );
  if (u?.syscall === "execve") return u.code === "ENOENT" ? 127 : 126;
  return 1;
}

/** Wait for CMD, passing SIGTERM/SIGINT/SIGHUP on to it. */
async function waitFor(p: InsideProcess): Promise<number> {
  const sigs: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];
  const handlers = sigs.map((s) => [s, () => p.kill(s)] as const);
  for (const [s, fn] of handlers) process.on(s, fn);
  try {
    return await p.exited;
  } finally {
    for (const [s, fn] of handlers) process.off(s, fn);
  }
}

/**
 * TODO(issue 11 part B, pins): create the pins asked for with --NS=FILE here,
 * from the helper's pid (pid -> pid_for_children, time -> time_for_children),
 * before the helper is released. Part B's pinNamespaces() plugs in here.
 */
function createPins(_helperPid: number, files: Partial<Record<ExecNamespace, string>>): void {
  const names = Object.keys(files);
  if (names.length === 0) return;
  throw new UsernsError(`exec: pinning namespaces (--${names[0]}=FILE) is not available in this build yet`, {
    code: "ENOSYS",
    errno: 38,
    step: "options",
  });
}

export async function cmdExec(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let command: string[];
  let files: Partial<Record<ExecNamespace, string>>;
  try {
    const [head, cmd] = split(
      args,
      new Set([...MAP_VALUE_OPTIONS, "--unshare", "--setgroups", "--propagation", "--wd"]),
    );
    const taken = takeFiles(head);
    files = taken.files;
    command = cmd;
    values = parse({
      args: taken.rest,
      strict: true,
      allowPositionals: false,
      options: {
        ...MAP_OPTIONS,
        unshare: { type: "string" },
        mount: { type: "boolean", short: "m" },
        uts: { type: "boolean", short: "u" },
        ipc: { type: "boolean", short: "i" },
        net: { type: "boolean", short: "n" },
        pid: { type: "boolean", short: "p" },
        cgroup: { type: "boolean", short: "C" },
        time: { type: "boolean", short: "T" },
        fork: { type: "boolean", short: "f" },
        "mount-proc": { type: "boolean" },
        propagation: { type: "string" },
        setgroups: { type: "string" },
        wd: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
    if (values.help) {
      process.stdout.write(`${EXEC_HELP}\n`);
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
  } catch (e) {
    if (e instanceof UsageError) return usage(e);
    return failure(e);
  }
  let helper: Helper | undefined;
  try {
    let flags = values.unshare !== undefined ? parseNamespaceList(values.unshare as string) : 0;
    for (const [opt, ns] of Object.entries(NS_OPTIONS)) {
      if (ns !== "user" && values[opt] === true) flags |= NAMESPACE_FLAGS[ns as NamespaceName];
    }
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
    const maps = cliMaps("exec", values as Record<string, string | undefined>);
    if (typeof maps === "string") return usage(new UsageError(maps));
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
    createPins(helper.pid, files);
    const p = spawnInside(helper, command, {
      namespaces: names,
      newPidNamespace: newPid,
      mountProc: values["mount-proc"] === true,
      fork: values.fork === true,
      propagation: values.propagation as "private" | "slave" | "shared" | undefined,
      cwd: (values.wd as string | undefined) ?? process.cwd(),
      // util-linux: --map-current-user keeps our ids; otherwise CMD is the namespace's root.
      uid: values["map-current-user"] ? (process.geteuid?.() ?? 0) : 0,
      gid: values["map-current-user"] ? (process.getegid?.() ?? 0) : 0,
    });
    // CMD holds the namespaces now; the helper's job is done.
    helper.release();
    helper = undefined;
    return await waitFor(p);
  } catch (e) {
    return failure(e);
  } finally {
    helper?.release();
  }
}

export async function cmdEnter(args: string[]): Promise<number> {
  let p: InsideProcess;
  try {
    const [head, command] = split(args, new Set(["--target", "-t", "--wd"]));
    const { rest, files } = takeFiles(head);
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
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      process.stdout.write(`${ENTER_HELP}\n`);
      return 0;
    }
    if (command.length === 0) throw new UsageError("enter: missing command (bun-userns enter --target PID -- CMD)");
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
    p = spawnInside(pid, command, {
      namespaces: values.all ? undefined : names,
      namespaceFiles: files,
      cwd: values.wd,
    });
  } catch (e) {
    if (e instanceof UsageError) return usage(e);
    return failure(e);
  }
  return await waitFor(p);
}
