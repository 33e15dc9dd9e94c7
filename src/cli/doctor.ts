/**
 * `bun-userns doctor`: probe what the library needs on this machine and
 * explain each answer. Probes syscalls, not kernel versions, where it can.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { release } from "node:os";
import { CAP_SYS_PTRACE, hasCapability } from "../core/caps.ts";
import { errnoText, UsernsError } from "../core/errors.ts";
import * as native from "../core/native.ts";
import { probeKernelDetail } from "../core/pidfd.ts";
import { appArmorProfileHint } from "../core/start-hints.ts";
import { openIdmappedTreeSync } from "../mount/mount.ts";
import { subordinateIds } from "../rootless/subid.ts";
import { getUsernsFdSync } from "../unshare.ts";
import { out, parseArgv, str, UsageError } from "./args.ts";

export type Status = "ok" | "warn" | "fail";
export interface Check {
  name: string;
  status: Status;
  detail: string;
  hint?: string;
  /** Failing this means the library cannot work here. */
  required: boolean;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

function check(name: string, required: boolean, fn: () => Omit<Check, "name" | "required">): Check {
  try {
    return { name, required, ...fn() };
  } catch (e) {
    return { name, required, status: "fail", detail: e instanceof Error ? e.message : String(e) };
  }
}

function kernel(): Omit<Check, "name" | "required"> {
  const r = release();
  const [major = 0, minor = 0] = r.split(".").map((n) => Number.parseInt(n, 10));
  const ok = major > 5 || (major === 5 && minor >= 12);
  return ok
    ? { status: "ok", detail: `${r} (>= 5.12: pidfd, close_range, time namespaces, idmapped mounts)` }
    : {
        status: "warn",
        detail: `${r} (< 5.12)`,
        hint: "pidfd needs 5.4, close_range 5.9, idmapped mounts 5.12; the probes below say what works",
      };
}

function nativeLayer(): Omit<Check, "name" | "required"> {
  const n = native.nativeInfo();
  return { status: "ok", detail: `${n.mode} ${n.path} (${n.loadMs.toFixed(1)} ms)` };
}

function pidfd(): Omit<Check, "name" | "required"> {
  const r = probeKernelDetail();
  if (r.ok) return { status: "ok", detail: "pidfd_open, pidfd_send_signal, waitid(P_PIDFD), close_range all work" };
  const version = r.call === "close_range" ? "5.9" : "5.4";
  return {
    status: "fail",
    detail: `${r.call}: ${errnoText(r.errno)}`,
    hint:
      r.errno === 38
        ? `the kernel is older than ${version} or a seccomp filter (container runtime, gVisor) hides ${r.call}`
        : `a seccomp filter or LSM blocks ${r.call}`,
  };
}

function createUserns(): Omit<Check, "name" | "required"> {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  try {
    using ns = getUsernsFdSync(`0:${uid}:1`, `0:${gid}:1`);
    return {
      status: "ok",
      detail: `CLONE_NEWUSER|CLONE_PIDFD helper parked and reaped (maps 0:${uid}:1), namespace owner ${ns.ownerUid()}`,
    };
  } catch (e) {
    if (e instanceof UsernsError) return { status: "fail", detail: e.message, hint: e.hint };
    throw e;
  }
}

function maxUserNamespaces(): Omit<Check, "name" | "required"> {
  const max = Number(read("/proc/sys/user/max_user_namespaces"));
  const seen = new Set<string>();
  let unreadable = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      seen.add(readlinkSync(`/proc/${pid}/ns/user`));
    } catch {
      unreadable++;
    }
  }
  const inUse = `${seen.size} user namespaces in use${unreadable ? ` (${unreadable} processes not readable)` : ""}`;
  if (!(max > 0)) {
    return {
      status: "fail",
      detail: `user.max_user_namespaces = ${Number.isNaN(max) ? "unreadable" : max}`,
      hint: "user namespaces are disabled: sysctl -w user.max_user_namespaces=15000",
    };
  }
  if (seen.size > max * 0.9) {
    return {
      status: "warn",
      detail: `user.max_user_namespaces = ${max}; ${inUse}`,
      hint: "close to the limit: the kernel frees a user namespace asynchronously, a moment after its last process is reaped, so a burst of calls can hold many; look for zombies that pin them, or raise the sysctl",
    };
  }
  return { status: "ok", detail: `user.max_user_namespaces = ${max}; ${inUse}` };
}

