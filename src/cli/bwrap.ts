/**
 * `bun-userns bwrap` (and the `bun-userns-bwrap` bin): bubblewrap's command
 * line run through sandbox(). Parse (./bwrap/options.ts), build the spec
 * (./bwrap/spec.ts), start the sandbox, write --info-fd and
 * --json-status-fd as bwrap does, and exit with the command's status.
 * Every message is "bwrap: …" (with --level-prefix, "<N>bwrap: …") and
 * every failure of bwrap's own exits 1, as scripts expect of bwrap.
 */
import { closeSync, readlinkSync, writeSync } from "node:fs";
import { errnoText, UsernsError } from "../core/errors.ts";
import * as processCodec from "../core/process-codec.ts";
import type { InsideProcess } from "../exec/spawn-inside.ts";
import { sandbox, sandboxStartInfo } from "../sandbox/sandbox.ts";
import { needSandbox } from "../sandbox/sandbox-codec.ts";
import type { SandboxSpec } from "../sandbox/spec.ts";
import { type BwrapArgs, BwrapError, parseBwrapArgs } from "./bwrap/options.ts";
import { buildSpec, hostPathOf } from "./bwrap/spec.ts";
import { dropInheritedFds, inheritedFds } from "./inherited-fds.ts";

/** The bwrap release whose option language this follows. */
export const BWRAP_VERSION = "0.11.1";

/** Every option, described in our words (the names and arguments are bwrap's). */
const HELP_LINES: [string, string][] = [
  ["--help", "this text"],
  ["--version", "the bwrap release whose options these are"],
  ["--args FD", "read more options from FD, NUL-separated"],
  ["--argv0 VALUE", "the command's argv[0]"],
  ["--level-prefix", "syslog level before each message (<3>, <4>)"],
  ["--unshare-all", "every namespace below (user and cgroup if possible)"],
  ["--share-net", "keep the caller's network namespace (after --unshare-all)"],
  ["--unshare-user", "a new user namespace (this command always makes one)"],
  ["--unshare-user-try", "the same, where the system allows it"],
  ["--unshare-ipc", "a new IPC namespace"],
  ["--unshare-pid", "a new pid namespace, with a small init as pid 1"],
  ["--unshare-net", "a new network namespace (loopback only)"],
  ["--unshare-uts", "a new hostname namespace"],
  ["--unshare-cgroup", "a new cgroup namespace"],
  ["--unshare-cgroup-try", "the same, where the kernel has them"],
  ["--userns FD", "enter this user namespace instead of making one"],
  ["--userns2 FD", "switch to this user namespace once the view is built"],
  ["--disable-userns", "no user namespace can be made inside"],
  ["--assert-userns-disabled", "fail if a user namespace could be made inside"],
  ["--pidns FD", "this pid namespace (the parent of a new one with --unshare-pid)"],
  ["--uid UID", "the command's uid inside"],
  ["--gid GID", "the command's gid inside"],
  ["--hostname NAME", "the hostname inside (needs --unshare-uts)"],
  ["--chdir DIR", "start in DIR (default: the current directory if the view has it)"],
  ["--clearenv", "start from an empty environment"],
  ["--setenv VAR VALUE", "set VAR"],
  ["--unsetenv VAR", "remove VAR"],
  ["--lock-file DEST", "hold a lock on DEST while the sandbox runs"],
  ["--sync-fd FD", "FD stays open until the sandbox ends"],
  ["--bind SRC DEST", "host path SRC on DEST, writable"],
  ["--bind-try SRC DEST", "the same; a missing SRC is skipped"],
  ["--dev-bind SRC DEST", "the same, device files usable"],
  ["--dev-bind-try SRC DEST", "the same; a missing SRC is skipped"],
  ["--ro-bind SRC DEST", "host path SRC on DEST, read-only"],
  ["--ro-bind-try SRC DEST", "the same; a missing SRC is skipped"],
  ["--bind-fd FD DEST", "the directory open as FD on DEST"],
  ["--ro-bind-fd FD DEST", "the same, read-only"],
  ["--remount-ro DEST", "make the mount at DEST read-only (not its submounts)"],
  ["--overlay-src SRC", "a lower layer of the next overlay"],
  ["--overlay RWSRC WORKDIR DEST", "overlay on DEST, writes into RWSRC (WORKDIR: empty, same fs)"],
  ["--tmp-overlay DEST", "overlay on DEST, writes into a tmpfs that goes with it"],
  ["--ro-overlay DEST", "overlay on DEST, read-only"],
  ["--exec-label LABEL", "SELinux: refused here"],
  ["--file-label LABEL", "SELinux: refused here"],
  ["--proc DEST", "procfs on DEST"],
  ["--dev DEST", "a minimal /dev on DEST"],
  ["--tmpfs DEST", "an empty tmpfs on DEST"],
  ["--mqueue DEST", "POSIX message queues on DEST"],
  ["--dir DEST", "make the directory DEST"],
  ["--file FD DEST", "a file at DEST holding what FD reads"],
  ["--bind-data FD DEST", "the same (mode 0600 unless --perms)"],
  ["--ro-bind-data FD DEST", "the same, read-only"],
  ["--symlink SRC DEST", "a symlink at DEST pointing to SRC"],
  ["--seccomp FD", "a seccomp program (struct sock_filter array) read from FD"],
  ["--add-seccomp-fd FD", "one more such program (may repeat)"],
  ["--block-fd FD", "wait for data on FD before the command runs"],
  ["--userns-block-fd FD", "wait for data on FD once the user namespace exists"],
  ["--info-fd FD", "write the sandbox's pid and namespaces to FD as JSON"],
  ["--json-status-fd FD", "the same on one line, then the exit code"],
  ["--new-session", "the command gets a session of its own (no controlling tty)"],
  ["--die-with-parent", "the sandbox and this command die with this command's parent"],
  ["--as-pid-1", "the command is pid 1 itself (needs --unshare-pid)"],
  ["--cap-add CAP", "keep CAP (or ALL) inside"],
  ["--cap-drop CAP", "drop CAP (or ALL) inside"],
  ["--perms OCTAL", "mode of what the next option makes"],
  ["--size BYTES", "size of the next --tmpfs"],
  ["--chmod OCTAL PATH", "change the mode of PATH inside"],
];

