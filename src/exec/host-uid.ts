/**
 * Which host uid (as our user namespace numbers it) a command started by
 * spawnInside runs as, to tell whether it is the caller itself. A command of
 * another uid must not keep the caller's terminal (see spawn-options.ts,
 * newSession): from there it could type into the caller's shell (TIOCSTI).
 */
import { readFileSync } from "node:fs";
import * as processCodec from "../core/process-codec.ts";

/** (u32)-1: what uid_map shows for an id our namespace cannot name. */
const UNMAPPED = 4294967295;

/**
 * The host uid that `uid` inside a user namespace is, from a uid_map's text
 * ("first lower count" lines, shown in the reader's own namespace), or
 * undefined when the map does not name it in ours.
 */
export function mapUid(mapText: string, uid: number): number | undefined {
  for (const line of mapText.split("\n")) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length !== 3 || !f.every((n) => Number.isInteger(n) && n >= 0)) continue;
    const [first, lower, count] = f as [number, number, number];
    if (uid >= first && uid - first < count) {
      const host = lower + (uid - first);
      return host >= UNMAPPED ? undefined : host;
    }
  }
  return undefined;
}

/** Each helper's uid_map, read once (it can be written only once). */
const helperMaps = new WeakMap<object, string>();

/**
 * /proc/PID/uid_map of a process held by a pidfd, proved to be that process
 * still after the read (a signal 0 through the pidfd fails once it was
 * reaped, and only then can its pid name another); undefined if unreadable.
 */
export function readUidMap(pid: number, pidfd: number, cacheKey?: object): string | undefined {
  const cached = cacheKey === undefined ? undefined : helperMaps.get(cacheKey);
  if (cached !== undefined) return cached;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/uid_map`, "utf8");
  } catch {
    return undefined;
  }
  if (pidfd < 0 || processCodec.pidfdSignal(pidfd, 0) !== 0) return undefined;
  // A helper's map is written before the helper is handed out: never empty then.
  if (cacheKey !== undefined && text !== "") helperMaps.set(cacheKey, text);
  return text;
}

/** Our effective and real uid when they are one uid (the caller as a terminal would see it), else undefined. */
export function ownUid(): number | undefined {
  const e = process.geteuid?.();
  const r = process.getuid?.();
  return e !== undefined && e === r ? e : undefined;
}
