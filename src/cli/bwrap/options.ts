/**
 * bubblewrap's option language (bwrap 0.11), parsed into plain data: the
 * setup operations in the order given, the flags, and the command. Nothing
 * here touches the system except `--args FD`, `--file FD` and the other
 * FD-taking data options, whose bytes are read once here (as bwrap reads
 * them while it parses). Messages are bwrap's own wording where scripts
 * match on them; each is thrown as a BwrapError and printed "bwrap: …".
 */
import { readFileSync } from "node:fs";
import { errnoText } from "../../core/errors.ts";

/** A message bwrap would print before exiting 1. */
export class BwrapError extends Error {}

/** One setup operation, in command-line order. */
export type BwrapOp =
  | { op: "bind" | "ro-bind" | "dev-bind" | "bind-try" | "ro-bind-try" | "dev-bind-try"; source: string; dest: string }
  | { op: "bind-fd" | "ro-bind-fd"; fd: number; dest: string }
  | { op: "remount-ro" | "proc" | "dev" | "mqueue"; dest: string }
  | { op: "tmpfs"; dest: string; perms: number; size: number }
  | { op: "dir"; dest: string; perms: number }
  | { op: "file" | "bind-data" | "ro-bind-data"; dest: string; data: Uint8Array; perms: number }
  | { op: "symlink"; target: string; dest: string }
  | { op: "chmod"; dest: string; perms: number }
  | { op: "overlay"; sources: string[]; upper: string; work: string; dest: string }
  | { op: "tmp-overlay" | "ro-overlay"; sources: string[]; dest: string };

export interface BwrapArgs {
  ops: BwrapOp[];
  unshare: {
    user: boolean;
    userTry: boolean;
    ipc: boolean;
    pid: boolean;
    net: boolean;
    uts: boolean;
    cgroup: boolean;
    cgroupTry: boolean;
  };
  argv0: string | null;
  chdir: string | null;
  uid: number | null;
  gid: number | null;
  hostname: string | null;
  /** The environment as the options leave it (bwrap edits its own, then passes it on). */
  env: Record<string, string>;
  disableUserns: boolean;
  assertUsernsDisabled: boolean;
  userns: number;
  userns2: number;
  pidns: number;
  lockFiles: string[];
  syncFd: number;
  blockFd: number;
  usernsBlockFd: number;
  infoFd: number;
  jsonStatusFd: number;
  /** Every fd an option read its data from (--args, --file, --bind-data, --seccomp, …): bwrap closes them. */
  readFds: number[];
  /** --seccomp FD: one program; --add-seccomp-fd FD: one each. */
  seccomp: Uint8Array[];
  seccompMode: "none" | "seccomp" | "add";
  newSession: boolean;
  dieWithParent: boolean;
  asPid1: boolean;
  /** --cap-add / --cap-drop in order: a name (upper case, CAP_ prefixed) or "ALL". */
  caps: { add: boolean; cap: string }[];
  levelPrefix: boolean;
  /** Warnings bwrap prints while parsing ("Only the last --chdir option will take effect"). */
  warnings: string[];
  help: boolean;
  version: boolean;
  command: string[];
}

/** Options that only modify the next one. */
const MODIFIERS = new Set(["--perms", "--size"]);
/** bwrap's own limit on the number of arguments (a hardening it documents). */
export const MAX_ARGS = 9000;
/** The largest tmpfs size bwrap accepts: SIZE_MAX / 2. */
const MAX_TMPFS_BYTES = 2n ** 63n - 1n;

/** bwrap's fd argument: a whole non-negative decimal (strtol with nothing left over). */
function fdArg(s: string): number {
  const t = s.replace(/^\s+/, "");
  const n = Number(t);
  if (s === "" || !/^[+-]?\d+$/.test(t) || n < 0 || n > 2 ** 31 - 1) throw new BwrapError(`Invalid fd: ${s}`);
  return n;
}

function idArg(s: string, what: "uid" | "gid"): number {
  const t = s.replace(/^\s+/, "");
  if (s === "" || !/^[+-]?\d+$/.test(t) || Number(t) < 0 || Number(t) > 2 ** 31 - 1)
    throw new BwrapError(`Invalid ${what}: ${s}`);
  return Number(t);
}

function octalArg(s: string, message: string): number {
  const t = s.replace(/^\s+/, "");
  if (s === "" || !/^\+?[0-7]+$/.test(t)) throw new BwrapError(message);
  const n = Number.parseInt(t.replace(/^\+/, ""), 8);
  if (n > 0o7777) throw new BwrapError(message);
  return n;
}

