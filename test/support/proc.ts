/** What the kernel says about this process: fds, children, zombies. */
import {
  chmodSync,
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rootIsInitramfs as sandboxRootIsInitramfs } from "../../src/sandbox/sandbox.ts";

export const isRoot = process.getuid?.() === 0;
export const ROOT_ONLY = "needs root (skipped: not running as uid 0)";
/** Set by test/arch/aarch64.sh's VM: ~10x slower CPU, so stress tests run fewer rounds (never weaker checks). */
export const EMULATED = process.env.BUN_USERNS_EMULATED === "1";

export function openFds(): string[] {
  return readdirSync("/proc/self/fd");
}

/**
 * Our descriptors but the library's own per-process memfds (the park program,
 * each thread's registry): made at the first call that needs them and kept, so
 * not a call's leak.
 */
export function callFds(): string[] {
  return openFds().filter((fd) => {
    try {
      return !readlinkSync(`/proc/self/fd/${fd}`).startsWith("/memfd:bun-userns-");
    } catch {
      return true;
    }
  });
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

/** Every child of every thread of PID (this process by default); none once it is gone. */
export function childPids(pid: number | "self" = "self"): number[] {
  const pids: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const tid of tids) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) pids.push(...text.split(/\s+/).map(Number));
    } catch {}
  }
  return pids;
}

/** A FIFO's two ends, both blocking (the reader opened while a writer exists); its name in DIR is gone already. */
export function fifoEnds(dir: string): { r: number; w: number } {
  const path = mkdtempSync(join(dir, "fifo-"));
  const fifo = join(path, "f");
  Bun.spawnSync(["mkfifo", fifo]);
  const probe = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const w = openSync(fifo, constants.O_WRONLY);
  const r = openSync(fifo, constants.O_RDONLY);
  closeSync(probe);
  rmSync(path, { recursive: true, force: true });
  return { r, w };
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
      return readFileSync(`/proc/${pid}/comm`, "utf8").startsWith("bun-userns:");
    } catch {
      return false;
    }
  });
}

/** The processes whose parent chain reaches PID, from /proc (no pgrep: a busybox may lack it). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      parent.set(Number(d), Number(procStatus(Number(d)).PPid));
    } catch {} // gone meanwhile
  }
  return [...parent.keys()].filter((p) => {
    for (let q = parent.get(p); q !== undefined && q > 0; q = parent.get(q)) if (q === pid) return true;
    return false;
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

/** RSS of this process in KiB. */
export function rssKiB(): number {
  return Number(procStatus("self").VmRSS?.split(/\s+/)[0] ?? 0);
}

type Waitid = (idtype: number, id: number, info: Uint8Array, options: number) => number;
let waitid: Waitid | undefined;

/**
 * What waitid(P_ALL, WEXITED|WNOHANG|WNOWAIT|__WALL) says, without reaping:
 * "none" (no child at all), "running" (children, none exited) or the pid of a
 * zombie child.
 */
export function waitProbe(): "none" | "running" | number {
  if (waitid === undefined) {
    const { dlopen } = require("bun:ffi") as typeof import("bun:ffi");
    const libc = dlopen("libc.so.6", { waitid: { args: ["i32", "i32", "ptr", "i32"], returns: "i32" } });
    waitid = libc.symbols.waitid as unknown as Waitid;
  }
  const info = new Uint8Array(128);
  const rc = waitid(0, 0, info, 4 | 1 | 0x01000000 | 0x40000000);
  if (rc < 0) return "none";
  const pid = new DataView(info.buffer).getInt32(16, true);
  return pid === 0 ? "running" : pid;
}

/**
 * Set a host-wide sysctl file to VALUE for a test; the returned function puts
 * back what it was, only if this wrote it and nobody has changed it since.
 */
export function setSysctl(path: string, value: string): () => void {
  const was = readFileSync(path, "utf8").trim();
  if (was === value) return () => {};
  writeFileSync(path, value);
  return () => {
    if (readFileSync(path, "utf8").trim() === value) writeFileSync(path, was);
  };
}

/**
 * Wait for an event, not a time: poll `done()` until it holds or `ms` pass
 * (a bound generous enough for a loaded host, never a speed). True if it held.
 */
export async function until(done: () => boolean, ms = 20_000): Promise<boolean> {
  const t0 = performance.now();
  while (!done()) {
    if (performance.now() - t0 > ms) return false;
    await Bun.sleep(5);
  }
  return true;
}

/** Whether PID sleeps in nanosleep (sleep(1) past its loader and startup). */
export function inNanosleep(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/wchan`, "utf8").includes("nanosleep");
  } catch {
    return false;
  }
}

/** Is / the initial ramfs (rootfs), as in an initramfs-only VM? pivot_root refuses to leave it (the library's test). */
export const rootIsInitramfs = sandboxRootIsInitramfs();

/**
 * HOME and TMPDIR for the processes a test runs as other uids: a fresh
 * directory under TMPDIR that any uid may write (sticky, as /tmp), so what
 * they leave there (bun:ffi's header cache, bun-cc-UID) goes when the test
 * removes it. Not /tmp itself: nothing a test makes may stay behind.
 */
export function othersTmp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o1777);
  return dir;
}
