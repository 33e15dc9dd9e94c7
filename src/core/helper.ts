/**
 * The parked helper as a disposable handle: spawn, liveness, kill, reap.
 * Disposing always kills, reaps and closes the pidfd, on every path. Only
 * `spawnHelper` (given validated plain data) creates one.
 */

import { CAP_SETGID, CAP_SETUID, CAP_SYS_PTRACE, effectiveCaps } from "./caps.ts";
import { EBADF, ESRCH, errnoText, syscallError, type UsernsError } from "./errors.ts";
import * as helperCodec from "./helper-codec.ts";
import { type IDMap, mapText } from "./idmap.ts";
import { nprocShortfall } from "./nproc.ts";
import { sweepIfDue } from "./orphans.ts";
import { assertOwnProc } from "./own-proc.ts";
import * as registryCodec from "./registry-codec.ts";
import { startHint } from "./start-hints.ts";

/** Validated, plain, frozen data: what the native call is built from. */
export interface HelperSpec {
  readonly uid: readonly IDMap[];
  readonly gid: readonly IDMap[];
  readonly flags: number;
  readonly setgroups?: "allow" | "deny";
  readonly owner?: "mapping" | "caller";
  readonly propagation?: "private" | "slave" | "shared" | "unchanged";
}

/**
 * Who writes a waiting helper's maps, given this thread's capabilities: a
 * MapWriter (another program, e.g. newuidmap), or undefined for the caller
 * itself. Decided by the caller of spawnHelper (src/rootless/ for the public
 * calls); may throw a start failure, before anything is created.
 */
export type MapWriterChoice = (caps: number) => helperCodec.MapWriter | undefined;

/** This thread's helpers, held weakly so a dropped handle can be collected. */
const live = new Map<number, WeakRef<Helper>>();

/**
 * Safety net for a helper nothing can reach any more: a startHelper handle
 * dropped without release()/using, or a callback suspended on a promise that
 * nothing can settle. When the handle is garbage-collected, kill and reap the
 * helper, close the pidfd, and say so. Finalizers run on this thread, the tracer.
 */
const leaked = new FinalizationRegistry<{ pid: number; rec: number; slot: helperCodec.Slot }>((h) => {
  live.delete(h.pid);
  registryCodec.recRelease(h.rec);
  helperCodec.releaseSlot(h.slot);
  process.emitWarning(
    `bun-userns: helper ${h.pid} was garbage-collected without release() (a dropped startHelper handle, or a callback awaiting a promise nothing can settle); killed and reaped it`,
    { code: "BUN_USERNS_LEAKED_HELPER" },
  );
});

/** How many helpers this thread holds right now. */
export function liveHelperCount(): number {
  return live.size;
}

/** Pids of the helpers this thread holds right now. */
export function liveHelpers(): number[] {
  return [...live.keys()];
}

/** A Helper handle made by spawnHelper: a brand check, so no look-alike object passes. */
export function isHelper(v: unknown): v is Helper {
  return Helper.is(v);
}

/** Only spawnHelper may construct a Helper. */
const TOKEN = Symbol("bun-userns helper");

export class Helper implements Disposable {
  readonly pid: number;
  #pidfd: number;
  /** Its record in this thread's registry (native/registry.c). */
  #rec: number;
  #slot: helperCodec.Slot | undefined;

  constructor(token: symbol, pid: number, pidfd: number, slot: helperCodec.Slot, rec: number) {
    if (token !== TOKEN) throw new TypeError("Helper is not constructible; use startHelper()");
    this.pid = pid;
    this.#pidfd = pidfd;
    this.#rec = rec;
    this.#slot = slot;
  }

  /** True only for an object this class constructed (its private field is there). */
  static is(v: unknown): v is Helper {
    return typeof v === "object" && v !== null && #pidfd in v;
  }

  /** The helper's pidfd while it lives (the call owns it: never close it), else -1. */
  get pidfd(): number {
    return this.#pidfd;
  }

