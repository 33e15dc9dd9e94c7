/** What the kernel says about this process: fds, children, zombies. */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export const isRoot = process.getuid?.() === 0;
export const ROOT_ONLY = "needs root (skipped: not running as uid 0)";

export function openFds(): string[] {
  return readdirSync("/proc/self/fd");
}

/** Descriptors that point at pidfds or namespaces: what a leak would look like. */
export function leakableFds(): string[] {
  const out: string[] = [];
  for (const fd of openFds()) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.includes("pidfd") || /^(user|net|ipc|mnt|uts|pid|cgroup|time):\[/.test(target))
        out.push(`${fd}:${target}`);
    } catch {}
  }
  return out;
}

/** Every child of every thread of this process. */
export function childPids(): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const text = readFileSync(`/proc/self/task/${tid}/children`, "utf8").trim();
      if (text) pids.push(...text.split(/\s+/).map(Number));
    } catch {}
  }
  return pids;
}

export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

export function procStatus(pid: number | "self"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** Children that are helpers of ours (named by the native code). */
export function helperChildren(): number[] {
  return childPids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "bun-userns";
    } catch {
      return false;
    }
  });
}

export function nsLink(pid: number | "self", ns: string): string {
  return readlinkSync(`/proc/${pid}/ns/${ns}`);
}

export function exists(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}
