/**
 * The clock offsets of a new time namespace (util-linux unshare
 * --monotonic/--boottime). A helper that unshared "time" has made the
 * namespace its children get (time_for_children); its offsets are written to
 * /proc/PID/timens_offsets, and the kernel freezes them when the first
 * process enters (timens_on_fork/timens_install: EACCES after that), so they
 * are set between startHelper and the first spawnInside.
 */

import { closeSync, openSync, readlinkSync, writeSync } from "node:fs";
import { EACCES, EPERM, ESRCH, errnoText, invalid, syscallError } from "../core/errors.ts";
import type { Helper } from "../core/helper.ts";
import * as processCodec from "../core/process-codec.ts";
import { typeError } from "../core/validate.ts";
import { holdProcess } from "./namespace-fd.ts";

/** Seconds added to the clock inside (negative: earlier); fractions to the nanosecond. */
export interface TimeOffsets {
  /** CLOCK_MONOTONIC (and its _RAW, _COARSE). */
  monotonic?: number | bigint;
  /** CLOCK_BOOTTIME (and /proc/uptime). */
  boottime?: number | bigint;
}

/** KTIME_SEC_MAX: the kernel's ERANGE bound on an offset itself (ktime_t in ns). */
export const KTIME_SEC_MAX = 9223372036;
const CLOCKS = ["monotonic", "boottime"] as const;
const ERANGE = 34;

/** One clock's offset as the kernel's timespec: seconds, then 0 ≤ nanoseconds < 1e9. */
export function toTimespec(clock: string, raw: unknown): [bigint, number] {
  // Described without running any of its code (no String() of a hostile object).
  const shown =
    typeof raw === "bigint"
      ? `${raw}n`
      : typeof raw === "number"
        ? String(raw)
        : typeof raw === "string"
          ? JSON.stringify(raw.slice(0, 64))
          : raw === null
            ? "null"
            : `of type ${typeof raw}`;
  const bad = (rule: string) => invalid("options", `setTimeOffsets: ${clock} offset ${shown} ${rule}`);
  if (typeof raw === "bigint") {
    if (raw > BigInt(KTIME_SEC_MAX) || raw < -BigInt(KTIME_SEC_MAX)) throw bad(`is beyond ±${KTIME_SEC_MAX} s`);
    return [raw, 0];
  }
  if (typeof raw !== "number")
    throw typeError(`setTimeOffsets: the ${clock} offset`, "a number of seconds or a bigint", raw);
  if (!Number.isFinite(raw)) throw bad("is not a finite number of seconds");
  if (Math.abs(raw) > KTIME_SEC_MAX) throw bad(`is beyond ±${KTIME_SEC_MAX} s`);
  let sec = Math.floor(raw);
  let nsec = Math.round((raw - sec) * 1e9);
  if (nsec >= 1e9) {
    sec += 1;
    nsec = 0;
  }
  return [BigInt(sec), nsec];
}

/** The text timens_offsets takes: one "<clock> <sec> <nsec>" line per clock. */
export function timeOffsetsText(spec: unknown): string {
  if (typeof spec !== "object" || spec === null || Array.isArray(spec))
    throw typeError("setTimeOffsets' offsets", "{ monotonic?, boottime? } (seconds)", spec);
  const keys = Object.keys(spec);
  const unknown = keys.find((k) => !(CLOCKS as readonly string[]).includes(k));
  if (unknown !== undefined) {
    throw new TypeError(
      `setTimeOffsets: unknown clock ${JSON.stringify(unknown)}: a time namespace offsets monotonic and boottime only`,
    );
  }
  let text = "";
  for (const clock of CLOCKS) {
    // Own properties only, read once: a getter or Proxy answers what is written, nothing later.
    const raw = Object.hasOwn(spec, clock) ? (spec as Record<string, unknown>)[clock] : undefined;
    if (raw === undefined) continue;
    const [sec, nsec] = toTimespec(clock, raw);
    text += `${clock} ${sec} ${nsec}\n`;
  }
  if (text === "") throw invalid("options", "setTimeOffsets: give monotonic and/or boottime (seconds)");
  return text;
}

function nodeErrno(e: unknown): number {
  return Math.abs(Number((e as { errno?: number }).errno)) || 5;
}

/**
 * Set the clock offsets of the time namespace a helper (or any process that
 * unshared "time") made, before anything enters it. All clocks given are set
 * in one write, or none is.
 */
export function setTimeOffsets(target: Helper | number, offsets: TimeOffsets): void {
  const text = timeOffsetsText(offsets);
  const held = holdProcess(target, "setTimeOffsets");
  try {
    const path = `/proc/${held.pid}/timens_offsets`;
    let theirs: string | undefined;
    let ours: string | undefined;
    try {
      theirs = readlinkSync(`/proc/${held.pid}/ns/time_for_children`);
      ours = readlinkSync("/proc/self/ns/time");
    } catch {
      // Left to the open below, which names the cause.
    }
    if (theirs !== undefined && theirs === ours) {
      throw invalid(
        "options",
        `setTimeOffsets: process ${held.pid} has no time namespace of its own (its children's is ours, ${ours}): start it with "time" unshared`,
      );
    }
    let fd: number;
    try {
      fd = openSync(path, "r+");
    } catch (e) {
      const errno = nodeErrno(e);
      const why =
        errno === 2
          ? "no such file (a kernel without time namespaces, CONFIG_TIME_NS, Linux 5.6), or the process is gone"
          : errno === EACCES || errno === EPERM
            ? "permission denied (the process belongs to another uid or is not dumpable)"
            : errnoText(errno);
      throw syscallError("time_offsets", "openat", errno, `open ${path}: ${why}`);
    }
    try {
      // The file names the task it was opened on; a live pidfd now proves that is ours.
      if (-processCodec.pidfdSignal(held.pidfd, 0) === ESRCH) {
        throw syscallError("time_offsets", "pidfd_send_signal", ESRCH, `process ${held.pid} exited`);
      }
      try {
        writeSync(fd, text);
      } catch (e) {
        const errno = nodeErrno(e);
        const why =
          errno === EACCES
            ? "the offsets are frozen: a process has entered that time namespace already (they can be set only before the first one does)"
            : errno === EPERM
              ? "operation not permitted (no CAP_SYS_TIME over the user namespace that owns the time namespace)"
              : errno === ERANGE
                ? "an offset takes the clock below zero or past the kernel's limit (KTIME_SEC_MAX / 2 s)"
                : errnoText(errno);
        throw syscallError(
          "time_offsets",
          "write",
          errno,
          `write ${path} (${text.trim().replace(/\n/g, ", ")}): ${why}`,
        );
      }
    } finally {
      closeSync(fd);
    }
  } finally {
    held.done();
  }
}