  /** The seed's liveness check, plus "has not died or been killed since". */
  checkAlive(): void {
    if (this.#slot === undefined) throw livenessError(ESRCH);
    const rc = registryCodec.recAlive(this.#rec);
    if (rc === -EBADF) throw pidfdReplaced(this.pid, this.#pidfd);
    if (rc < 0) throw livenessError(-rc);
  }

  /**
   * Kill, reap, close. Returns the kill error the seed reports (anything but
   * ESRCH), or undefined. Idempotent.
   */
  release(): UsernsError | undefined {
    const slot = this.#slot;
    if (slot === undefined) return undefined;
    this.#slot = undefined;
    live.delete(this.pid);
    leaked.unregister(this);
    // Through the pidfd while it still names the helper; else by its pid (our unreaped child).
    const rc = registryCodec.recRelease(this.#rec);
    this.#pidfd = -1;
    helperCodec.releaseSlot(slot);
    if (rc < 0 && -rc !== ESRCH) return syscallError("kill", "pidfd_send_signal", -rc, errnoText(-rc));
    return undefined;
  }

  [Symbol.dispose](): void {
    const err = this.release();
    if (err) throw err;
  }
}

/** Start a helper parked in a new user namespace, or throw a start failure. */
export function spawnHelper(spec: HelperSpec, writerFor: MapWriterChoice = () => undefined): Helper {
  assertOwnProc();
  sweepIfDue();
  const caps = effectiveCaps();
  const crowded = nprocShortfall(caps, live.size, "helper");
  if (crowded) throw crowded;
  // Chosen (and checked) before anything is created.
  const writer = writerFor(caps);
  const setgroups = spec.setgroups ?? (writer ? "auto" : (caps & CAP_SETGID) !== 0 ? "auto" : "deny");
  const first = spec.uid[0];
  const owner = spec.owner ?? "mapping";
  // newuidmap writes as the caller's uid, which must own the namespace.
  // With no uid map ("none") the caller owns it too.
  const ownerUid = owner === "mapping" && !writer && first && (caps & CAP_SETUID) !== 0 ? first.hostID : -1;
  // A caller with CAP_SYS_PTRACE keeps every access to a sealed mm, so its
  // helpers share Bun's memory under a seal; any other caller's helper
  // leaves that memory by exec'ing the park program (native/park.c).
  const park = (caps & CAP_SYS_PTRACE) !== 0 ? "seal" : "exec";
  const r = helperCodec.spawn(
    {
      flags: spec.flags,
      ownerUid,
      setgroups,
      uidText: mapText(spec.uid),
      gidText: mapText(spec.gid),
      park,
      propagation: spec.propagation ?? "private",
    },
    writer,
  );
  if (!r.ok) throw "mapper" in r ? r.mapper.error : startError(r.step, r.errno, setgroups, spec);
  const h = new Helper(TOKEN, r.pid, r.pidfd, r.slot, r.rec);
  live.set(h.pid, new WeakRef(h));
  leaked.register(h, { pid: r.pid, rec: r.rec, slot: r.slot }, h);
  return h;
}

function pidfdReplaced(pid: number, pidfd: number): UsernsError {
  return syscallError(
    "liveness",
    "statx",
    EBADF,
    `the helper's pidfd ${pidfd} no longer refers to helper ${pid}: something else closed that descriptor (and the number may now name another file)`,
    "never close the pidfd a Helper or a callback context hands out; release() still kills and reaps the helper by its pid",
  );
}

function livenessError(errno: number): UsernsError {
  return syscallError(
    "liveness",
    "pidfd_send_signal",
    errno,
    `failed to ensure child process is alive: ${errnoText(errno)}`,
    "the helper died or was killed while the callback ran; anything opened from /proc/PID may refer to a dead namespace",
  );
}

function startError(step: helperCodec.NativeStep, errno: number, setgroups: string, spec: HelperSpec): UsernsError {
  const syscall = helperCodec.stepSyscall(step);
  // The map files are written with write(2); the message names the file, as before.
  const what = step === "uid_map" || step === "gid_map" || step === "setgroups" ? `write ${step}` : syscall;
  return syscallError(
    step === "none" ? "clone" : step,
    syscall,
    errno,
    `failed to start noop process for unshare: ${what}: ${errnoText(errno)}`,
    startHint(step, errno, setgroups, mapText(step === "gid_map" ? spec.gid : spec.uid)),
  );
}