function debianUsernsClone(): Omit<Check, "name" | "required"> {
  const v = read("/proc/sys/kernel/unprivileged_userns_clone");
  if (v === undefined) return { status: "ok", detail: "not present (not a Debian-patched kernel)" };
  if (v === "1") return { status: "ok", detail: "kernel.unprivileged_userns_clone = 1" };
  const root = process.geteuid?.() === 0;
  return {
    status: root ? "ok" : "warn",
    detail: `kernel.unprivileged_userns_clone = ${v}${root ? " (does not apply to root)" : ""}`,
    hint: root
      ? undefined
      : "unprivileged callers cannot create user namespaces: sysctl -w kernel.unprivileged_userns_clone=1",
  };
}

function apparmor(): Omit<Check, "name" | "required"> {
  const v = read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  if (v === undefined) return { status: "ok", detail: "not present (no AppArmor user-namespace restriction)" };
  if (v === "0") return { status: "ok", detail: "kernel.apparmor_restrict_unprivileged_userns = 0" };
  return {
    status: process.geteuid?.() === 0 ? "ok" : "warn",
    detail: `kernel.apparmor_restrict_unprivileged_userns = ${v}`,
    hint: appArmorProfileHint(),
  };
}

function yama(): Omit<Check, "name" | "required"> {
  const v = read("/proc/sys/kernel/yama/ptrace_scope");
  if (v === undefined) return { status: "ok", detail: "Yama not present" };
  const hasPtrace = hasCapability(CAP_SYS_PTRACE);
  if (v === "0" || v === "1") return { status: "ok", detail: `kernel.yama.ptrace_scope = ${v}` };
  if (v === "2" && hasPtrace)
    return { status: "ok", detail: "kernel.yama.ptrace_scope = 2 (this caller has CAP_SYS_PTRACE)" };
  return {
    status: "fail",
    detail: `kernel.yama.ptrace_scope = ${v}`,
    hint: "PTRACE_TRACEME parking is refused at 2 without CAP_SYS_PTRACE and always at 3: sysctl -w kernel.yama.ptrace_scope=1",
  };
}

function seccomp(): Omit<Check, "name" | "required"> {
  const m = /^Seccomp:\s*(\d)/m.exec(read("/proc/self/status") ?? "");
  const mode = m?.[1] ?? "?";
  if (mode === "0") return { status: "ok", detail: "Seccomp: 0 (no filter)" };
  return {
    status: "warn",
    detail: `Seccomp: ${mode} (${mode === "2" ? "filter" : mode === "1" ? "strict" : "unknown"})`,
    hint: "a filter (Docker's default profile without CAP_SYS_ADMIN, for one) may refuse clone(CLONE_NEWUSER), unshare or ptrace; the user-namespace check above is the real test",
  };
}

/** Whether newuidmap/newgidmap can write maps for this caller: present, setuid root (or file caps), no no_new_privs. */
function shadowToolState(): { usable: boolean; detail: string; hint?: string } {
  const found: string[] = [];
  const problems: string[] = [];
  for (const tool of ["newuidmap", "newgidmap"]) {
    const path = Bun.which(tool);
    if (!path) {
      problems.push(`${tool} not found`);
      continue;
    }
    const st = statSync(path);
    const setuid = (st.mode & 0o4000) !== 0 && st.uid === 0;
    const caps = !setuid && hasFileCaps(path);
    found.push(`${path} (${setuid ? "setuid" : caps ? "file capabilities" : "neither setuid nor file capabilities"})`);
    if (!setuid && !caps) problems.push(`${path} has no privilege`);
  }
  if (/^NoNewPrivs:\s*1$/m.test(read("/proc/self/status") ?? "")) problems.push("no_new_privs is set");
  const detail = [...found, ...problems.filter((p) => p.includes("not found") || p.includes("no_new"))].join(", ");
  if (problems.length === 0) return { usable: true, detail };
  return {
    usable: false,
    detail,
    hint: problems.some((p) => p.includes("not found"))
      ? "apt-get install uidmap (Debian, Ubuntu) / dnf install shadow-utils (Fedora)"
      : problems.includes("no_new_privs is set")
        ? "setuid helpers cannot gain privilege under no_new_privs"
        : "chmod u+s the tool, or setcap cap_setuid+ep newuidmap / cap_setgid+ep newgidmap",
  };
}

/** File capabilities, as getcap (libcap2-bin) reports them; Bun has no getxattr. Unknown counts as none. */
function hasFileCaps(path: string): boolean {
  const getcap = Bun.which("getcap");
  if (!getcap) return false;
  const r = Bun.spawnSync([getcap, path], { stdout: "pipe", stderr: "ignore" });
  return r.stdout.toString().includes("cap_set");
}

