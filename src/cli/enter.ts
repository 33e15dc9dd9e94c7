/**
 * `bun-userns enter`: CMD inside a process's namespaces or namespace files,
 * a drop-in for util-linux nsenter(1) (its options, their meanings, its
 * exit status), through spawnInside.
 */
import { readFileSync, readlinkSync, statSync } from "node:fs";
import { UsernsError } from "../core/errors.ts";
import type { ExecNamespace } from "../exec/namespaces.ts";
import { type InsideProcess, runsAsOtherUid, type SpawnInsideOptions, spawnInside } from "../exec/spawn-inside.ts";
import { kindFile, NAMESPACE_KINDS } from "../ns/kinds.ts";
import {
  namespaceOptions,
  nsTable,
  type OptionTable,
  parseArgv,
  printVersion,
  report,
  str,
  UsageError,
  write,
} from "./args.ts";
import { idArg } from "./exec.ts";
import { dropInheritedFds, inheritedFds } from "./inherited-fds.ts";
import type { PtyRelay } from "./pty.ts";
import { checkTerminalOptions, finish, SignalRelay, TERMINAL_TABLE, terminalFor, terminalOptions } from "./relay.ts";

export const ENTER_HELP = `Usage: bun-userns enter [options] [--] CMD [ARGS...]

Runs CMD inside the namespaces of process PID, or inside namespace files
(--net=/run/netns/x), as util-linux nsenter(1) does. Exit status and signals
as bun-userns exec.

Options:
  -t, --target PID         the process whose namespaces (and root, cwd) to use
  -U, --user[=FILE]  -m, --mount[=FILE]  -n, --net[=FILE]  -i, --ipc[=FILE]
  -u, --uts[=FILE]   -p, --pid[=FILE]    -C, --cgroup[=FILE]  -T, --time[=FILE]
                           enter PID's namespace, or the one in FILE
  -a, --all                every namespace of PID that differs from ours
  -S, --setuid UID         become UID (default in an entered user namespace: 0)
  -G, --setgid GID         become GID, with no supplementary groups (default there: 0)
      --preserve-credentials   keep our ids when entering a user namespace
  -r, --root[=DIR]         chroot to PID's root, or DIR
  -w, --wd[=DIR]           working directory: PID's, or DIR
  -W, --wdns DIR           working directory DIR, looked up inside
  -S follow, -G follow     PID's own uid and gid
  -e, --env                PID's environment instead of ours
      --keep-caps          keep the capabilities of an entered user namespace across exec
  -F, --no-fork            with -p, CMD itself stays outside the pid namespace (its children are in it)
  -Z, --follow-context     SELinux: refused, bun-userns has no SELinux support
      --pty  --no-pty  --new-session   CMD's terminal, as for exec
  -h, --help   -V, --version

As for exec: CMD of another host uid gets a new pty when stdin is a terminal.`;

export const ENTER_TABLE: OptionTable = {
  ...nsTable(true),
  target: { type: "string", short: "t" },
  all: { type: "boolean", short: "a" },
  setuid: { type: "string", short: "S" },
  setgid: { type: "string", short: "G" },
  "preserve-credentials": { type: "boolean" },
  "keep-caps": { type: "boolean" },
  env: { type: "boolean", short: "e" },
  root: { type: "optional", short: "r" },
  wd: { type: "optional", short: "w" },
  wdns: { type: "string", short: "W" },
  "no-fork": { type: "boolean", short: "F" },
  "follow-context": { type: "boolean", short: "Z" },
  ...TERMINAL_TABLE,
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
};

