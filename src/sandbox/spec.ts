/**
 * The sandbox spec: its public shape, and its validation into plain frozen
 * data. Every field and every mount entry is read exactly once (a getter or
 * a Proxy answers once); what is validated is what is used. A bad spec gets
 * a UsernsError naming the field or `mounts[i]` and the rule broken, before
 * anything is created.
 */
import { readFileSync } from "node:fs";
import { invalid } from "../core/errors.ts";
import { describe, type IDMap, type IDMapInput, parseIDMapping } from "../core/idmap.ts";
import { copyOptions } from "../core/options.ts";
import { checkArgv, checkCwd, checkEnv } from "../exec/argv.ts";
import { checkPassFds } from "../exec/pass-fds.ts";
import { checkStdio, type StdioSpec } from "../exec/spawn-inside.ts";
import { NAMESPACE_KINDS, type NamespaceKind } from "../ns/kinds.ts";
import { autoMap } from "../rootless/subid.ts";
import { BPF_MAXINSNS } from "./seccomp.ts";

/** A NamespaceKind a sandbox can have new: every kind but time (kept as a name of the public API). */
export type SandboxNamespace = Exclude<NamespaceKind, "time">;

export type SandboxMount =
  | {
      readonly type: "bind" | "ro-bind" | "dev-bind" | "bind-try" | "ro-bind-try" | "dev-bind-try";
      readonly source: string;
      readonly target: string;
    }
  | { readonly type: "bind-fd" | "ro-bind-fd"; readonly fd: number; readonly target: string }
  | { readonly type: "tmpfs"; readonly target: string; readonly size?: number; readonly mode?: number }
  | { readonly type: "proc" | "dev" | "mqueue" | "remount-ro"; readonly target: string }
  | { readonly type: "dir"; readonly target: string; readonly mode?: number }
  | {
      readonly type: "file";
      readonly target: string;
      readonly data: Uint8Array | string;
      readonly mode?: number;
      /** The file is a read-only mount (bwrap --ro-bind-data): not writable even with capabilities. */
      readonly readOnly?: boolean;
    }
  | { readonly type: "symlink"; readonly target: string; readonly linkTo: string }
  | { readonly type: "chmod"; readonly target: string; readonly mode: number }
  /** overlayfs: `sources` bottom layer first (bwrap's --overlay-src order); writes go to `upper` (host directories). */
  | {
      readonly type: "overlay";
      readonly sources: readonly string[];
      readonly upper: string;
      readonly work: string;
      readonly target: string;
    }
  /** overlayfs with writes going to a tmpfs that vanishes with the sandbox; or read-only (at least two sources). */
  | { readonly type: "tmp-overlay" | "ro-overlay"; readonly sources: readonly string[]; readonly target: string };