function usageText(name: string): string {
  const lines = HELP_LINES.map(([o, d]) => `    ${o.padEnd(28)} ${d}`);
  return `usage: ${name} [OPTIONS...] [--] COMMAND [ARGS...]\n\n${lines.join("\n")}\n`;
}

/** bwrap's diagnostics: "bwrap: " with an optional syslog level ("<3>" error, "<4>" warning). */
function say(levelPrefix: boolean, level: 3 | 4, message: string): void {
  process.stderr.write(`${levelPrefix ? `<${level}>` : ""}bwrap: ${message}\n`);
}

/** bwrap's --info-fd document: the first process's pid and the inode of each namespace made (user aside). */
function infoOf(proc: InsideProcess, made: readonly string[]): [string, number | bigint][] {
  const info = sandboxStartInfo(proc);
  if (info === undefined) return [];
  const out: [string, number | bigint][] = [["child-pid", info.firstPid]];
  for (const ns of ["cgroup", "ipc", "mnt", "net", "pid", "uts"] as const)
    if (made.includes(ns)) out.push([`${ns}-namespace`, info.namespaces[ns]]);
  return out;
}

/** strerror(3)'s wording, as bwrap prints it. */
export function strerror(errno: number): string {
  const t = errnoText(errno);
  return t.charAt(0).toUpperCase() + t.slice(1);
}

/** The words of a failure as bwrap words them, where scripts match on them. */
function messageOf(e: unknown, a: BwrapArgs, spec: SandboxSpec): string {
  if (!(e instanceof UsernsError)) return e instanceof Error ? e.message : String(e);
  const m = /mounts\[(\d+)\]/.exec(e.message);
  const i = m ? Number(m[1]) : -1;
  const op = a.ops[i];
  if (e.step === "exec") return `execvp ${a.command[0]}: ${strerror(e.errno ?? 2)}`;
  if (e.step === "userns_enabled") return "creation of new user namespaces was not disabled as requested";
  if (e.step === "newroot") return `Creating newroot failed: ${strerror(e.errno ?? 22)}`;
  if (e.step === "chdir") return `Can't chdir to ${spec.cwd}: ${strerror(e.errno ?? 2)}`;
  if (op && "source" in op && e.syscall === "stat" && e.step === "options")
    return `Can't find source path ${op.source}: ${strerror(e.errno ?? 2)}`;
  if (op?.op === "symlink" && e.code === "EEXIST") {
    const mount = spec.mounts?.[i];
    const host = mount ? hostPathOf(a.ops, i, mount.target) : null;
    let have = "";
    try {
      if (host !== null) have = readlinkSync(host);
    } catch {}
    return `Can't make symlink at ${op.dest}: existing destination is ${have}`;
  }
  return e.message.replace(/^sandbox: /, "");
}