function idmapHelpers(): Omit<Check, "name" | "required"> {
  const s = shadowToolState();
  if (s.usable) return { status: "ok", detail: s.detail };
  return {
    status: "warn",
    detail: s.detail,
    hint: `needed to map id ranges without root (--map-auto, mapper "newuidmap"): ${s.hint}`,
  };
}

function subids(): Omit<Check, "name" | "required"> {
  const uid = process.geteuid?.() ?? 0;
  try {
    const ids = subordinateIds();
    const list = (m: readonly { hostID: number; size: number }[]) => m.map((e) => `${e.hostID}:${e.size}`).join(",");
    return { status: "ok", detail: `${ids.user.name ?? uid}: subuid ${list(ids.uid)}; subgid ${list(ids.gid)}` };
  } catch (e) {
    if (!(e instanceof UsernsError)) throw e;
    return { status: uid === 0 ? "ok" : "warn", detail: e.message, hint: e.hint };
  }
}

function mapAuto(): Omit<Check, "name" | "required"> {
  const uid = process.geteuid?.() ?? 0;
  let ranges: string;
  try {
    const ids = subordinateIds();
    ranges = `${ids.uid.length + 1} uid and ${ids.gid.length + 1} gid extents`;
  } catch (e) {
    if (!(e instanceof UsernsError)) throw e;
    return { status: "warn", detail: `no: ${e.message}`, hint: e.hint };
  }
  if (uid === 0) return { status: "ok", detail: `yes: ${ranges}, written directly (root)` };
  const tools = shadowToolState();
  if (tools.usable) return { status: "ok", detail: `yes: ${ranges}, written by newuidmap/newgidmap` };
  return { status: "warn", detail: `no: newuidmap/newgidmap are not usable (${tools.detail})`, hint: tools.hint };
}

/**
 * What `bun-userns mount PATH …` would do, without attaching: the library's
 * own detached clone, recursive as mount is by default, so the answer and
 * its hint (the submount that refuses, its filesystem) are mount's.
 */
function idmappedMount(path: string): Omit<Check, "name" | "required"> {
  if (!existsSync(path)) return { status: "fail", detail: `${path}: no such file or directory` };
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  using ns = uid === 0 ? getUsernsFdSync("0:1000:65536", "0:1000:65536") : getUsernsFdSync(`0:${uid}:1`, `0:${gid}:1`);
  try {
    openIdmappedTreeSync(path, ns.fd).close();
  } catch (e) {
    if (!(e instanceof UsernsError)) throw e;
    let alone = "";
    if (e.step === "mount_setattr") {
      try {
        openIdmappedTreeSync(path, ns.fd, { recursive: false }).close();
        alone = "; without its submounts (--no-recursive): ok";
      } catch {}
    }
    return { status: "fail", detail: `${path} (recursive): ${e.message}${alone}`, hint: e.hint };
  }
  return {
    status: "ok",
    detail: `${path}: open_tree clone (recursive, as mount does) + mount_setattr(MOUNT_ATTR_IDMAP) work (never attached)`,
  };
}

/** Every check, in order. `path`: also probe idmapped mounts there. */
export function runDoctor(path?: string): { ok: boolean; checks: Check[] } {
  const checks: Check[] = [
    check("kernel", false, kernel),
    check("native", true, nativeLayer),
    check("pidfd", true, pidfd),
    check("userns", true, createUserns),
    check("max_user_namespaces", true, maxUserNamespaces),
    check("unprivileged_userns_clone", false, debianUsernsClone),
    check("apparmor", false, apparmor),
    check("ptrace_scope", true, yama),
    check("seccomp", false, seccomp),
    check("newuidmap", false, idmapHelpers),
    check("subid", false, subids),
    check("map_auto", false, mapAuto),
  ];
  if (path !== undefined) checks.push(check("idmapped_mount", true, () => idmappedMount(path)));
  return { ok: checks.every((c) => c.status !== "fail" || !c.required), checks };
}

export const DOCTOR_HELP = `Usage: bun-userns doctor [--path DIR] [--json]

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
  bun-userns doctor --path /var/lib/containerd --json`;

export function cmdDoctor(args: string[]): number {
  const { values, rest } = parseArgv(
    "doctor",
    args,
    { path: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    "positionals",
  );
  if (rest.length > 0) throw new UsageError(`doctor: unexpected argument ${JSON.stringify(rest[0])}`);
  if (values.help) {
    out(DOCTOR_HELP);
    return 0;
  }
  const report = runDoctor(str(values.path));
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
