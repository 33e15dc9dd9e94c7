#!/usr/bin/env bun
/**
 * bun-userns CLI: run a command beside a parked user-namespace helper, check
 * a machine (doctor), validate a mapping (parse). Options follow util-linux
 * unshare(1) where the meaning is the same.
 */
import {
  choice,
  flagsOf,
  namespaceOptions,
  nsTable,
  parseArgv,
  report,
  str,
  UsageError,
  unshareList,
} from "./cli/args.ts";
import { runDoctor } from "./cli/doctor.ts";
import { cmdEnter } from "./cli/enter.ts";
import { cmdExec } from "./cli/exec.ts"; /* exec */
import { cliMaps, MAP_TABLE } from "./cli/maps.ts";
import { runCommand } from "./cli/run.ts";
import { NAMESPACE_FLAGS } from "./core/flags.ts";
import { mapText, parseIDMapping } from "./core/idmap.ts";

const VERSION: string = (await import("../package.json", { with: { type: "json" } })).default.version;

const HELP = {
  main: `Usage: bun-userns <command> [options]

Commands:
  run      run a command beside a parked helper in a new user namespace
  exec     run a command inside new namespaces (like unshare(1))
  enter    run a command inside a process's namespaces (like nsenter(1))
  doctor   check what bun-userns needs on this machine
  parse    validate a uid/gid mapping with the library's rules
  mount    idmapped bind mount: bun-userns mount --map M SOURCE TARGET
  umount   unmount: bun-userns umount [--lazy] TARGET
  pin      pin namespaces to files: bun-userns pin -n --net=/run/netns/x
  unpin    remove namespace pins: bun-userns unpin FILE...
  bwrap    bubblewrap's command line over sandbox(): bun-userns bwrap --help

Options:
  -h, --help      show help (also: bun-userns <command> --help)
  -V, --version   print the version

Examples:
  bun-userns run --map 0:1000:65536 --unshare mnt,net -- sh -c 'readlink /proc/$USERNS_PID/ns/user'
  bun-userns doctor --path /var/lib/containers
  bun-userns parse 0:1000:10,100:2000:5`,
  run: `Usage: bun-userns run [options] -- CMD [ARGS...]

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
      --map-users=RANGE uid range outer,inner,count (or inner:outer:count, or auto); repeatable
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
  bun-userns run --net -- ip netns attach sandbox {pid}`,
  doctor: `Usage: bun-userns doctor [--path DIR] [--json]

Checks, one line each (ok / warn / fail, with a hint): kernel, native layer,
pidfd syscalls, creating a user namespace, user.max_user_namespaces,
kernel.unprivileged_userns_clone, AppArmor's userns restriction, Yama
ptrace_scope, seccomp, newuidmap/newgidmap, /etc/subuid and /etc/subgid, and
with --path whether DIR can be idmapped (a detached clone, never attached).
Exits 0 when everything the library needs works here, 1 otherwise.

Options:
      --path DIR   also check idmapped-mount support of DIR
      --json       one JSON document on stdout
  -h, --help

Examples:
  bun-userns doctor
  bun-userns doctor --path /var/lib/containerd --json`,
  parse: `Usage: bun-userns parse MAP [--json]

Validates MAP (container-id:host-id:size[,...]) with Go's strconv.Atoi rules
and the kernel's (u32 range, size, wrap, overlap, 340 extents, 4095 bytes)
and prints the extents as the kernel would read them, or the exact error.

Options:
      --json   one JSON document on stdout
  -h, --help

Examples:
  bun-userns parse 0:1000:10,100:2000:5
  bun-userns parse 0:4294968296:1     # refused: the kernel would truncate it to 1000`,
} as const;

function out(s: string): void {
  process.stdout.write(`${s}\n`);
}

async function cmdRun(args: string[]): Promise<number> {
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
      out(HELP.run);
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

function cmdDoctor(args: string[]): number {
  const { values, rest } = parseArgv(
    "doctor",
    args,
    { path: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    "positionals",
  );
  if (rest.length > 0) throw new UsageError(`doctor: unexpected argument ${JSON.stringify(rest[0])}`);
  if (values.help) {
    out(HELP.doctor);
    return 0;
  }
  const result = runDoctor(str(values.path));
  if (values.json) {
    out(JSON.stringify(result, null, 2));
  } else {
    const width = Math.max(...result.checks.map((c) => c.name.length));
    for (const c of result.checks) {
      out(`${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
      if (c.hint && c.status !== "ok")
        out(`      ${" ".repeat(width)}  hint: ${c.hint.replace(/\n/g, `\n      ${" ".repeat(width)}  `)}`);
    }
    out(result.ok ? "bun-userns can work here." : "bun-userns cannot work here: see the failed checks above.");
  }
  return result.ok ? 0 : 1;
}

function cmdParse(args: string[]): number {
  const { values, rest: positionals } = parseArgv(
    "parse",
    args,
    { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    "positionals",
  );
  if (values.help) {
    out(HELP.parse);
    return 0;
  }
  const json = values.json === true;
  try {
    if (positionals.length !== 1) throw new UsageError(`parse: expected one MAP argument, got ${positionals.length}`);
    const extents = parseIDMapping(positionals[0] as string);
    const text = mapText(extents);
    if (json) out(JSON.stringify({ ok: true, extents, text }));
    else process.stdout.write(text);
    return 0;
  } catch (e) {
    // A map the library refuses is parse's answer (exit 1), not a usage error.
    return report(e, json);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "run":
        return await cmdRun(rest);
      case "doctor":
        return cmdDoctor(rest);
      /* exec */
      case "exec":
        return await cmdExec(rest);
      case "enter":
        return await cmdEnter(rest);
      case "pin":
        return (await import("./cli/pin.ts")).cmdPin(rest);
      case "unpin":
        return (await import("./cli/pin.ts")).cmdUnpin(rest);
      case "parse":
        return cmdParse(rest);
      case "bwrap":
        return await (await import("./cli/bwrap.ts")).runBwrap("bun-userns bwrap", rest, [
          process.argv[1] ?? "bun-userns",
          "bwrap",
        ]);
      /* mounts */
      case "mount":
      case "umount":
        return await (await import("./cli/mount.ts")).runMountCommand(command, rest);
      case "-V":
      case "--version":
        out(VERSION);
        return 0;
      case undefined:
      case "-h":
      case "--help":
      case "help":
        out(HELP.main);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    return report(e);
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