export interface SandboxSpec {
  /** Namespaces to make; "user" and "mnt" always. Default (or `unshareAll`): all of them. */
  readonly namespaces?: readonly SandboxNamespace[];
  readonly unshareAll?: boolean;
  /** Keep the caller's network namespace (drops "net" from the list). */
  readonly shareNet?: boolean;
  /** The command's ids inside. Default: the caller's own euid and egid, mapped to themselves. */
  readonly uid?: number;
  readonly gid?: number;
  /**
   * The user namespace's maps, as startHelper takes them ("auto": own id as 0 plus subordinate ranges; "none",
   * only with usernsBlockFd: left unwritten, for the caller to write while the sandbox waits on that fd).
   */
  readonly uidMap?: IDMapInput | "auto" | "none";
  readonly gidMap?: IDMapInput | "auto" | "none";
  readonly mapper?: "auto" | "direct" | "newuidmap";
  readonly hostname?: string;
  readonly mounts?: readonly SandboxMount[];
  /** Directory inside the view to start in. Default "/". */
  readonly cwd?: string;
  /** The command's whole environment. Default: empty (nothing of Bun's environment goes in). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** setsid(): the command has no controlling terminal (no TIOCSTI into ours). Default true. */
  readonly newSession?: boolean;
  /** Always on (the command dies with the thread that started it); false is refused. */
  readonly dieWithParent?: boolean;
  /** The command is pid 1 of its pid namespace instead of a small init. */
  readonly asPid1?: boolean;
  /**
   * Default: none kept. `{ drop: "ALL", add: [...] }` keeps those; `{ drop: [...] }` keeps all but those.
   * "caller" (uid 0 inside only, or ids left to maps "none"): the caller's own effective set, effective and permitted, with nothing
   * inheritable or ambient (bwrap's rule for a root caller that names no capability).
   */
  readonly capabilities?: { readonly drop?: "ALL" | readonly string[]; readonly add?: readonly string[] } | "caller";
  /** Always on; false is refused. */
  readonly noNewPrivs?: boolean;
  /** A seccomp program (seccompFilter(), or raw struct sock_filter bytes), or several, stacked in order. */
  readonly seccomp?: Uint8Array | readonly Uint8Array[];
  /** No user namespace can be made inside (user.max_user_namespaces = 0 in the sandbox's). */
  readonly disableNestedUserns?: boolean;
  readonly stdio?: readonly [StdioSpec?, StdioSpec?, StdioSpec?];
  /** Aborting ends the sandbox (as kill("SIGKILL")). */
  readonly signal?: AbortSignal;
  /** Milliseconds; then the sandbox is ended as by kill("SIGKILL"). */
  readonly timeout?: number;
  /** The command's argv[0], when it differs from the file executed (argv[0] of `argv`). */
  readonly argv0?: string;
  /** An fd of an existing user namespace to use instead of making one (its maps are its own). */
  readonly userns?: number;
  /** An fd of a user namespace (a descendant of the sandbox's) to switch into after setup. */
  readonly userns2?: number;
  /** An fd of a pid namespace the sandbox goes into (with "pid" too, its own is made below it). */
  readonly pidns?: number;
  /** The command waits until this fd is readable (a byte or EOF) before its exec; sandbox() returns first. */
  readonly blockFd?: number;
  /** The sandbox waits until this fd is readable once its namespaces exist, before its view; sandbox() returns first. */
  readonly usernsBlockFd?: number;
  /** Held open (outside the sandbox, by its monitor) until the sandbox is over: EOF for who waits on the other end. */
  readonly syncFd?: number;
  /**
   * Fds of ours (each > 2) the command also gets, at the same numbers (as
   * Python's pass_fds); every other fd past 2 is closed in it. Not one
   * that another option names.
   */
  readonly passFds?: readonly number[];
  /** Paths inside the view a read lock is held on for the sandbox's life. */
  readonly lockFiles?: readonly string[];
  /** The command starts only if it cannot make a user namespace. */
  readonly assertUsernsDisabled?: boolean;
}

const KEYS = [
  "namespaces",
  "unshareAll",
  "shareNet",
  "uid",
  "gid",
  "uidMap",
  "gidMap",
  "mapper",
  "hostname",
  "mounts",
  "cwd",
  "env",
  "newSession",
  "dieWithParent",
  "asPid1",
  "capabilities",
  "noNewPrivs",
  "seccomp",
  "disableNestedUserns",
  "stdio",
  "signal",
  "timeout",
  "argv0",
  "userns",
  "userns2",
  "pidns",
  "blockFd",
  "usernsBlockFd",
  "syncFd",
  "passFds",
  "lockFiles",
  "assertUsernsDisabled",
] as const;

/** Capability names, by number (include/uapi/linux/capability.h). */
export const CAPABILITIES: readonly string[] = Object.freeze([
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
]);

export const MOUNTS_MAX = 65536;
/** Programs stacked at most (each one is a filter the kernel runs on every syscall). */
export const SECCOMP_MAX = 64;
const SANDBOX_NAMESPACES = NAMESPACE_KINDS.filter((k): k is SandboxNamespace => k !== "time");

/** One mount entry, validated. */
export type PlainMount =
  | { kind: "bind"; ro: boolean; dev: boolean; try: boolean; source: string; fd: number; target: string }
  | { kind: "tmpfs"; target: string; size: number; mode: number }
  | { kind: "proc" | "dev" | "mqueue" | "remount-ro"; target: string }
  | { kind: "dir"; target: string; mode: number }
  | { kind: "file"; target: string; data: Uint8Array; mode: number; readOnly: boolean }
  | { kind: "symlink"; target: string; linkTo: string }
  | { kind: "chmod"; target: string; mode: number }
  | { kind: "overlay"; sources: string[]; upper: string | null; work: string | null; tmp: boolean; target: string };

