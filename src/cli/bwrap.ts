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
import type { InsideProcess } from "../exec/spawn-inside.ts";
import { sandbox, sandboxStartInfo } from "../sandbox/sandbox.ts";
import type { SandboxSpec } from "../sandbox/spec.ts";
import { type BwrapArgs, BwrapError, parseBwrapArgs } from "./bwrap/options.ts";
import { buildSpec, hostPathOf } from "./bwrap/spec.ts";

/** The bwrap release whose option language this follows. */
export const BWRAP_VERSION = "0.11.1";

const HELP_LINES: [string, string][] = [
  ["--help", "Print this help"],
  ["--version", "Print version"],
  ["--args FD", "Parse NUL-separated args from FD"],
  ["--argv0 VALUE", "Set argv[0] to the value VALUE before running the program"],
  ["--level-prefix", "Prepend e.g. <3> to diagnostic messages"],
  ["--unshare-all", "Unshare every namespace we support by default"],
  ["--share-net", "Retain the network namespace (can only combine with --unshare-all)"],
  ["--unshare-user", "Create new user namespace (always made here)"],
  ["--unshare-user-try", "Create new user namespace if possible else continue by skipping it"],
  ["--unshare-ipc", "Create new ipc namespace"],
  ["--unshare-pid", "Create new pid namespace"],
  ["--unshare-net", "Create new network namespace"],
  ["--unshare-uts", "Create new uts namespace"],
  ["--unshare-cgroup", "Create new cgroup namespace"],
  ["--unshare-cgroup-try", "Create new cgroup namespace if possible else continue by skipping it"],
  ["--userns FD", "Use this user namespace (cannot combine with --unshare-user)"],
  ["--userns2 FD", "After setup switch to this user namespace, only useful with --userns"],
  ["--disable-userns", "Disable further use of user namespaces inside sandbox"],
  ["--assert-userns-disabled", "Fail unless further use of user namespace inside sandbox is disabled"],
  ["--pidns FD", "Use this pid namespace (as parent namespace if using --unshare-pid)"],
  ["--uid UID", "Custom uid in the sandbox (requires --unshare-user or --userns)"],
  ["--gid GID", "Custom gid in the sandbox (requires --unshare-user or --userns)"],
  ["--hostname NAME", "Custom hostname in the sandbox (requires --unshare-uts)"],
  ["--chdir DIR", "Change directory to DIR"],
  ["--clearenv", "Unset all environment variables"],
  ["--setenv VAR VALUE", "Set an environment variable"],
  ["--unsetenv VAR", "Unset an environment variable"],
  ["--lock-file DEST", "Take a lock on DEST while sandbox is running"],
  ["--sync-fd FD", "Keep this fd open while sandbox is running"],
  ["--bind SRC DEST", "Bind mount the host path SRC on DEST"],
  ["--bind-try SRC DEST", "Equal to --bind but ignores non-existent SRC"],
  ["--dev-bind SRC DEST", "Bind mount the host path SRC on DEST, allowing device access"],
  ["--dev-bind-try SRC DEST", "Equal to --dev-bind but ignores non-existent SRC"],
  ["--ro-bind SRC DEST", "Bind mount the host path SRC readonly on DEST"],
  ["--ro-bind-try SRC DEST", "Equal to --ro-bind but ignores non-existent SRC"],
  ["--bind-fd FD DEST", "Bind open directory or path fd on DEST"],
  ["--ro-bind-fd FD DEST", "Bind open directory or path fd read-only on DEST"],
  ["--remount-ro DEST", "Remount DEST as readonly; does not recursively remount"],
  ["--overlay-src SRC", "Read files from SRC in the following overlay"],
  ["--overlay RWSRC WORKDIR DEST", "Mount overlayfs on DEST, with RWSRC as the host path for writes and"],
  ["", "WORKDIR an empty directory on the same filesystem as RWSRC"],
  ["--tmp-overlay DEST", "Mount overlayfs on DEST, with writes going to an invisible tmpfs"],
  ["--ro-overlay DEST", "Mount overlayfs read-only on DEST"],
  ["--exec-label LABEL", "Exec label for the sandbox (SELinux: refused here)"],
  ["--file-label LABEL", "File label for temporary sandbox content (SELinux: refused here)"],
  ["--proc DEST", "Mount new procfs on DEST"],
  ["--dev DEST", "Mount new dev on DEST"],
  ["--tmpfs DEST", "Mount new tmpfs on DEST"],
  ["--mqueue DEST", "Mount new mqueue on DEST"],
  ["--dir DEST", "Create dir at DEST"],
  ["--file FD DEST", "Copy from FD to destination DEST"],
  ["--bind-data FD DEST", "Copy from FD to file which is bind-mounted on DEST"],
  ["--ro-bind-data FD DEST", "Copy from FD to file which is readonly bind-mounted on DEST"],
  ["--symlink SRC DEST", "Create symlink at DEST with target SRC"],
  ["--seccomp FD", "Load and use seccomp rules from FD (not repeatable)"],
  ["--add-seccomp-fd FD", "Load and use seccomp rules from FD (repeatable)"],
  ["--block-fd FD", "Block on FD until some data to read is available"],
  ["--userns-block-fd FD", "Block on FD until the user namespace is ready"],
  ["--info-fd FD", "Write information about the running container to FD"],
  ["--json-status-fd FD", "Write container status to FD as multiple JSON documents"],
  ["--new-session", "Create a new terminal session"],
  ["--die-with-parent", "Kills with SIGKILL child process (COMMAND) when bwrap or bwrap's parent dies (always here)."],
  ["--as-pid-1", "Do not install a reaper process with PID=1"],
  ["--cap-add CAP", "Add cap CAP when running as privileged user"],
  ["--cap-drop CAP", "Drop cap CAP when running as privileged user"],
  ["--perms OCTAL", "Set permissions of next argument (--bind-data, --file, etc.)"],
  ["--size BYTES", "Set size of next argument (only for --tmpfs)"],
  ["--chmod OCTAL PATH", "Change permissions of PATH (must already exist)"],
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

/** The words of a failure as bwrap words them, where scripts match on them. */
function messageOf(e: unknown, a: BwrapArgs, spec: SandboxSpec): string {
  if (!(e instanceof UsernsError)) return e instanceof Error ? e.message : String(e);
  const m = /mounts\[(\d+)\]/.exec(e.message);
  const i = m ? Number(m[1]) : -1;
  const op = a.ops[i];
  if (e.step === "exec") return `execvp ${a.command[0]}: ${errnoText(e.errno ?? 2)}`;
  if (op && "source" in op && e.syscall === "stat" && e.step === "options")
    return `Can't find source path ${op.source}: ${errnoText(e.errno ?? 2)}`;
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
    built = buildSpec(a, process.cwd(), process.getuid?.() ?? 0, process.getgid?.() ?? 0);
  } catch (e) {
    if (!(e instanceof BwrapError)) throw e;
    say(a.levelPrefix, 3, e.message);
    return 1;
  }
  // "/proc/self/exe" names bwrap itself to a bwrap command line: here that is Bun running this script.
  const argv = a.command[0] === "/proc/self/exe" ? ["/proc/self/exe", ...self, ...a.command.slice(1)] : a.command;
  let proc: ReturnType<typeof sandbox>;
  try {
    proc = sandbox(argv, built.spec as SandboxSpec);
  } catch (e) {
    say(a.levelPrefix, 3, messageOf(e, a, built.spec as SandboxSpec));
    return 1;
  }
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