/** strtoull(s, 0) with bwrap's checks: a leading digit, nothing left over, not zero, at most SIZE_MAX/2. */
function sizeArg(s: string): number {
  const bad = () => new BwrapError("--size takes a non-zero number of bytes");
  if (!/^[0-9]/.test(s)) throw bad();
  let v: bigint;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = BigInt(s);
  else if (/^0[0-7]*$/.test(s)) v = BigInt(`0o${s.slice(1) || "0"}`);
  else if (/^[1-9][0-9]*$/.test(s)) v = BigInt(s);
  else throw bad();
  if (v >= 2n ** 64n || v === 0n) throw bad();
  if (v > MAX_TMPFS_BYTES) throw new BwrapError(`--size (for tmpfs) is limited to ${MAX_TMPFS_BYTES}`);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BwrapError(`--size ${s} is larger than this command can pass on`);
  return Number(v);
}

/** All bytes of FD, read once (the fd stays open: bwrap reads to its end). */
function readFd(a: BwrapArgs, fd: number, what: string): Uint8Array {
  a.readFds.push(fd);
  try {
    return new Uint8Array(readFileSync(fd));
  } catch (e) {
    const errno = -((e as { errno?: number }).errno ?? -5);
    const t = errnoText(errno);
    throw new BwrapError(`${what}: ${t.charAt(0).toUpperCase()}${t.slice(1)}`);
  }
}

export function emptyArgs(): BwrapArgs {
  return {
    ops: [],
    unshare: {
      user: false,
      userTry: false,
      ipc: false,
      pid: false,
      net: false,
      uts: false,
      cgroup: false,
      cgroupTry: false,
    },
    argv0: null,
    chdir: null,
    uid: null,
    gid: null,
    hostname: null,
    env: {},
    disableUserns: false,
    assertUsernsDisabled: false,
    userns: -1,
    userns2: -1,
    pidns: -1,
    lockFiles: [],
    syncFd: -1,
    blockFd: -1,
    usernsBlockFd: -1,
    infoFd: -1,
    jsonStatusFd: -1,
    readFds: [],
    seccomp: [],
    seccompMode: "none",
    newSession: false,
    dieWithParent: false,
    asPid1: false,
    caps: [],
    levelPrefix: false,
    warnings: [],
    help: false,
    version: false,
    command: [],
  };
}

/**
 * Parse bwrap's command line. ENV is the environment bwrap starts from (it
 * edits a copy). Stops at --help / --version (the caller prints them), at
 * "--", or at the first word that is not an option (the command).
 */
export function parseBwrapArgs(argv: readonly string[], env: Record<string, string | undefined>): BwrapArgs {
  const a = emptyArgs();
  for (const [k, v] of Object.entries(env)) if (v !== undefined) a.env[k] = v;
  const state = { perms: -1, size: 0, overlaySrc: [] as string[], total: argv.length };
  const rest = parseList([...argv], a, state, false);
  if (state.overlaySrc.length > 0) throw overlaySrcError();
  a.command = rest;
  return a;
}

const overlaySrcError = () =>
  new BwrapError(
    "--overlay-src must be followed by another --overlay-src or one of --overlay, --tmp-overlay, or --ro-overlay",
  );

interface ParseState {
  perms: number;
  size: number;
  overlaySrc: string[];
  total: number;
}

