/** Which namespaces spawnInside enters, from the pid or from files. */
import { readlinkSync } from "node:fs";
import { errnoName, invalid } from "../core/errors.ts";
import { validateArray, validateObject, validatePath } from "../core/validate.ts";
import { checkNamespaceKind, kindFile, kindFlag, NAMESPACE_KINDS, type NamespaceKind } from "../ns/kinds.ts";

/** The same as NamespaceKind (kept as a name of the public API). */
export type ExecNamespace = NamespaceKind;

const ORDER = NAMESPACE_KINDS;
/** What `namespaces` defaults to, and `enter --all` means: pid and time need a fork or a single thread. */
export const DEFAULT_NAMESPACES: readonly ExecNamespace[] = ["user", "mnt", "net", "ipc", "uts", "cgroup"];

export const namespaceFlag = kindFlag;

/** "mount" and "network" are accepted as util-linux spells them. */
export function checkNamespaceName(raw: unknown, where: string): ExecNamespace {
  return checkNamespaceKind(raw, where, "options");
}

/**
 * A process's namespace links that cannot change: a parked helper's (it runs
 * no code that could setns), and our own user namespace (setns into a user
 * namespace needs a single-threaded process, and Bun never is one).
 */
export type LinkCache = Map<string, string>;
let ownUser: string | undefined;

/** Our own link (the user namespace's read once, see LinkCache). */
function ours(name: ExecNamespace): string | number {
  if (name !== "user") return link("self", name);
  if (ownUser !== undefined) return ownUser;
  const l = link("self", name);
  if (typeof l === "string") ownUser = l;
  return l;
}

/** The namespace link's text, or the errno that refused it. */
function link(pid: number | "self", file: string): string | number {
  try {
    return readlinkSync(`/proc/${pid}/ns/${file}`);
  } catch (e) {
    return -(Number((e as { errno?: number }).errno) || -2); // Node's errno is negative
  }
}

export interface ResolvedNamespaces {
  /** setns(pidfd, fromPid). */
  fromPid: number;
  /**
   * Enter the pid's time_for_children from /proc (the one a helper made:
   * setns(pidfd, CLONE_NEWTIME) would take its active one, which unshare
   * never changes).
   */
  timeFromPid: boolean;
  files: [ExecNamespace, string][];
  entered: Set<ExecNamespace>;
}

/**
 * Explicit names are entered as given; the default enters those that differ
 * from ours. Our own user namespace is never entered again (setns refuses it).
 */
export function resolveNamespaces(
  pid: number,
  names: unknown,
  files: unknown,
  theirCache?: LinkCache,
): ResolvedNamespaces {
  const wanted = new Set<ExecNamespace>();
  const explicit = names !== undefined;
  if (explicit) {
    validateArray(names, "namespaces");
    for (const n of [...names]) wanted.add(checkNamespaceName(n, "namespaces"));
  }
  const fileList: [ExecNamespace, string][] = [];
  if (files !== undefined) {
    validateObject(files, "namespaceFiles");
    for (const [k, v] of Object.entries({ ...files })) {
      const name = checkNamespaceName(k, "namespaceFiles");
      fileList.push([name, validatePath(v, `namespaceFiles.${k}`)]);
    }
  }
  const fromFile = new Set(fileList.map(([n]) => n));
  let fromPid = 0;
  let timeFromPid = false;
  const entered = new Set<ExecNamespace>(fromFile);
  for (const name of explicit ? ORDER.filter((n) => wanted.has(n)) : fromFile.size > 0 ? [] : DEFAULT_NAMESPACES) {
    if (fromFile.has(name)) continue;
    const file = name === "time" ? kindFile(name) : name;
    const theirs = theirCache?.get(file) ?? link(pid, file);
    if (theirCache !== undefined && typeof theirs === "string") theirCache.set(file, theirs);
    if (typeof theirs === "number") {
      const why =
        theirs === 13 || theirs === 1
          ? "permission denied (ptrace access mode: the process belongs to another uid, is not dumpable, or a security module refuses)"
          : "no such process or namespace";
      throw invalid("namespace", `cannot read /proc/${pid}/ns/${file}: ${why}`, {
        code: theirs === 13 || theirs === 1 ? errnoName(theirs) : "ESRCH",
        errno: theirs === 13 || theirs === 1 ? theirs : 3,
        syscall: "readlink",
      });
    }
    // Only then is ours needed (each /proc link read is a path walk).
    if ((name === "user" || !explicit) && theirs === ours(name)) continue;
    if (name === "time") timeFromPid = true;
    else fromPid |= namespaceFlag(name);
    entered.add(name);
  }
  // A user namespace file goes first (native/exec.c); the rest in ORDER.
  fileList.sort((a, b) => ORDER.indexOf(a[0]) - ORDER.indexOf(b[0]));
  return { fromPid: fromPid >>> 0, timeFromPid, files: fileList, entered };
}
