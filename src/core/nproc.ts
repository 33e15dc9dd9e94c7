/**
 * RLIMIT_NPROC headroom. Helpers are processes of the caller's uid, and so
 * are Bun's own threads, which Bun starts lazily and aborts the whole
 * process (panic: abort()) when it cannot. So a helper is refused, with a
 * clear EAGAIN, when it would leave Bun too few slots under a small limit.
 * Exempt callers (root, CAP_SYS_ADMIN, CAP_SYS_RESOURCE) are never counted.
 */
import { readFileSync } from "node:fs";
import { CAP_SYS_ADMIN, CAP_SYS_RESOURCE } from "./caps.ts";
import { EAGAIN, syscallError, type UsernsError } from "./errors.ts";
import * as processCodec from "./process-codec.ts";

/** Above this the limit is not a practical concern, and nothing is read per call. */
const LARGE = 1 << 20;
/** Slots kept for threads Bun may still start (GC markers, JIT, pools grow with the CPU count). */
const RESERVE = 8 + 2 * (navigator.hardwareConcurrency || 2);

let limit: number | undefined;

function threadsOfThisProcess(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  // num_threads is field 20 of proc(5); fields after the comm start at 3.
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[17]);
}

/**
 * An EAGAIN UsernsError if one more helper (or spawnInside command) would
 * crowd out Bun's threads, else undefined. `held`: the helpers and running
 * commands of this thread, each a process of ours at least until it enters.
 */
export function nprocShortfall(caps: number, held: number, what: "helper" | "spawnInside"): UsernsError | undefined {
  if (process.getuid?.() === 0 || (caps & (CAP_SYS_ADMIN | CAP_SYS_RESOURCE)) !== 0) return undefined;
  limit ??= processCodec.nprocLimit();
  if (limit < 0 || limit >= LARGE) return undefined;
  const threads = threadsOfThisProcess();
  if (threads + held + 1 + RESERVE <= limit) return undefined;
  return syscallError(
    "clone",
    "clone",
    EAGAIN,
    what === "helper"
      ? "failed to start noop process for unshare: clone: resource temporarily unavailable"
      : "spawnInside: clone: resource temporarily unavailable",
    `RLIMIT_NPROC (ulimit -u) is ${limit}: this process has ${threads} threads and ${held} helpers and commands in flight, and Bun aborts when it cannot start a thread it needs, so ${RESERVE} slots are kept free; raise the limit (ulimit -u) or keep fewer helpers and commands in flight`,
  );
}
