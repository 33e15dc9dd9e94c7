/**
 * Namespaces pinned to files, as `ip netns attach` and
 * `unshare --net=FILE` make them: a bind mount of /proc/PID/ns/<kind> onto a
 * file, which keeps the namespace alive after every process in it is gone.
 * All input is validated before anything is created; a failure part-way
 * undoes what this call did. The native side resolves each path once
 * (native/resolve.c: no symlink another uid owns is followed) and acts on
 * descriptors. A pin remembers the mount and file it made; its unpin
 * removes only those. Unpinning by path removes only a namespace bind mount,
 * and its file only if it is what a pin creates.
 */

import { readFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { CAP_SYS_ADMIN, hasCapability } from "../core/caps.ts";
import { EINVAL, EPERM, errnoText, invalid, syscallError, UsernsError } from "../core/errors.ts";
import { typeError, validateBoolean, validateObject, validatePath } from "../core/validate.ts";

const ELOOP = 40;

import type { Helper } from "../core/helper.ts";
import { checkNamespaceKind, kindFile, NAMESPACE_KINDS, type NamespaceKind } from "./kinds.ts";
import { holdProcess, type NamespaceFd, openFromProcess } from "./namespace-fd.ts";
import * as nsCodec from "./ns-codec.ts";

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** Which namespace goes to which file; "mount" and "network" are accepted for mnt and net. */
export type PinSpec = Partial<Record<NamespaceKind | "mount" | "network", string>>;

export interface Pins extends Disposable {
  /** The absolute path of each pin, by kind. */
  readonly paths: Readonly<Partial<Record<NamespaceKind, string>>>;
  /**
   * Unmount every pin of this call (only the very mounts it made) and unlink
   * the files it created (never a file that was there before). Idempotent; a
   * pin already removed is skipped; a pin that could not be removed (its path
   * now leads elsewhere) stays pending and the error is thrown: call again.
   */
  unpin(): void;
}

/** How pinNamespaces treats what is already there. */
export interface PinOptions {
  /**
   * Bind over an existing regular file of the caller's even if it has content
   * (hidden under the pin, kept on unpin). A file of another uid and anything
   * that is not a regular file are refused all the same. Default false.
   */
  overwrite?: boolean;
}

export interface PinPlan {
  readonly kind: NamespaceKind;
  readonly path: string;
  /** PATH did not exist: we create it, and unpin removes it. */
  readonly create: boolean;
  /** An existing file of the caller's may have content (PinOptions.overwrite). */
  readonly overwrite: boolean;
}

interface MadePin extends PinPlan {
  readonly made: nsCodec.PinMade;
}

/** The mount PATH's directory is on is shared (mountinfo optional field "shared:N"). */
function onSharedMount(mountId: number): boolean {
  let info: string;
  try {
    info = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return false;
  }
  const line = info.split("\n").find((l) => l.startsWith(`${mountId} `));
  if (line === undefined) return false;
  const optional = line.slice(0, line.indexOf(" - ")).split(" ").slice(6);
  return optional.some((f) => f.startsWith("shared:"));
}

/** One pin's target, checked: nothing is created here. */
function planPin(kind: NamespaceKind, given: unknown, overwrite: boolean): PinPlan {
  const raw = validatePath(given, `the ${kind} pin's path`, "pin");
  if (raw.length > 4000) throw invalid("pin", `the ${kind} pin's path is ${raw.length} characters long: at most 4000`);
  const path = resolve(raw);
  const name = basename(path);
  if (name === "" || path === "/") throw invalid("pin", `${JSON.stringify(raw)} names no file to pin ${kind} onto`);
  const dir = dirname(path);
  // "/." resolves a symlinked directory (/var/run) and stats what it names.
  const d = nsCodec.nsStat(`${dir === "/" ? "" : dir}/.`);
  if (typeof d === "number") {
    throw invalid(
      "pin",
      `cannot pin ${kind} to ${path}: its directory ${dir} ${d === -2 ? "does not exist" : errnoText(-d)}`,
    );
  }
  if (d.type !== S_IFDIR) throw invalid("pin", `cannot pin ${kind} to ${path}: ${dir} is not a directory`);
  const st = nsCodec.nsStat(path);
  let create = false;
  if (typeof st === "number") {
    if (st !== -2) throw invalid("pin", `cannot pin ${kind} to ${path}: ${errnoText(-st)}`);
    create = true;
  } else if (st.mountRoot) {
    throw invalid(
      "pin",
      `cannot pin ${kind} to ${path}: it is already a mountpoint (a pin already there? unpinNamespace or \`bun-userns unpin\` it first)`,
      { code: "EBUSY", errno: 16 },
    );
  } else if (st.type !== S_IFREG) {
    throw invalid("pin", `cannot pin ${kind} to ${path}: it exists and is not a regular file`, {
      code: "EEXIST",
      errno: 17,
    });
  } else if (st.uid !== (process.geteuid?.() ?? 0)) {
    throw invalid("pin", `cannot pin ${kind} to ${path}: ${WHY_TEXT.owner(st.uid)}`, { code: "EPERM", errno: EPERM });
  } else if (st.size !== 0 && !overwrite) {
    throw invalid("pin", `cannot pin ${kind} to ${path}: ${WHY_TEXT.not_empty}`, { code: "EEXIST", errno: 17 });
  }
  if (kind === "mnt" && onSharedMount(d.mountId)) {
    throw invalid("pin", `cannot pin a mount namespace to ${path}: ${dir} is on a shared mount`, {
      hint: `the kernel refuses a mount namespace bound onto a shared mount (it could propagate into itself); give it a private mount first: mount --bind ${dir} ${dir} && mount --make-private ${dir}`,
    });
  }
  return { kind, path, create, overwrite };
}

/** PinOptions read once into plain data. */
function checkPinOptions(options: unknown): boolean {
  if (options === undefined) return false;
  validateObject(options, "pinNamespaces options");
  const copy = { ...options };
  for (const key of Object.keys(copy))
    if (key !== "overwrite") throw new TypeError(`unknown pin option ${JSON.stringify(key)}; known: overwrite`);
  const o = copy.overwrite;
  if (o !== undefined) validateBoolean(o, "pin option overwrite");
  return o === true;
}

/** Validated plain data from hostile input: the spec and options are read once. */
export function planPins(spec: unknown, options?: unknown): PinPlan[] {
  const overwrite = checkPinOptions(options);
  if (typeof spec !== "object" || spec === null || Array.isArray(spec))
    throw typeError("pinNamespaces' spec", 'an object of namespace → path, e.g. { net: "/run/netns/sb1" }', spec);
  const entries = Object.entries({ ...(spec as Record<string, unknown>) });
  if (entries.length === 0) throw invalid("pin", "pinNamespaces: no namespace to pin");
  const byKind = new Map<NamespaceKind, unknown>();
  for (const [k, v] of entries) {
    const kind = checkNamespaceKind(k, "pinNamespaces", "pin");
    if (byKind.has(kind)) throw invalid("pin", `pinNamespaces: ${kind} is given twice (${k})`);
    byKind.set(kind, v);
  }
  const plans = NAMESPACE_KINDS.filter((k) => byKind.has(k)).map((k) => planPin(k, byKind.get(k), overwrite));
  const seen = new Set<string>();
  for (const p of plans) {
    if (seen.has(p.path)) throw invalid("pin", `pinNamespaces: ${p.path} is given for two namespaces`);
    seen.add(p.path);
  }
  if (!hasCapability(CAP_SYS_ADMIN)) {
    throw new UsernsError("pinning needs CAP_SYS_ADMIN over this mount namespace (a bind mount): run as root", {
      code: "EPERM",
      errno: EPERM,
      step: "pin",
    });
  }
  return plans;
}

/** Each refusal rule in words, for the messages. */
const WHY_TEXT = {
  owner: (uid: number) =>
    `it exists and belongs to uid ${uid}: a file of another uid is never bound over (remove it, or pin elsewhere)`,
  not_empty:
    "it exists and is not empty: a pin would hide its content (only an empty file of the caller's is bound over, unless { overwrite: true } / --force says so)",
} as const;

/** A walk refused at a component (native/resolve.c): the error names it and the rule. */
function walkFailure(step: "pin" | "unpin", what: string, f: nsCodec.PinFailure): UsernsError {
  const at = f.at || "?";
  if (f.why === "symlink") {
    return syscallError(
      step,
      "openat",
      f.errno,
      f.owner === 0
        ? `${what}: ${at} is root's symlink in a directory another uid can write (or below one): it is not followed, as that uid could have moved it there`
        : `${what}: ${at} is a symlink owned by uid ${f.owner}: only root's symlinks are followed on the way to a pin (another uid could swap it between check and use)`,
      "name the real directory (readlink -f), or have root own the link",
    );
  }
  return syscallError(step, "openat", f.errno, `${what}: ${at}: ${errnoText(f.errno)}`);
}

function mountFailure(p: PinPlan, r: nsCodec.PinFailure, pid: number): UsernsError {
  const src = `/proc/${pid}/ns/${kindFile(p.kind)}`;
  const what = `cannot pin ${p.kind} to ${p.path}`;
  if (r.step === "resolve") return walkFailure("pin", what, r);
  if (r.step === "open" && r.errno === 17) {
    return syscallError("pin", "openat", 17, `${what}: it appeared while pinning (file exists)`);
  }
  if (r.step === "check") {
    const text =
      r.why === "owner"
        ? WHY_TEXT.owner(r.owner ?? -1)
        : r.why === "not_empty"
          ? WHY_TEXT.not_empty
          : "it became a mountpoint or a non-file while pinning";
    return syscallError("pin", "statx", r.errno, `${what}: ${text}`);
  }
  let hint: string | undefined;
  if ((r.errno === EINVAL || r.errno === ELOOP) && p.kind === "mnt") {
    hint =
      "a mount namespace can only be bound from an older mount namespace (never inside itself or one of its descendants) and not onto a shared mount";
  } else if (r.errno === EPERM || r.errno === 13) {
    hint = "the bind mount needs CAP_SYS_ADMIN over this mount namespace's user namespace";
  }
  return syscallError(
    "pin",
    r.step === "open" ? "openat" : "move_mount",
    r.errno,
    `mount ${src} on ${p.path}: ${errnoText(r.errno)}`,
    hint,
  );
}

function undo(pins: readonly MadePin[]): void {
  for (const p of pins) nsCodec.nsUnpin(p.path, p.made, p.create);
}

/**
 * Pin namespaces of a helper or any pid to files (pid → pid_for_children,
 * time → time_for_children). A missing file is created (mode 0444) in a
 * directory that must exist; an existing empty regular file of the caller's
 * is bound over (one with content only with { overwrite: true }; another
 * uid's never); a path that is already a mountpoint is refused. The pins
 * outlive the process and the helper's reap. Needs CAP_SYS_ADMIN (root) in
 * the caller's namespaces.
 */
export function pinNamespaces(target: Helper | number, spec: PinSpec, options?: PinOptions): Pins {
  const plans = planPins(spec, options);
  const held = holdProcess(target, "pinNamespaces");
  const fds: NamespaceFd[] = [];
  try {
    for (const p of plans) fds.push(openFromProcess(held, p.kind));
    return pinOpened(plans, fds, held.pid);
  } finally {
    for (const fd of fds) fd.close();
    held.done();
  }
}

/**
 * Pin the pid namespace PID is in (its "pid" link, not pid_for_children):
 * how `exec -p --pid=FILE` pins the namespace whose pid 1 is the command.
 */
export function pinPidNamespaceOf(pid: number, path: string): Pins {
  const plans = planPins({ pid: path });
  const held = holdProcess(pid, "pinPidNamespaceOf");
  const fds: NamespaceFd[] = [];
  try {
    fds.push(openFromProcess(held, "pid", "pid"));
    return pinOpened(plans, fds, pid);
  } finally {
    for (const fd of fds) fd.close();
    held.done();
  }
}

function pinOpened(plans: readonly PinPlan[], fds: readonly NamespaceFd[], pid: number): Pins {
  const done: MadePin[] = [];
  plans.forEach((p, i) => {
    const r = nsCodec.nsPin((fds[i] as NamespaceFd).fd, p.path, p.create, p.overwrite);
    if (!("made" in r)) {
      undo(done);
      throw mountFailure(p, r, pid);
    }
    done.push({ ...p, made: r.made });
  });
  return new PinSet(done);
}

class PinSet implements Pins {
  readonly paths: Readonly<Partial<Record<NamespaceKind, string>>>;
  #left: MadePin[];

  constructor(pins: MadePin[]) {
    this.#left = pins;
    this.paths = Object.freeze(Object.fromEntries(pins.map((p) => [p.kind, p.path])));
  }

  unpin(): void {
    const left = this.#left;
    const failed: MadePin[] = [];
    let first: UsernsError | undefined;
    for (const p of left) {
      try {
        removePin(p.path, p.made, p.create);
      } catch (e) {
        // Already removed (unpinNamespace, `ip netns delete`): the goal is met.
        if ((e as UsernsError).errno === 2 && (e as UsernsError).syscall === "openat") continue;
        failed.push(p);
        first ??= e as UsernsError;
      }
    }
    this.#left = failed;
    if (first) throw first;
  }

  [Symbol.dispose](): void {
    this.unpin();
  }
}

/** What an unpin did. */
export interface Unpinned {
  /** The file was unlinked (false: it stays, as it is not one a pin made). */
  removed: boolean;
}

function removePin(path: string, made: nsCodec.PinMade | undefined, unlink: boolean): Unpinned {
  const r = nsCodec.nsUnpin(path, made, unlink);
  if (!("errno" in r)) return { removed: r.unlinked };
  const what = `unpin ${path}`;
  if (r.step === "resolve") throw walkFailure("unpin", what, r);
  if (r.step === "open") {
    throw syscallError("unpin", "openat", r.errno, `${what}: ${r.errno === 2 ? "no such file" : errnoText(r.errno)}`);
  }
  if (r.step === "check") {
    throw syscallError(
      "unpin",
      "fstatfs",
      r.errno,
      r.why === "other_pin"
        ? `${what}: the pin there is not the one this call made (another mount id or namespace); nothing was unmounted or removed`
        : `${what}: not a namespace pin (no namespace is bind-mounted there); nothing was unmounted or removed`,
    );
  }
  if (r.step === "umount") throw syscallError("unpin", "umount2", r.errno, `umount ${path}: ${errnoText(r.errno)}`);
  throw syscallError(
    "unpin",
    "unlinkat",
    r.errno,
    `${what}: unmounted, but the file stays: ${r.errno === 16 ? "another pin is mounted below it" : errnoText(r.errno)}`,
  );
}

/**
 * Remove a pin made by pinNamespaces, `ip netns attach`/`add` or `unshare
 * --net=FILE`: umount2(MNT_DETACH), as `ip netns delete` does, and unlink
 * the file if it is what a pin creates (an empty regular file with one link,
 * no write permission, owned by the caller); any other file stays. Anything
 * that is not a namespace bind mount is refused untouched.
 */
export function unpinNamespace(path: string): Unpinned {
  validatePath(path, "unpinNamespace's path", "unpin");
  return removePin(resolve(path), undefined, true);
}
