#!/usr/bin/env bun
/**
 * bun-userns CLI: run a command beside a parked user-namespace helper, check
 * a machine (doctor), validate a mapping (parse). Options follow util-linux
 * unshare(1) where the meaning is the same.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { split, UNSHARE_OPTIONS, unshareFlags } from "./cli/args.ts";
import { runDoctor } from "./cli/doctor.ts";
import { cmdEnter, cmdExec } from "./cli/exec.ts"; /* exec */
import { cliMaps, MAP_OPTIONS, MAP_VALUE_OPTIONS } from "./cli/maps.ts";
import { runCommand } from "./cli/run.ts";
import { UsernsError } from "./core/errors.ts";
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
      --map-users M     uid map: container-id:host-id:size[,...] (default 0:<euid>:1)
      --map-groups M    gid map (default 0:<egid>:1, or the --map-users map)
      --map M           the same map for users and groups
  -r, --map-root-user   own uid and gid as 0 (the default)
      --map-current-user  own uid and gid as themselves
      --map-auto        own ids as 0, then your /etc/subuid and /etc/subgid ranges
                        from 1 (podman's rootless default; needs newuidmap/newgidmap)
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
  bun-userns run --map-users 0:100000:65536 --map-groups 0:100000:65536 -- mount-idmapped /proc/{pid}/ns/user
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

class UsageError extends Error {}

function out(s: string): void {
  process.stdout.write(`${s}\n`);
}

function fail(e: unknown, json: boolean): number {
  if (e instanceof UsageError) {
    process.stderr.write(`bun-userns: ${e.message}\nTry 'bun-userns --help'.\n`);
    return 2;
  }
  const u = e instanceof UsernsError ? e : undefined;
  const message = e instanceof Error ? e.message : String(e);
  if (json) {
    out(
      JSON.stringify({ ok: false, error: { message, code: u?.code, errno: u?.errno, step: u?.step, hint: u?.hint } }),
    );
  }
  process.stderr.write(`bun-userns: ${message}\n${u?.hint ? `hint: ${u.hint}\n` : ""}`);
  return 1;
}

function parse<const T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
  }
}

async function cmdRun(args: string[]): Promise<number> {
  const [head, command] = split(args, new Set([...MAP_VALUE_OPTIONS, "--unshare", "--setgroups", "--owner"]));
  const { values } = parse({
    args: head,
    strict: true,
    allowPositionals: false,
    options: {
      ...MAP_OPTIONS,
      ...UNSHARE_OPTIONS,
      setgroups: { type: "string" },
      owner: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out(HELP.run);
    return 0;
  }
  const json = values.json === true;
  try {
    if (command.length === 0) throw new UsageError("run: missing command (bun-userns run [options] -- CMD [ARGS...])");
    const maps = cliMaps("run", values);
    if (typeof maps === "string") throw new UsageError(maps);
    if (values.setgroups !== undefined && values.setgroups !== "allow" && values.setgroups !== "deny") {
      throw new UsageError(`run: --setgroups takes allow or deny, not ${JSON.stringify(values.setgroups)}`);
    }
    if (values.owner !== undefined && values.owner !== "mapping" && values.owner !== "caller") {
      throw new UsageError(`run: --owner takes mapping or caller, not ${JSON.stringify(values.owner)}`);
    }
    const flags = unshareFlags(values);
    return await runCommand({
      uidMap: maps.uidMap,
      gidMap: maps.gidMap,
      mapper: maps.mapper,
      flags,
      command,
      json,
      setgroups: values.setgroups as "allow" | "deny" | undefined,
      owner: values.owner as "mapping" | "caller" | undefined,
    });
  } catch (e) {
    return fail(e, json);
  }
}

function cmdDoctor(args: string[]): number {
  const { values } = parse({
    args,
    strict: true,
    allowPositionals: false,
    options: { path: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    out(HELP.doctor);
    return 0;
  }
  const report = runDoctor(values.path);
  if (values.json) {
    out(JSON.stringify(report, null, 2));
  } else {
    const width = Math.max(...report.checks.map((c) => c.name.length));
    for (const c of report.checks) {
      out(`${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
      if (c.hint && c.status !== "ok")
        out(`      ${" ".repeat(width)}  hint: ${c.hint.replace(/\n/g, `\n      ${" ".repeat(width)}  `)}`);
    }
    out(report.ok ? "bun-userns can work here." : "bun-userns cannot work here: see the failed checks above.");
  }
  return report.ok ? 0 : 1;
}

function cmdParse(args: string[]): number {
  const { values, positionals } = parse({
    args,
    strict: true,
    allowPositionals: true,
    options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
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
    return fail(e, json);
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
    return fail(e, false);
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
