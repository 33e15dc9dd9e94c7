/**
 * issue 11: namespaces pinned to files, as `ip netns attach` and
 * `unshare --net=FILE` make them: a bind mount of /proc/PID/ns/<kind> onto a
 * file, which keeps the namespace alive after every process in it is gone.
 * All input is validated before anything is created; a failure part-way
 * undoes what this call did. Unpinning is umount + unlink of that file, and
 * only ever of a namespace bind mount.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { EINVAL, EPERM, errnoText, invalid, syscallError, UsernsError } from "../core/errors.ts";
import type { Helper } from "../core/helper.ts";
import * as native from "../core/native.ts";
import { checkNamespaceKind, kindFile, NAMESPACE_KINDS, type NamespaceKind } from "./kinds.ts";
import { holdProcess, type NamespaceFd, openFromProcess } from "./namespace-fd.ts";

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const CAP_SYS_ADMIN = 1 << 21;

/** Which namespace goes to which file; "mount" and "network" are accepted for mnt and net. */
export type PinSpec = Partial<Record<NamespaceKind | "mount" | "network", string>>;

export interface Pins extends Disposable {
  /** The absolute path of each pin, by kind. */
  readonly paths: Readonly<Partial<Record<NamespaceKind, string>>>;
  /** Unmount every pin of this call and unlink the files it created (not files that were there before). Idempotent; a pin already removed is skipped. */
  unpin(): void;
}

export interface PinPlan {
  readonly kind: NamespaceKind;
  readonly path: string;
  /** PATH did not exist: we create it, and unpin removes it. */
  readonly create: boolean;
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
function planPin(kind: NamespaceKind, raw: unknown): PinPlan {
  if (typeof raw !== "string" || raw === "" || raw.includes("\0") || raw.length > 4000) {
    throw invalid("pin", `the ${kind} pin needs a path, got ${JSON.stringify(raw) ?? typeof raw}`);
  }
  const path = resolve(raw);
  const name = basename(path);
  if (name === "" || path === "/") throw invalid("pin", `${JSON.stringify(raw)} names no file to pin ${kind} onto`);
  const dir = dirname(path);
  // "/." resolves a symlinked directory (/var/run) and stats what it names.
  const d = native.nsStat(`${dir === "/" ? "" : dir}/.`);
  if (typeof d === "number") {
    throw invalid(
      "pin",
      `cannot pin ${kind} to ${path}: its directory ${dir} ${d === -2 ? "does not exist" : errnoText(-d)}`,
    );
  }
  if (d.type !== S_IFDIR) throw invalid("pin", `cannot pin ${kind} to ${path}: ${dir} is not a directory`);
  const st = native.nsStat(path);
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
  }
  if (kind === "mnt" && onSharedMount(d.mountId)) {
    throw invalid("pin", `cannot pin a mount namespace to ${path}: ${dir} is on a shared mount`, {
      hint: `the kernel refuses a mount namespace bound onto a shared mount (it could propagate into itself); give it a private mount first: mount --bind ${dir} ${dir} && mount --make-private ${dir}`,
    });
  }
  return { kind, path, create };
}

/** Validated plain data from hostile input: the spec is read once. */
export function planPins(spec: unknown): PinPlan[] {
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
    throw invalid("pin", 'pinNamespaces takes an object of namespace → path, e.g. { net: "/run/netns/sb1" }');
  }
  const entries = Object.entries({ ...(spec as Record<string, unknown>) });
  if (entries.length === 0) throw invalid("pin", "pinNamespaces: no namespace to pin");
  const byKind = new Map<NamespaceKind, unknown>();
  for (const [k, v] of entries) {
    const kind = checkNamespaceKind(k, "pinNamespaces", "pin");
    if (byKind.has(kind)) throw invalid("pin", `pinNamespaces: ${kind} is given twice (${k})`);
    byKind.set(kind, v);
  }
  const plans = NAMESPACE_KINDS.filter((k) => byKind.has(k)).map((k) => planPin(k, byKind.get(k)));
  const seen = new Set<string>();
  for (const p of plans) {
    if (seen.has(p.path)) throw invalid("pin", `pinNamespaces: ${p.path} is given for two namespaces`);
    seen.add(p.path);
  }
  if ((native.capEffective() & CAP_SYS_ADMIN) === 0) {
    throw new UsernsError("pinning needs CAP_SYS_ADMIN over this mount namespace (a bind mount): run as root", {
      code: "EPERM",
      errno: EPERM,
      step: "pin",
    });
  }
  return plans;
}