/** One list of arguments (the command line, or an --args file); returns what follows the options. */
function parseList(argv: string[], a: BwrapArgs, st: ParseState, inFile: boolean): string[] {
  if (st.total > MAX_ARGS) throw new BwrapError(`Exceeded maximum number of arguments ${MAX_ARGS}`);
  let i = 0;
  const need = (n: number, message: string): string[] => {
    if (argv.length - i < n + 1) throw new BwrapError(message);
    const vals = argv.slice(i + 1, i + 1 + n);
    i += n;
    return vals;
  };
  const once = (taken: boolean, name: string) => {
    if (taken) a.warnings.push(`Only the last ${name} option will take effect`);
  };
  const takePerms = (dflt: number): number => {
    const p = st.perms >= 0 ? st.perms : dflt;
    st.perms = -1;
    return p;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    switch (arg) {
      case "--help":
        a.help = true;
        return [];
      case "--version":
        a.version = true;
        return [];
      case "--args": {
        if (inFile) throw new BwrapError("--args not supported in arguments file");
        const [fd] = need(1, "--args takes an argument") as [string];
        const data = readFd(a, fdArg(fd), "Can't read --args data");
        const text = Buffer.from(data).toString("utf8");
        const words = text === "" ? [] : text.split("\0");
        if (text.endsWith("\0")) words.pop();
        st.total += words.length;
        if (st.total > MAX_ARGS) throw new BwrapError(`Exceeded maximum number of arguments ${MAX_ARGS}`);
        // What an --args file leaves after its options is dropped, as bwrap drops it: the command comes
        // from the command line.
        parseList(words, a, st, true);
        if (a.help || a.version) return [];
        break;
      }
      case "--argv0": {
        const [v] = need(1, "--argv0 takes one argument") as [string];
        if (a.argv0 !== null) throw new BwrapError("--argv0 used multiple times");
        a.argv0 = v;
        break;
      }
      case "--level-prefix":
        a.levelPrefix = true;
        break;
      case "--unshare-all":
        Object.assign(a.unshare, { userTry: true, ipc: true, pid: true, uts: true, cgroupTry: true, net: true });
        break;
      case "--unshare-user":
        a.unshare.user = true;
        break;
      case "--unshare-user-try":
        a.unshare.userTry = true;
        break;
      case "--unshare-ipc":
        a.unshare.ipc = true;
        break;
      case "--unshare-pid":
        a.unshare.pid = true;
        break;
      case "--unshare-net":
        a.unshare.net = true;
        break;
      case "--unshare-uts":
        a.unshare.uts = true;
        break;
      case "--unshare-cgroup":
        a.unshare.cgroup = true;
        break;
      case "--unshare-cgroup-try":
        a.unshare.cgroupTry = true;
        break;
      case "--share-net":
        a.unshare.net = false;
        break;
      case "--chdir": {
        const [v] = need(1, "--chdir takes one argument") as [string];
        once(a.chdir !== null, "--chdir");
        a.chdir = v;
        break;
      }
      case "--disable-userns":
        a.disableUserns = true;
        break;
      case "--assert-userns-disabled":
        a.assertUsernsDisabled = true;
        break;
      case "--remount-ro": {
        const [dest] = need(1, "--remount-ro takes one argument") as [string];
        a.ops.push({ op: "remount-ro", dest });
        break;
      }
      case "--bind":
      case "--bind-try":
      case "--ro-bind":
      case "--ro-bind-try":
      case "--dev-bind":
      case "--dev-bind-try": {
        const [source, dest] = need(2, `${arg} takes two arguments`) as [string, string];
        a.ops.push({ op: arg.slice(2) as "bind", source, dest });
        break;
      }
      case "--bind-fd":
      case "--ro-bind-fd": {
        const [fd, dest] = need(2, "--bind-fd takes two arguments") as [string, string];
        a.ops.push({ op: arg.slice(2) as "bind-fd", fd: fdArg(fd), dest });
        break;
      }
      case "--overlay-src": {
        const [src] = need(1, "--overlay-src takes an argument") as [string];
        st.overlaySrc.push(src);
        break;
      }
      case "--overlay": {
        const [upper, work, dest] = need(3, "--overlay takes three arguments") as [string, string, string];
        if (st.overlaySrc.length < 1) throw new BwrapError("--overlay requires at least one --overlay-src");
        a.ops.push({ op: "overlay", sources: st.overlaySrc, upper, work, dest });
        st.overlaySrc = [];
        break;
      }
      case "--tmp-overlay":
      case "--ro-overlay": {
        const [dest] = need(1, `${arg} takes an argument`) as [string];
        const min = arg === "--tmp-overlay" ? 1 : 2;
        if (st.overlaySrc.length < min)
          throw new BwrapError(`${arg} requires at least ${min === 1 ? "one" : "two"} --overlay-src`);
        a.ops.push({ op: arg.slice(2) as "tmp-overlay", sources: st.overlaySrc, dest });
        st.overlaySrc = [];
        break;
      }
      case "--proc":
      case "--dev":
      case "--mqueue": {
        const [dest] = need(1, `${arg} takes an argument`) as [string];
        a.ops.push({ op: arg.slice(2) as "proc", dest });
        break;
      }
      case "--exec-label":
      case "--file-label":
        need(1, `${arg} takes an argument`);
        // bwrap without SELinux: the same refusal.
        throw new BwrapError("labeling not supported on this system");
      case "--tmpfs": {
        const [dest] = need(1, "--tmpfs takes an argument") as [string];
        a.ops.push({ op: "tmpfs", dest, perms: takePerms(0o755), size: st.size });
        st.size = 0;
        break;
      }
      case "--dir": {
        const [dest] = need(1, "--dir takes an argument") as [string];
        a.ops.push({ op: "dir", dest, perms: takePerms(0o755) });
        break;
      }
      case "--file":
      case "--bind-data":
      case "--ro-bind-data": {
        const [fd, dest] = need(2, `${arg} takes two arguments`) as [string, string];
        const n = fdArg(fd);
        const data = readFd(a, n, "Can't read data");
        a.ops.push({ op: arg.slice(2) as "file", dest, data, perms: takePerms(arg === "--file" ? 0o666 : 0o600) });
        break;
      }
      case "--symlink": {
        const [target, dest] = need(2, "--symlink takes two arguments") as [string, string];
        a.ops.push({ op: "symlink", target, dest });
        break;
      }
      case "--lock-file": {
        const [dest] = need(1, "--lock-file takes an argument") as [string];
        a.lockFiles.push(dest);
        break;
      }
      case "--sync-fd":
      case "--block-fd":
      case "--userns-block-fd":
      case "--info-fd":
      case "--json-status-fd":
      case "--userns":
      case "--userns2":
      case "--pidns": {
        const [v] = need(1, `${arg} takes an argument`) as [string];
        const key = {
          "--sync-fd": "syncFd",
          "--block-fd": "blockFd",
          "--userns-block-fd": "usernsBlockFd",
          "--info-fd": "infoFd",
          "--json-status-fd": "jsonStatusFd",
          "--userns": "userns",
          "--userns2": "userns2",
          "--pidns": "pidns",
        }[arg] as "syncFd";
        once(a[key] !== -1, arg);
        a[key] = fdArg(v);
        break;
      }
      case "--seccomp": {
        const [v] = need(1, "--seccomp takes an argument") as [string];
        if (a.seccompMode === "add") throw new BwrapError("--seccomp cannot be combined with --add-seccomp-fd");
        once(a.seccompMode === "seccomp", "--seccomp");
        a.seccomp = [readFd(a, fdArg(v), "Can't read seccomp data")];
        a.seccompMode = "seccomp";
        break;
      }
      case "--add-seccomp-fd": {
        const [v] = need(1, "--add-seccomp-fd takes an argument") as [string];
        if (a.seccompMode === "seccomp") throw new BwrapError("--add-seccomp-fd cannot be combined with --seccomp");
        a.seccomp.push(readFd(a, fdArg(v), "Can't read seccomp data"));
        a.seccompMode = "add";
        break;
      }
      case "--clearenv":
        a.env = {};
        break;
      case "--setenv": {
        const [k, v] = need(2, "--setenv takes two arguments") as [string, string];
        a.env[k] = v;
        break;
      }
      case "--unsetenv": {
        const [k] = need(1, "--unsetenv takes an argument") as [string];
        delete a.env[k];
        break;
      }
      case "--uid":
      case "--gid": {
        const what = arg.slice(2) as "uid" | "gid";
        const [v] = need(1, `${arg} takes an argument`) as [string];
        once(a[what] !== null, arg);
        a[what] = idArg(v, what);
        break;
      }
      case "--hostname": {
        const [v] = need(1, "--hostname takes an argument") as [string];
        once(a.hostname !== null, "--hostname");
        a.hostname = v;
        break;
      }
      case "--new-session":
        a.newSession = true;
        break;
      case "--die-with-parent":
        a.dieWithParent = true;
        break;
      case "--as-pid-1":
        a.asPid1 = true;
        break;
      case "--cap-add":
      case "--cap-drop": {
        const [v] = need(1, `${arg} takes an argument`) as [string];
        a.caps.push({ add: arg === "--cap-add", cap: v });
        break;
      }
      case "--perms": {
        const [v] = need(1, "--perms takes an argument") as [string];
        if (st.perms !== -1) throw new BwrapError("--perms given twice for the same action");
        st.perms = octalArg(v, "--perms takes an octal argument <= 07777");
        break;
      }
      case "--size": {
        const [v] = need(1, "--size takes an argument") as [string];
        if (st.size !== 0) throw new BwrapError("--size given twice for the same action");
        st.size = sizeArg(v);
        break;
      }
      case "--chmod": {
        const [mode, dest] = need(2, "--chmod takes two arguments") as [string, string];
        a.ops.push({ op: "chmod", dest, perms: octalArg(mode, "--chmod takes an octal argument <= 07777") });
        break;
      }
      case "--":
        return argv.slice(i + 1);
      default:
        if (arg.startsWith("-")) throw new BwrapError(`Unknown option ${arg}`);
        return argv.slice(i);
    }
    // A modifier not consumed by the option right after it was misplaced.
    if (!MODIFIERS.has(arg) && st.perms >= 0)
      throw new BwrapError("--perms must be followed by an option that creates a file");
    if (!MODIFIERS.has(arg) && st.size !== 0) throw new BwrapError("--size must be followed by --tmpfs");
    if (arg !== "--overlay-src" && st.overlaySrc.length > 0) throw overlaySrcError();
  }
  return [];
}