export interface PlainSpec {
  argv: string[];
  namespaces: Set<SandboxNamespace>;
  uid: number;
  gid: number;
  /** "none": left unwritten (the caller writes it while the sandbox waits on usernsBlockFd). */
  uidMap: IDMap[] | "none";
  gidMap: IDMap[] | "none";
  mapper: "auto" | "direct" | "newuidmap" | undefined;
  hostname: string | null;
  mounts: PlainMount[];
  cwd: string | null;
  env: string[];
  newSession: boolean;
  asPid1: boolean;
  caps: bigint;
  /** capabilities "caller": nothing inheritable or ambient. */
  callerCaps: boolean;
  seccomp: Uint8Array[];
  disableNestedUserns: boolean;
  argv0: string | null;
  /** Caller's fds; -1: none. */
  userns: number;
  userns2: number;
  pidns: number;
  blockFd: number;
  usernsBlockFd: number;
  syncFd: number;
  /** Sorted, no repeats, each > 2. */
  passFds: number[];
  lockFiles: string[];
  assertUsernsDisabled: boolean;
  stdio: [StdioSpec, StdioSpec, StdioSpec];
  signal: AbortSignal | undefined;
  timeout: number | undefined;
}

const fail = (m: string) => invalid("options", `sandbox: ${m}`);

function bool(v: unknown, what: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") throw fail(`${what} must be a boolean, got ${describe(v)}`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw fail(`${what} must be a string, got ${describe(v)}`);
  if (v.includes("\0")) throw fail(`${what} contains a NUL byte`);
  return v;
}

/** An absolute path inside the view, normalized; ".." is refused (it could only mean leaving the root). */
export function viewPath(v: unknown, what: string): string {
  const s = str(v, what);
  if (!s.startsWith("/")) throw fail(`${what} must be an absolute path inside the sandbox, got ${JSON.stringify(s)}`);
  const parts = s.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw fail(`${what} must not contain "..": ${JSON.stringify(s)}`);
  if (parts.some((p) => new TextEncoder().encode(p).length > 255)) throw fail(`${what} has a component over 255 bytes`);
  const out = `/${parts.join("/")}`;
  if (out.length > 4000) throw fail(`${what} is longer than 4000 bytes`);
  return out;
}

function id(v: unknown, what: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 4294967294)
    throw fail(`${what} must be an id 0-4294967294, got ${describe(v)}`);
  return v;
}

function mode(v: unknown, what: string, dflt: number | undefined): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0o7777)
    throw fail(`${what} must be a permission mode 0-0o7777, got ${describe(v)}`);
  return v;
}

function capNumber(name: unknown, what: string): number {
  const n =
    typeof name === "string"
      ? CAPABILITIES.indexOf(name.toUpperCase().startsWith("CAP_") ? name.toUpperCase() : `CAP_${name.toUpperCase()}`)
      : -1;
  if (n < 0) throw fail(`${what}: unknown capability ${describe(name)}`);
  return n;
}

/** The caller's effective capabilities (/proc/self/status CapEff), as far as the kernel has names for them. */
function callerEffective(): bigint {
  const line = readFileSync("/proc/self/status", "utf8")
    .split("\n")
    .find((l) => l.startsWith("CapEff:"));
  if (line === undefined) throw fail('capabilities "caller": /proc/self/status has no CapEff line');
  return BigInt(`0x${line.slice(7).trim()}`) & ((1n << BigInt(CAPABILITIES.length)) - 1n);
}