function mountFailure(p: PinPlan, r: { errno: number; step: string }, pid: number): UsernsError {
  const src = `/proc/${pid}/ns/${kindFile(p.kind)}`;
  if (r.step === "open" && r.errno === 17) {
    return syscallError(
      "pin",
      "open",
      17,
      `cannot pin ${p.kind} to ${p.path}: it appeared while pinning (file exists)`,
    );
  }
  if (r.step === "check") {
    return syscallError(
      "pin",
      "statx",
      r.errno,
      `cannot pin ${p.kind} to ${p.path}: it became a mountpoint or a non-file while pinning`,
    );
  }
  let hint: string | undefined;
  if (r.errno === EINVAL && p.kind === "mnt") {
    hint =
      "a mount namespace can only be bound from an older mount namespace (never inside itself or one of its descendants) and not onto a shared mount";
  } else if (r.errno === EPERM || r.errno === 13) {
    hint = "the bind mount needs CAP_SYS_ADMIN over this mount namespace's user namespace";
  }
  return syscallError(
    "pin",
    r.step === "open" ? "open" : "mount",
    r.errno,
    `mount ${src} on ${p.path}: ${errnoText(r.errno)}`,
    hint,
  );
}

function undo(plans: readonly PinPlan[]): void {
  for (const p of plans) native.nsUnpin(p.path, p.create);
}

/**
 * Pin namespaces of a helper or any pid to files (pid → pid_for_children,
 * time → time_for_children). A missing file is created (mode 0444) in a
 * directory that must exist; an existing regular file is bound over; a path
 * that is already a mountpoint is refused. The pins outlive the process and
 * the helper's reap. Needs CAP_SYS_ADMIN (root) in the caller's namespaces.
 */
export function pinNamespaces(target: Helper | number, spec: PinSpec): Pins {
  const plans = planPins(spec);
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
  const done: PinPlan[] = [];
  plans.forEach((p, i) => {
    const r = native.nsPin((fds[i] as NamespaceFd).fd, p.path, p.create);
    if (r !== 0) {
      undo(done);
      throw mountFailure(p, r, pid);
    }
    done.push(p);
  });
  return new PinSet(done);
}

class PinSet implements Pins {
  readonly paths: Readonly<Partial<Record<NamespaceKind, string>>>;
  #left: PinPlan[];

  constructor(plans: PinPlan[]) {
    this.#left = plans;
    this.paths = Object.freeze(Object.fromEntries(plans.map((p) => [p.kind, p.path])));
  }

  unpin(): void {
    const left = this.#left;
    this.#left = [];
    let first: UsernsError | undefined;
    for (const p of left) {
      try {
        removePin(p.path, p.create);
      } catch (e) {
        // Already removed (unpinNamespace, `ip netns delete`): the goal is met.
        if ((e as UsernsError).errno === 2 && (e as UsernsError).syscall === "open") continue;
        first ??= e as UsernsError;
      }
    }
    if (first) throw first;
  }

  [Symbol.dispose](): void {
    this.unpin();
  }
}

function removePin(path: string, unlink: boolean): void {
  const r = native.nsUnpin(path, unlink);
  if (r === 0) return;
  if (r.step === "open") {
    throw syscallError(
      "unpin",
      "open",
      r.errno,
      `unpin ${path}: ${r.errno === 2 ? "no such file" : errnoText(r.errno)}`,
    );
  }
  if (r.step === "check") {
    throw syscallError(
      "unpin",
      "fstatfs",
      r.errno,
      `unpin ${path}: not a namespace pin (no namespace is bind-mounted there); nothing was unmounted or removed`,
    );
  }
  if (r.step === "umount") throw syscallError("unpin", "umount2", r.errno, `umount ${path}: ${errnoText(r.errno)}`);
  throw syscallError(
    "unpin",
    "unlink",
    r.errno,
    `unpin ${path}: unmounted, but the file stays: ${r.errno === 16 ? "another pin is mounted below it" : errnoText(r.errno)}`,
  );
}

/**
 * Remove a pin made by pinNamespaces, `ip netns attach`/`add` or `unshare
 * --net=FILE`: umount2(MNT_DETACH) and unlink the file, as `ip netns delete`
 * does. Anything that is not a namespace bind mount is refused untouched.
 */
export function unpinNamespace(path: string): void {
  if (typeof path !== "string" || path === "" || path.includes("\0")) {
    throw invalid("unpin", `unpinNamespace takes a path, got ${JSON.stringify(path) ?? typeof path}`);
  }
  removePin(resolve(path), true);
}
