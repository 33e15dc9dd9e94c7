/**
 * bwrap's parsed options → a sandbox() spec, with bwrap's checks and
 * defaults where they differ from sandbox()'s: only the namespaces asked
 * for (user and mount always), the caller's environment edited by the
 * options, the caller's directory kept when the view has it, every
 * capability kept for a root caller, no new session unless asked.
 */
import { existsSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { SandboxMount, SandboxNamespace, SandboxSpec } from "../../sandbox/sandbox.ts";
import { CAPABILITIES } from "../../sandbox/spec.ts";
import { type BwrapArgs, BwrapError, type BwrapOp } from "./options.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
export type BwrapSpec = Mutable<Omit<SandboxSpec, "mounts">> & { mounts: SandboxMount[] };

/** A path inside the sandbox: bwrap takes a relative one from the new root. */
const inView = (p: string) => (p.startsWith("/") ? p : `/${p}`);

/** The caller's effective capabilities (/proc/self/status CapEff). */
function effectiveCaps(): bigint {
  const line = readFileSync("/proc/self/status", "utf8")
    .split("\n")
    .find((l) => l.startsWith("CapEff:"));
  return line === undefined ? 0n : BigInt(`0x${line.slice(7).trim()}`);
}

function capBit(name: string): bigint {
  const up = name.toUpperCase();
  const n = CAPABILITIES.indexOf(up.startsWith("CAP_") ? up : `CAP_${up}`);
  if (n < 0 || !up.startsWith("CAP_")) throw new BwrapError(`unknown cap: ${name}`);
  return 1n << BigInt(n);
}

/** bwrap's capability rule: a root caller keeps its effective set, anyone else none; then --cap-add/--cap-drop. */
function capabilities(a: BwrapArgs, realUid: number): string[] {
  const all = (1n << BigInt(CAPABILITIES.length)) - 1n;
  let keep = realUid === 0 ? effectiveCaps() & all : 0n;
  for (const c of a.caps) {
    const bits = c.cap.toUpperCase() === "ALL" ? all : capBit(c.cap);
    keep = c.add ? keep | bits : keep & ~bits;
  }
  return CAPABILITIES.filter((_, i) => (keep >> BigInt(i)) & 1n);
}

/** Is PREFIX the path P or one of its parents (component-wise)? */
function covers(prefix: string, p: string): boolean {
  return prefix === "/" || p === prefix || p.startsWith(`${prefix}/`);
}

/**
 * The host path that view path P shows after the first N ops, when the
 * mount covering it is a bind (null when it lies on a filesystem of the
 * view's own). Used for bwrap's "only when it does not exist" rules.
 */
export function hostPathOf(ops: readonly BwrapOp[], n: number, p: string): string | null {
  for (let i = n - 1; i >= 0; i--) {
    const o = ops[i] as BwrapOp;
    const dest = normal(inView(o.dest));
    if (!covers(dest, p)) continue;
    const rest = p.slice(dest === "/" ? 0 : dest.length);
    if ("source" in o) return normal(`${normal(resolve("/", o.source))}/${rest}`);
    if (o.op === "bind-fd" || o.op === "ro-bind-fd") {
      try {
        return normal(`${readlinkSync(`/proc/self/fd/${o.fd}`)}/${rest}`);
      } catch {
        return null;
      }
    }
    if (o.op === "tmpfs" || o.op === "proc" || o.op === "dev" || o.op === "mqueue" || o.op.endsWith("overlay"))
      return null;
  }
  return null;
}

function normal(p: string): string {
  const parts: string[] = [];
  for (const c of p.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") parts.pop();
    else parts.push(c);
  }
  return `/${parts.join("/")}`;
}

/** Does view path P exist once the ops are applied (as far as the command line tells)? */
function existsInView(ops: readonly BwrapOp[], p: string): boolean {
  const host = hostPathOf(ops, ops.length, p);
  if (host !== null) {
    try {
      return statSync(host).isDirectory();
    } catch {
      return false;
    }
  }
  return ops.some((o) => normal(inView(o.dest)) === p && o.op !== "symlink" && o.op !== "file");
}

export interface BuiltSpec {
  spec: BwrapSpec;
  /** The namespaces made, for --info-fd. */
  namespaces: SandboxNamespace[];
}

/** Build the spec; CWD is the caller's directory, REALUID its uid. */
export function buildSpec(
  a: BwrapArgs,
  cwd: string,
  realUid: number,
  realGid: number,
  inherited: readonly number[] = [],
): BuiltSpec {
  const u = a.unshare;
  if (a.usernsBlockFd !== -1 && !u.user) throw new BwrapError("--userns-block-fd requires --unshare-user");
  if (a.usernsBlockFd !== -1 && a.infoFd === -1) throw new BwrapError("--userns-block-fd requires --info-fd");
  if (a.userns !== -1 && u.user) throw new BwrapError("--userns not compatible --unshare-user");
  if (a.userns !== -1 && u.userTry) throw new BwrapError("--userns not compatible --unshare-user-try");
  if (a.disableUserns && !u.user) throw new BwrapError("--disable-userns requires --unshare-user");
  if (a.disableUserns && a.usernsBlockFd !== -1)
    throw new BwrapError("--disable-userns is not compatible with  --userns-block-fd");
  // Not root and not given a namespace: a new user namespace (bwrap's "DWIM"); -try when one can be made.
  const userNs =
    u.user ||
    (realUid !== 0 && a.userns === -1) ||
    (u.userTry && existsSync("/proc/self/ns/user") && maxUserNamespaces() !== "0");
  // In a user namespace given (--userns, --userns2) the command keeps the ids it has there unless told. With
  // --userns-block-fd the maps are the caller's to write (bwrap writes none), and the ids whatever they make of ours.
  const given = a.userns !== -1 || a.userns2 !== -1;
  const callerMaps = a.usernsBlockFd !== -1;
  const uid = callerMaps ? undefined : (a.uid ?? (given ? undefined : realUid));
  const gid = callerMaps ? undefined : (a.gid ?? (given ? undefined : realGid));
  if (!userNs && a.userns === -1 && uid !== undefined && uid !== realUid)
    throw new BwrapError("Specifying --uid requires --unshare-user or --userns");
  if (!userNs && a.userns === -1 && gid !== undefined && gid !== realGid)
    throw new BwrapError("Specifying --gid requires --unshare-user or --userns");
  if (!u.uts && a.hostname !== null) throw new BwrapError("Specifying --hostname requires --unshare-uts");
  if (a.asPid1 && !u.pid) throw new BwrapError("Specifying --as-pid-1 requires --unshare-pid");
  if (a.asPid1 && a.lockFiles.length > 0)
    throw new BwrapError("Specifying --as-pid-1 and --lock-file is not permitted");
  if (u.cgroup && !existsSync("/proc/self/ns/cgroup"))
    throw new BwrapError("Cannot create new cgroup namespace because the kernel does not support it");

  const ns: SandboxNamespace[] = ["user", "mnt"];
  if (u.ipc) ns.push("ipc");
  if (u.pid) ns.push("pid");
  if (u.net) ns.push("net");
  if (u.uts) ns.push("uts");
  if (u.cgroup || (u.cgroupTry && existsSync("/proc/self/ns/cgroup"))) ns.push("cgroup");

  const mounts = a.ops.flatMap((o, i) => {
    const m = mountOf(o, i, a, cwd);
    // bwrap's /dev also has "core", a link to /proc/kcore.
    if (o.op === "dev")
      return [m, { type: "symlink" as const, target: `${normal(m.target)}/core`, linkTo: "/proc/kcore" }];
    if (o.op === "dir") return [...parentsOf(a.ops, i, normal(m.target), o.perms), m];
    return [m];
  });
  const env = { ...a.env };
  // bwrap's directory rule: --chdir, else the caller's directory if the view has it, else $HOME, else "/".
  let dir = "/";
  if (a.chdir !== null) dir = normal(resolve("/", a.chdir));
  else if (existsInView(a.ops, cwd)) dir = cwd;
  else if (env.HOME?.startsWith("/") && existsInView(a.ops, normal(env.HOME))) dir = normal(env.HOME);
  env.PWD = a.chdir ?? dir;

  const spec: BwrapSpec = {
    namespaces: ns,
    mounts,
    cwd: dir,
    env,
    newSession: a.newSession,
    asPid1: a.asPid1,
    // bwrap keeps a root caller's own sets as they are when no capability is named and the command is uid 0 (or
    // has whatever uid the caller's own maps give it).
    capabilities:
      realUid === 0 && (uid === 0 || callerMaps) && a.caps.length === 0
        ? "caller"
        : { drop: "ALL", add: capabilities(a, realUid) },
    stdio: ["inherit", "inherit", "inherit"],
  };
  if (uid !== undefined) spec.uid = uid;
  if (gid !== undefined) spec.gid = gid;
  if (a.hostname !== null) spec.hostname = a.hostname;
  if (a.disableUserns) spec.disableNestedUserns = true;
  if (a.seccomp.length === 1) spec.seccomp = a.seccomp[0] as Uint8Array;
  else if (a.seccomp.length > 1) spec.seccomp = a.seccomp;
  if (a.argv0 !== null) spec.argv0 = a.argv0;
  if (a.userns !== -1) spec.userns = a.userns;
  if (a.userns2 !== -1) spec.userns2 = a.userns2;
  if (a.pidns !== -1) spec.pidns = a.pidns;
  if (a.blockFd !== -1) spec.blockFd = a.blockFd;
  if (callerMaps) {
    spec.usernsBlockFd = a.usernsBlockFd;
    spec.uidMap = "none";
    spec.gidMap = "none";
  }
  if (a.syncFd !== -1) spec.syncFd = a.syncFd;
  // The command gets every fd we were given, as bwrap's does, but those bwrap closes: the ones an option
  // read data from, waits on, writes to or binds. --userns-block-fd's, and --sync-fd's with --as-pid-1, it
  // keeps itself (sandbox() does too); --userns, --userns2 and --pidns fds stay the command's.
  const closed = new Set([
    ...a.readFds,
    a.blockFd,
    a.syncFd,
    a.usernsBlockFd,
    a.infoFd,
    a.jsonStatusFd,
    ...a.ops.flatMap((o) => (o.op === "bind-fd" || o.op === "ro-bind-fd" ? [o.fd] : [])),
  ]);
  const pass = inherited.filter((fd) => !closed.has(fd));
  if (pass.length > 0) spec.passFds = pass;
  if (a.lockFiles.length > 0) spec.lockFiles = a.lockFiles.map((f) => normal(resolve("/", f)));
  if (a.assertUsernsDisabled) spec.assertUsernsDisabled = true;
  return { spec, namespaces: ns };
}

function maxUserNamespaces(): string {
  try {
    return readFileSync("/proc/sys/user/max_user_namespaces", "utf8").trim();
  } catch {
    return "";
  }
}

/**
 * bwrap makes the missing parents of a --dir with the owner's rwx and, for
 * group and others, r-x where PERMS gives them anything. Spelled out as dir
 * entries where the parent lies under a host bind and is missing there (a
 * parent on the view's own filesystems vanishes with it).
 */
function parentsOf(ops: readonly BwrapOp[], i: number, target: string, perms: number): SandboxMount[] {
  const mode = 0o700 | (perms & 0o070 ? 0o050 : 0) | (perms & 0o007 ? 0o005 : 0);
  if (mode === 0o755) return [];
  const out: SandboxMount[] = [];
  const parts = target.split("/").filter(Boolean);
  for (let k = 1; k < parts.length; k++) {
    const p = `/${parts.slice(0, k).join("/")}`;
    const host = hostPathOf(ops, i, p);
    if (host !== null && !existsSync(host)) out.push({ type: "dir", target: p, mode });
  }
  return out;
}

function mountOf(o: BwrapOp, i: number, a: BwrapArgs, cwd: string): SandboxMount {
  const target = inView(o.dest);
  switch (o.op) {
    case "bind":
    case "ro-bind":
    case "dev-bind":
    case "bind-try":
    case "ro-bind-try":
    case "dev-bind-try":
      // bwrap takes a relative source from the host's root.
      return { type: o.op, source: normal(resolve("/", o.source)), target };
    case "bind-fd":
    case "ro-bind-fd":
      return { type: o.op, fd: o.fd, target };
    case "proc":
      // Without a pid namespace bwrap binds the host's /proc: a new one would show the same processes.
      return a.unshare.pid || a.pidns !== -1 ? { type: "proc", target } : { type: "bind", source: "/proc", target };
    case "dev":
    case "mqueue":
    case "remount-ro":
      return { type: o.op, target };
    case "tmpfs":
      return o.size > 0
        ? { type: "tmpfs", target, mode: o.perms, size: o.size }
        : { type: "tmpfs", target, mode: o.perms };
    case "dir": {
      // bwrap's mode applies to a directory it creates; an existing one keeps its own.
      const host = hostPathOf(a.ops, i, normal(target));
      return host !== null && existsSync(host) ? { type: "dir", target } : { type: "dir", target, mode: o.perms };
    }
    case "file":
    case "bind-data":
      return { type: "file", target, data: o.data, mode: o.perms };
    case "ro-bind-data":
      return { type: "file", target, data: o.data, mode: o.perms, readOnly: true };
    case "symlink":
      return { type: "symlink", target, linkTo: o.target };
    case "chmod":
      return { type: "chmod", target, mode: o.perms };
    case "overlay":
      return {
        type: "overlay",
        sources: o.sources.map((s) => resolve(cwd, s)),
        upper: resolve(cwd, o.upper),
        work: resolve(cwd, o.work),
        target,
      };
    case "tmp-overlay":
    case "ro-overlay":
      return { type: o.op, sources: o.sources.map((s) => resolve(cwd, s)), target };
  }
}