function caps(v: unknown): bigint {
  if (v === undefined) return 0n;
  if (v === "caller") return callerEffective();
  if (typeof v === "string") throw fail(`capabilities must be "caller" or { drop, add }, got ${describe(v)}`);
  const c = copyOptions(v, ["drop", "add"] as const, (m) => fail(`capabilities: ${m}`));
  let keep = c.drop === "ALL" || c.drop === undefined ? 0n : (1n << BigInt(CAPABILITIES.length)) - 1n;
  if (c.drop !== undefined && c.drop !== "ALL") {
    if (!Array.isArray(c.drop))
      throw fail(`capabilities.drop must be "ALL" or a list of names, got ${describe(c.drop)}`);
    Array.from(c.drop as unknown[]).forEach((n, i) => {
      keep &= ~(1n << BigInt(capNumber(n, `capabilities.drop[${i}]`)));
    });
  }
  if (c.add !== undefined) {
    if (!Array.isArray(c.add)) throw fail(`capabilities.add must be a list of names, got ${describe(c.add)}`);
    Array.from(c.add as unknown[]).forEach((n, i) => {
      keep |= 1n << BigInt(capNumber(n, `capabilities.add[${i}]`));
    });
  }
  return keep;
}

const BIND_TYPES: Record<string, [ro: boolean, dev: boolean, tryIt: boolean]> = {
  bind: [false, false, false],
  "ro-bind": [true, false, false],
  "dev-bind": [false, true, false],
  "bind-try": [false, false, true],
  "ro-bind-try": [true, false, true],
  "dev-bind-try": [false, true, true],
};

/** overlayfs's own limit on layers. */
export const OVERLAY_MAX = 500;

function fdNumber(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1)
    throw fail(`${what} must be a file descriptor, got ${describe(v)}`);
  return v;
}

function hostPath(v: unknown, what: string): string {
  const p = str(v, what);
  if (!p.startsWith("/")) throw fail(`${what} must be an absolute host path, got ${JSON.stringify(p)}`);
  if (p.length > 4000) throw fail(`${what} is longer than 4000 bytes`);
  return p;
}

const ENTRY_KEYS = [
  "type",
  "source",
  "target",
  "fd",
  "size",
  "mode",
  "data",
  "linkTo",
  "readOnly",
  "sources",
  "upper",
  "work",
] as const;

function mountEntry(raw: unknown, i: number): PlainMount {
  const at = `mounts[${i}]`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw fail(`${at} must be an object, got ${describe(raw)}`);
  const e = copyOptions(raw, ENTRY_KEYS, (m) => fail(`${at}: ${m}`));
  const type = e.type;
  const target = viewPath(e.target, `${at}.target`);
  const only = (allowed: string[]) => {
    for (const k of ENTRY_KEYS.filter((k) => k !== "type" && k !== "target"))
      if (e[k] !== undefined && !allowed.includes(k))
        throw fail(`${at}: "${k}" does not apply to type ${JSON.stringify(type)}`);
  };
  if (typeof type === "string" && BIND_TYPES[type]) {
    only(["source"]);
    const [ro, dev, tryIt] = BIND_TYPES[type] as [boolean, boolean, boolean];
    const source = str(e.source, `${at}.source`);
    if (!source.startsWith("/"))
      throw fail(`${at}.source must be an absolute host path, got ${JSON.stringify(source)}`);
    return { kind: "bind", ro, dev, try: tryIt, source, fd: -1, target };
  }
  if (target === "/" && type !== "tmpfs") throw fail(`${at}: only binds and tmpfs may be mounted on "/"`);
  switch (type) {
    case "bind-fd":
    case "ro-bind-fd": {
      only(["fd"]);
      const fd = fdNumber(e.fd, `${at}.fd`);
      return { kind: "bind", ro: type === "ro-bind-fd", dev: false, try: false, source: "", fd, target };
    }
    case "tmpfs": {
      only(["size", "mode"]);
      const size = e.size;
      if (size !== undefined && (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0))
        throw fail(`${at}.size must be a positive number of bytes, got ${describe(size)}`);
      return {
        kind: "tmpfs",
        target,
        size: (size as number | undefined) ?? 0,
        mode: mode(e.mode, `${at}.mode`, 0o755),
      };
    }
    case "proc":
    case "dev":
    case "mqueue":
    case "remount-ro":
      only([]);
      return { kind: type, target };
    case "dir":
      only(["mode"]);
      return { kind: "dir", target, mode: e.mode === undefined ? -1 : mode(e.mode, `${at}.mode`, undefined) };
    case "chmod":
      only(["mode"]);
      return { kind: "chmod", target, mode: mode(e.mode, `${at}.mode`, undefined) };
    case "file": {
      only(["data", "mode", "readOnly"]);
      const d = e.data;
      let data: Uint8Array;
      if (typeof d === "string") data = new TextEncoder().encode(d);
      else if (d instanceof Uint8Array) data = d.slice();
      else throw fail(`${at}.data must be a string or a Uint8Array, got ${describe(d)}`);
      return {
        kind: "file",
        target,
        data,
        mode: mode(e.mode, `${at}.mode`, 0o644),
        readOnly: bool(e.readOnly, `${at}.readOnly`, false),
      };
    }
    case "symlink": {
      only(["linkTo"]);
      const linkTo = str(e.linkTo, `${at}.linkTo`);
      if (linkTo === "" || linkTo.length > 4000) throw fail(`${at}.linkTo must be 1-4000 bytes`);
      return { kind: "symlink", target, linkTo };
    }
    case "overlay":
    case "tmp-overlay":
    case "ro-overlay": {
      only(type === "overlay" ? ["sources", "upper", "work"] : ["sources"]);
      if (!Array.isArray(e.sources))
        throw fail(`${at}.sources must be an array of host paths, got ${describe(e.sources)}`);
      const list = Array.from(e.sources as unknown[]);
      const least = type === "ro-overlay" ? 2 : 1;
      if (list.length < least || list.length > OVERLAY_MAX)
        throw fail(`${at}.sources: ${type} takes ${least}-${OVERLAY_MAX} layers, got ${list.length}`);
      const sources = list.map((p, k) => hostPath(p, `${at}.sources[${k}]`));
      const rw = type === "overlay";
      return {
        kind: "overlay",
        sources,
        upper: rw ? hostPath(e.upper, `${at}.upper`) : null,
        work: rw ? hostPath(e.work, `${at}.work`) : null,
        tmp: type === "tmp-overlay",
        target,
      };
    }
  }
  throw fail(`${at}.type: unknown mount type ${describe(type)}`);
}