/**
 * Run bwrap's command line ARGS; NAME is how the command was invoked (its
 * usage line names it). Resolves to the exit status.
 */
export async function runBwrap(name: string, args: readonly string[], self: string[]): Promise<number> {
  // Our parent as we start: --die-with-parent ties us to this one.
  const parent = process.ppid;
  // Taken (and its variable removed) before anything reads the environment the command gets.
  const inherited = inheritedFds();
  if (args.length === 0) {
    process.stderr.write(usageText(name));
    return 1;
  }
  let a: BwrapArgs;
  try {
    a = parseBwrapArgs(args, process.env);
  } catch (e) {
    if (!(e instanceof BwrapError)) throw e;
    say(args.includes("--level-prefix"), 3, e.message);
    return 1;
  }
  if (a.help) {
    process.stdout.write(usageText(name));
    return 0;
  }
  if (a.version) {
    process.stdout.write(`bubblewrap ${BWRAP_VERSION}\n`);
    return 0;
  }
  for (const w of a.warnings) say(a.levelPrefix, 4, w);
  if (a.command.length === 0) {
    process.stderr.write(usageText(name));
    return 1;
  }
  let built: ReturnType<typeof buildSpec>;
  try {
    built = buildSpec(a, process.cwd(), process.getuid?.() ?? 0, process.getgid?.() ?? 0, inherited);
  } catch (e) {
    if (!(e instanceof BwrapError)) throw e;
    say(a.levelPrefix, 3, e.message);
    return 1;
  }
  // "/proc/self/exe" names bwrap itself to a bwrap command line: here that is Bun running this script.
  const argv = a.command[0] === "/proc/self/exe" ? ["/proc/self/exe", ...self, ...a.command.slice(1)] : a.command;
  // --die-with-parent: this command dies (SIGKILL) the moment its parent does, as bwrap does, and the sandbox
  // with it (it always dies with the thread that started it). Set before the start: no instant is uncovered.
  if (a.dieWithParent) {
    needSandbox(); // the first native call: load the build sandbox() needs, one compile for both
    const rc = processCodec.dieWithParent(9, parent);
    // The parent went before the setting: its SIGKILL will never come, so take it now (nothing is started).
    if (rc === -3) process.kill(process.pid, "SIGKILL");
    if (rc < 0) {
      say(a.levelPrefix, 3, `prctl: ${strerror(-rc)}`);
      return 1;
    }
  }
  let proc: ReturnType<typeof sandbox>;
  try {
    proc = sandbox(argv, built.spec as SandboxSpec);
  } catch (e) {
    say(a.levelPrefix, 3, messageOf(e, a, built.spec as SandboxSpec));
    return 1;
  }
  // The command's fds are its own now (an option's fd, such as --json-status-fd's, stays ours).
  dropInheritedFds(built.spec.passFds ?? []);
  if (a.infoFd !== -1 || a.jsonStatusFd !== -1) {
    const info = infoOf(proc, built.namespaces);
    if (a.infoFd !== -1) {
      const body = info.map(([k, v]) => `    "${k}": ${v}`).join(",\n");
      try {
        writeSync(a.infoFd, `{\n${body}\n}\n`);
        closeSync(a.infoFd);
      } catch {}
    }
    if (a.jsonStatusFd !== -1) {
      try {
        writeSync(a.jsonStatusFd, `{ ${info.map(([k, v]) => `"${k}": ${v}`).join(", ")} }\n`);
      } catch {}
    }
  }
  const status = await proc.exited;
  if (a.jsonStatusFd !== -1) {
    try {
      writeSync(a.jsonStatusFd, `{ "exit-code": ${status} }\n`);
    } catch {}
  }
  return status;
}
