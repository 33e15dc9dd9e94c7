/**
 * The rootless map writer: shadow's setuid helpers newuidmap/newgidmap
 * write the waiting helper's uid_map and gid_map for a caller that may not
 * (ranges from /etc/subuid and /etc/subgid). Their failures are read back
 * into a UsernsError that names the cause and the fix.
 */
import { readFileSync, statSync } from "node:fs";
import { CAP_SETGID, CAP_SETUID } from "../core/caps.ts";
import { UsernsError } from "../core/errors.ts";
import type { MapperFailure, MapWriter } from "../core/helper-codec.ts";
import { type IDMap, mapText } from "../core/idmap.ts";
import { appArmorProfileHint, readSysctl } from "../core/start-hints.ts";
import { SUBGID, SUBUID, subordinateIds } from "./subid.ts";

export interface ShadowTools {
  readonly newuidmap: string;
  readonly newgidmap: string;
}

const INSTALL =
  "install them: apt-get install uidmap (Debian, Ubuntu) / dnf install shadow-utils (Fedora) / apk add shadow-uidmap (Alpine)";

function startFailure(step: "newuidmap" | "newgidmap", code: string, errno: number, detail: string, hint: string) {
  return new UsernsError(`failed to start noop process for unshare: ${step}: ${detail}`, {
    code,
    errno,
    syscall: "execve",
    step,
    hint,
  });
}

/**
 * Find newuidmap and newgidmap, and refuse up front (before any helper
 * exists) what cannot work: a missing tool, or no_new_privs, under which a
 * setuid program gains nothing (rootlesskit#551).
 */
export function findShadowTools(): ShadowTools {
  const tools: Record<string, string> = {};
  for (const step of ["newuidmap", "newgidmap"] as const) {
    const path = Bun.which(step, { PATH: process.env.PATH ?? "" });
    if (!path)
      throw startFailure(
        step,
        "ENOENT",
        2,
        `${step} not found in PATH`,
        `mapping id ranges without root needs ${step}; ${INSTALL}`,
      );
    tools[step] = path;
  }
  if (/^NoNewPrivs:\s*1$/m.test(readFileSync("/proc/self/status", "utf8"))) {
    throw startFailure(
      "newuidmap",
      "EPERM",
      1,
      "no_new_privs is set on this process",
      "setuid helpers cannot gain privilege under no_new_privs (set by systemd's NoNewPrivileges=, a container runtime, or a sandbox); run without it, or as root",
    );
  }
  return tools as unknown as ShadowTools;
}

function ranges(extents: readonly IDMap[]): string[] {
  return extents.length === 0 ? [] : mapText(extents).trim().split(/\s+/);
}

/** The hint for what newuidmap/newgidmap printed. */
function hintFor(step: "newuidmap" | "newgidmap", tool: string, stderr: string): string {
  if (/range .* not allowed/.test(stderr)) {
    const file = step === "newuidmap" ? SUBUID : SUBGID;
    let yours = "none";
    try {
      const ids = subordinateIds();
      yours = (step === "newuidmap" ? ids.uid : ids.gid).map((e) => `${e.hostID}:${e.size}`).join(", ");
    } catch {}
    return `every host id but your own must lie in your ranges in ${file} (yours: ${yours}); map inside them, or add a range (usermod --add-${step === "newuidmap" ? "subuids" : "subgids"})`;
  }
  if (/write to [ug]id_map failed: Operation not permitted/.test(stderr)) {
    if (readSysctl("kernel.apparmor_restrict_unprivileged_userns") === "1") return appArmorProfileHint();
    const st = statSync(tool);
    if ((st.mode & 0o4000) === 0 || st.uid !== 0) {
      return `${tool} is neither setuid root nor given file capabilities, so it has no privilege to write the map (rootlesskit#404): chmod u+s ${tool}, or setcap cap_${step === "newuidmap" ? "setuid" : "setgid"}+ep ${tool}`;
    }
    return `${tool} is setuid root but the kernel still refused: a nosuid mount under it, an LSM, or a seccomp filter`;
  }
  return `${tool} failed; run it by hand to see why`;
}

/** Run newuidmap, then newgidmap, for the waiting helper PID. */
export function shadowWriter(tools: ShadowTools, uid: readonly IDMap[], gid: readonly IDMap[]): MapWriter {
  const jobs = [
    ["newuidmap", tools.newuidmap, ranges(uid)],
    ["newgidmap", tools.newgidmap, ranges(gid)],
  ] as const;
  return (pid: number): MapperFailure | undefined => {
    for (const [step, tool, args] of jobs) {
      if (args.length === 0) continue; // "none": left unwritten
      const r = Bun.spawnSync([tool, String(pid), ...args], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
      if (r.exitCode === 0) continue;
      const stderr = r.stderr.toString().trim();
      const first = stderr.split("\n")[0] || `exit status ${r.exitCode ?? `signal ${r.signalCode}`}`;
      const eperm = /Operation not permitted|not allowed/.test(stderr);
      return { error: startFailure(step, eperm ? "EPERM" : "EIO", eperm ? 1 : 5, first, hintFor(step, tool, stderr)) };
    }
    return undefined;
  };
}

/**
 * The map writer a helper of maps UID and GID gets, given the caller's
 * capabilities: "newuidmap" always shadow's helpers, "direct" never;
 * "auto" direct where the kernel lets this caller write the maps itself
 * (CAP_SETUID and CAP_SETGID, or only its own uid and gid), shadow's helpers
 * otherwise. The tools are found and checked (present, no no_new_privs)
 * when chosen, before any helper exists.
 */
export function mapWriterFor(
  mapper: "auto" | "direct" | "newuidmap",
  uid: readonly IDMap[],
  gid: readonly IDMap[],
): (caps: number) => MapWriter | undefined {
  return (caps) => (useShadowTools(mapper, uid, gid, caps) ? shadowWriter(findShadowTools(), uid, gid) : undefined);
}

function useShadowTools(
  mapper: "auto" | "direct" | "newuidmap",
  uid: readonly IDMap[],
  gid: readonly IDMap[],
  caps: number,
): boolean {
  if (mapper !== "auto") return mapper === "newuidmap";
  if ((caps & CAP_SETUID) !== 0 && (caps & CAP_SETGID) !== 0) return false;
  // An unwritten map ("none") needs nobody's privilege.
  const own = (m: readonly IDMap[], id: number | undefined) =>
    m.length === 0 || (m.length === 1 && m[0]?.size === 1 && m[0].hostID === id);
  return !(own(uid, process.geteuid?.()) && own(gid, process.getegid?.()));
}