/** A process's namespace link, or undefined when it cannot be read. */
function link(pid: number | "self", file: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${file}`);
  } catch {
    return undefined;
  }
}

/** nsenter --all: every namespace of PID that is not ours (pid and time included). */
function allOf(pid: number): ExecNamespace[] {
  if (link(pid, "user") === undefined)
    throw new UsernsError(`enter: --all: cannot read /proc/${pid}/ns/user: no such process, or not ours to read`, {
      code: "ESRCH",
      errno: 3,
      syscall: "readlink",
      step: "namespace",
    });
  return NAMESPACE_KINDS.filter((k) => {
    const theirs = link(pid, k === "time" ? kindFile(k) : k);
    return theirs !== undefined && theirs !== link("self", k === "time" ? kindFile(k) : k);
  });
}

export async function cmdEnter(args: string[]): Promise<number> {
  const relay = new SignalRelay();
  let cmd: InsideProcess;
  let pty: PtyRelay | undefined;
  try {
    const p = parseArgv("enter", args, ENTER_TABLE, "command");
    const v = p.values;
    if (v.help || v.version) {
      relay[Symbol.dispose]();
      if (v.help) write(1, `${ENTER_HELP}\n`);
      else await printVersion();
      return 0;
    }
    if (p.rest.length === 0)
      throw new UsageError("enter: missing command (bun-userns enter [options] -- CMD [ARGS...])");
    if (v["follow-context"]) throw new UsageError("enter: --follow-context: bun-userns has no SELinux support");
    checkTerminalOptions("enter", v);
    const { kinds, files } = namespaceOptions("enter", p);
    let pid: number | undefined;
    const target = str(v.target);
    if (target !== undefined) {
      if (!/^[1-9][0-9]{0,9}$/.test(target))
        throw new UsageError(`enter: --target takes a pid, not ${JSON.stringify(target)}`);
      pid = Number(target);
    }
    if (pid === undefined) {
      if (v.all) throw new UsageError("enter: --all needs --target PID");
      const byPid = [...kinds].filter((k) => files[k] === undefined);
      if (byPid.length > 0) throw new UsageError("enter: namespaces without a file need --target PID");
      if (v.root === true || v.wd === true)
        throw new UsageError("enter: --root and --wd without DIR need --target PID");
    }
    const fromPid = [...kinds].filter((k) => files[k] === undefined);
    if (v.all && pid !== undefined) for (const k of allOf(pid)) if (files[k] === undefined) fromPid.push(k);
    const names = [...new Set(fromPid)] as ExecNamespace[];
    const entersUser = names.includes("user") || files.user !== undefined;
    const entersMnt = names.includes("mnt") || files.mnt !== undefined;
    const keep = v["preserve-credentials"] === true;
    // -S follow / -G follow (util-linux 2.41): PID's own uid and gid, as we see them.
    const follow = (opt: "setuid" | "setgid") => {
      if (pid === undefined) throw new UsageError(`enter: --${opt} follow needs --target PID`);
      return statSync(`/proc/${pid}`)[opt === "setuid" ? "uid" : "gid"];
    };
    const uid = str(v.setuid) === "follow" ? follow("setuid") : idArg("enter", "setuid", str(v.setuid));
    const gid = str(v.setgid) === "follow" ? follow("setgid") : idArg("enter", "setgid", str(v.setgid));
    if (v.env && pid === undefined) throw new UsageError("enter: --env needs --target PID");
    // --env (util-linux 2.40): PID's environment instead of ours.
    const env =
      v.env && pid !== undefined
        ? Object.fromEntries(
            readFileSync(`/proc/${pid}/environ`, "latin1")
              .split("\0")
              .filter((e) => e.includes("="))
              .map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
          )
        : undefined;
    // PID's root and cwd: through /proc from our mount namespace, or (entering PID's) as its paths there.
    const procPath = (what: "root" | "cwd", inside: boolean) => {
      if (inside) {
        try {
          return readlinkSync(`/proc/${pid}/${what}`);
        } catch {
          return "/";
        }
      }
      return `/proc/${pid}/${what}`;
    };
    // nsenter takes -w=DIR and -W=DIR (the "=" of an attached value dropped).
    const plain = (x: string | true | undefined) => str(x)?.replace(/^=/, "");
    const root = v.root === true ? procPath("root", entersMnt) : plain(v.root);
    // After a chroot, PID's cwd is looked up inside the new root: its path as PID sees it.
    const wd = plain(v.wdns) ?? (v.wd === true ? procPath("cwd", entersMnt || root !== undefined) : plain(v.wd));
    const options: SpawnInsideOptions = {
      namespaces: names,
      namespaceFiles: files,
      // The fds we were given, as nsenter(1)'s command gets them.
      passFds: inheritedFds(),
      ...(uid !== undefined ? { uid } : keep && entersUser ? { uid: "keep" as const } : {}),
      ...(gid !== undefined ? { gid } : keep && entersUser ? { gid: "keep" as const } : {}),
      ...(v["no-fork"] ? { fork: false } : {}),
      ...(v["keep-caps"] && entersUser ? { keepCaps: true } : {}),
      ...(env === undefined ? {} : { env }),
      ...(root === undefined ? {} : { root }),
      ...(wd === undefined ? {} : { cwd: wd }),
    };
    // No namespace at all (nsenter -t PID CMD): CMD runs here, with the other options.
    const at = pid ?? process.pid;
    pty = await terminalFor(v, () => runsAsOtherUid(at, options));
    cmd = spawnInside(at, p.rest, { ...options, ...terminalOptions(v, pty) });
    dropInheritedFds();
  } catch (e) {
    pty?.restore();
    relay[Symbol.dispose]();
    return report(e);
  }
  return await finish(relay, cmd, pty);
}