/** Copy the spec once and check it whole. */
export function checkSpec(argv: unknown, spec: unknown): PlainSpec {
  if (spec !== undefined && (typeof spec !== "object" || spec === null))
    throw fail(`spec must be an object, got ${describe(spec)}`);
  const o = copyOptions(spec, KEYS, fail);
  const args = checkArgv(argv);
  // Namespaces.
  let ns: Set<SandboxNamespace>;
  if (o.namespaces === undefined || bool(o.unshareAll, "unshareAll", false)) {
    if (o.namespaces !== undefined && o.unshareAll === true) throw fail("give namespaces or unshareAll, not both");
    ns = new Set(SANDBOX_NAMESPACES);
  } else {
    if (!Array.isArray(o.namespaces)) throw fail(`namespaces must be an array, got ${describe(o.namespaces)}`);
    ns = new Set();
    Array.from(o.namespaces as unknown[]).forEach((n, i) => {
      if (!SANDBOX_NAMESPACES.includes(n as SandboxNamespace))
        throw fail(`namespaces[${i}]: ${describe(n)} is not one of ${SANDBOX_NAMESPACES.join(", ")}`);
      ns.add(n as SandboxNamespace);
    });
    if (!ns.has("user") || !ns.has("mnt")) throw fail('namespaces must include "user" and "mnt": the view needs both');
  }
  if (bool(o.shareNet, "shareNet", false)) {
    if (o.namespaces !== undefined && ns.has("net")) throw fail('shareNet conflicts with "net" in namespaces');
    ns.delete("net");
  }
  const hostname = o.hostname === undefined ? null : str(o.hostname, "hostname");
  if (hostname !== null && (hostname === "" || new TextEncoder().encode(hostname).length > 64))
    throw fail("hostname must be 1-64 bytes");
  if (hostname !== null && !ns.has("uts")) throw fail('hostname needs the "uts" namespace');
  const asPid1 = bool(o.asPid1, "asPid1", false);
  if (asPid1 && !ns.has("pid")) throw fail('asPid1 needs the "pid" namespace');
  if (bool(o.dieWithParent, "dieWithParent", true) === false)
    throw fail("dieWithParent: false is not supported: a sandbox always dies with the thread that started it");
  if (bool(o.noNewPrivs, "noNewPrivs", true) === false)
    throw fail("noNewPrivs: false is not supported: no_new_privs is always set");
  // Mounts.
  let mounts: PlainMount[] = [];
  if (o.mounts !== undefined) {
    if (!Array.isArray(o.mounts)) throw fail(`mounts must be an array, got ${describe(o.mounts)}`);
    const list = o.mounts as unknown[];
    const n = list.length;
    if (!Number.isInteger(n) || n > MOUNTS_MAX) throw fail(`mounts has ${n} entries; at most ${MOUNTS_MAX}`);
    mounts = [];
    for (let i = 0; i < n; i++) mounts.push(mountEntry(list[i], i));
  }
  const optFd = (v: unknown, what: string) => (v === undefined ? -1 : fdNumber(v, what));
  const userns = optFd(o.userns, "userns");
  const pidns = optFd(o.pidns, "pidns");
  mounts.forEach((m, i) => {
    if (m.kind === "proc" && !ns.has("pid") && pidns < 0)
      throw fail(`mounts[${i}]: proc needs the "pid" namespace (it shows the caller's processes otherwise)`);
    if (m.kind === "mqueue" && !ns.has("ipc")) throw fail(`mounts[${i}]: mqueue needs the "ipc" namespace`);
  });
  const programs: Uint8Array[] = [];
  if (o.seccomp !== undefined) {
    const many = Array.isArray(o.seccomp);
    const list = many ? Array.from(o.seccomp as unknown[]) : [o.seccomp];
    if (list.length > SECCOMP_MAX) throw fail(`seccomp has ${list.length} programs; at most ${SECCOMP_MAX}`);
    list.forEach((p, k) => {
      const what = many ? `seccomp[${k}]` : "seccomp";
      if (!(p instanceof Uint8Array))
        throw fail(`${what} must be a Uint8Array (seccompFilter() or raw BPF), got ${describe(p)}`);
      if (p.length === 0 || p.length % 8 !== 0 || p.length / 8 > BPF_MAXINSNS)
        throw fail(`${what} must be 1-${BPF_MAXINSNS} struct sock_filter (8 bytes each), got ${p.length} bytes`);
      programs.push(p.slice());
    });
  }
  const lockFiles: string[] = [];
  if (o.lockFiles !== undefined) {
    if (!Array.isArray(o.lockFiles)) throw fail(`lockFiles must be an array of paths, got ${describe(o.lockFiles)}`);
    const list = Array.from(o.lockFiles as unknown[]);
    if (list.length > MOUNTS_MAX) throw fail(`lockFiles has ${list.length} entries; at most ${MOUNTS_MAX}`);
    list.forEach((p, k) => {
      lockFiles.push(viewPath(p, `lockFiles[${k}]`));
    });
  }
  const argv0 = o.argv0 === undefined ? null : str(o.argv0, "argv0");
  const userns2 = optFd(o.userns2, "userns2");
  const usernsBlockFd = optFd(o.usernsBlockFd, "usernsBlockFd");
  if (userns >= 0 && (o.uidMap !== undefined || o.gidMap !== undefined || o.mapper !== undefined))
    throw fail("userns conflicts with uidMap, gidMap and mapper: the namespace given has its maps");
  if (userns >= 0 && o.disableNestedUserns === true)
    throw fail("disableNestedUserns needs the sandbox's own user namespace, not userns");
  if (usernsBlockFd >= 0 && o.disableNestedUserns === true)
    throw fail("disableNestedUserns conflicts with usernsBlockFd");
  const timeout = o.timeout;
  if (
    timeout !== undefined &&
    (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout <= 0 || timeout > 2 ** 31 - 1)
  )
    throw fail(`timeout must be a positive number of milliseconds, got ${describe(timeout)}`);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw fail("signal must be an AbortSignal");
  const maps = (v: unknown, what: string): IDMapInput | "auto" | undefined => {
    if (v === undefined || v === "auto" || typeof v === "string") return v === undefined ? undefined : str(v, what);
    if (Array.isArray(v)) return Array.from(v as unknown[]) as unknown as IDMapInput;
    throw fail(`${what} must be a map text, "auto" or a list of extents, got ${describe(v)}`);
  };
  const euid = process.geteuid?.() ?? 0;
  const egid = process.getegid?.() ?? 0;
  const uidMap = maps(o.uidMap, "uidMap");
  const gidMap = maps(o.gidMap, "gidMap");
  // "none" (bwrap's --userns-block-fd): the map is the caller's to write, into /proc/<sandboxPid>/uid_map while
  // the sandbox waits on usernsBlockFd; without that wait nothing would ever write it.
  if ((uidMap === "none" || gidMap === "none") && usernsBlockFd < 0)
    throw fail('uidMap and gidMap "none" need usernsBlockFd: the caller writes the maps while the sandbox waits on it');
  // In a user namespace given (or switched to), or with maps the caller writes, the ids stay what they are
  // there unless asked.
  const given = userns >= 0 || userns2 >= 0;
  const mapUid = id(o.uid, "uid", uidMap === undefined ? euid : 0);
  const mapGid = id(o.gid, "gid", gidMap === undefined ? egid : 0);
  const uid = (given || uidMap === "none") && o.uid === undefined ? -1 : mapUid;
  const gid = (given || gidMap === "none") && o.gid === undefined ? -1 : mapGid;
  const capsGiven = o.capabilities;
  const keptCaps = caps(capsGiven);
  // With maps the caller writes, the command's uid is whatever they make of ours (bwrap's rule keeps the sets so).
  if (capsGiven === "caller" && uid !== 0 && !(uid === -1 && uidMap === "none"))
    throw fail(
      'capabilities "caller" needs uid 0 inside: a command of another uid keeps capabilities only as ambient ones',
    );
  // A passed fd is the command's alone: the monitor closes its copy once the command runs, so it cannot
  // also be an fd the sandbox waits on, holds or binds (a namespace fd, used only to start, can be both).
  const passFds = checkPassFds(o.passFds, fail);
  const blockFd = optFd(o.blockFd, "blockFd");
  const syncFd = optFd(o.syncFd, "syncFd");
  const named: [string, number][] = [
    ["blockFd", blockFd],
    ["usernsBlockFd", usernsBlockFd],
    ["syncFd", syncFd],
    ...mounts.flatMap((m, i): [string, number][] =>
      m.kind === "bind" && m.fd >= 0 ? [[`mounts[${i}].fd`, m.fd]] : [],
    ),
  ];
  for (const [what, fd] of named)
    if (fd >= 0 && passFds.includes(fd)) throw fail(`passFds names fd ${fd}, which ${what} also names`);
  const mapper = o.mapper;
  if (mapper !== undefined && mapper !== "auto" && mapper !== "direct" && mapper !== "newuidmap")
    throw fail(`mapper must be "auto", "direct" or "newuidmap", got ${describe(mapper)}`);
  return Object.freeze({
    argv: args,
    namespaces: ns,
    uid,
    gid,
    uidMap:
      userns >= 0
        ? []
        : uidMap === "none"
          ? "none"
          : parseIDMapping(uidMap === "auto" ? autoMap("uid") : (uidMap ?? `${mapUid}:${euid}:1`), "uid"),
    gidMap:
      userns >= 0
        ? []
        : gidMap === "none"
          ? "none"
          : parseIDMapping(gidMap === "auto" ? autoMap("gid") : (gidMap ?? `${mapGid}:${egid}:1`), "gid"),
    mapper,
    hostname,
    mounts,
    cwd: o.cwd === undefined ? null : viewPath(checkCwd(o.cwd), "cwd"),
    env: checkEnv(o.env === undefined ? {} : o.env),
    newSession: bool(o.newSession, "newSession", true),
    asPid1,
    caps: keptCaps,
    callerCaps: capsGiven === "caller",
    seccomp: programs,
    disableNestedUserns: bool(o.disableNestedUserns, "disableNestedUserns", false),
    argv0,
    userns,
    userns2,
    pidns,
    blockFd,
    usernsBlockFd,
    syncFd,
    passFds,
    lockFiles,
    assertUsernsDisabled: bool(o.assertUsernsDisabled, "assertUsernsDisabled", false),
    stdio: checkStdio(o.stdio),
    signal: o.signal as AbortSignal | undefined,
    timeout: timeout as number | undefined,
  });
}
