/**
 * The one table of namespace kinds. Each row: the kind's name (as
 * /proc/PID/ns and util-linux's --unshare lists spell it), its CLONE_NEW*
 * value (what NS_GET_NSTYPE answers), the /proc/PID/ns file it is taken
 * from, its CLONE_ name, and util-linux's long and short option spellings.
 * Every other list of namespaces (the flags, the CLI's options, the order
 * they are entered in) is read from here; src/ns/kinds.ts holds what is
 * asked of it. No imports: the package's entry exports these constants
 * without loading anything else (docs/performance.md).
 */

export const CLONE_NEWTIME = 0x00000080;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

/**
 * In the order namespaces are entered: user first (it grants the rest).
 * `file`: pid and time name the namespace the process's *children* get:
 * unshare(2) never moves the caller into a new pid or time namespace, so
 * pid_for_children and time_for_children are the ones a helper made (and
 * equal pid and time for any process that did not unshare them itself).
 */
export const NAMESPACE_TABLE = [
  { kind: "user", flag: CLONE_NEWUSER, file: "user", clone: "CLONE_NEWUSER", long: "user", short: "U" },
  { kind: "mnt", flag: CLONE_NEWNS, file: "mnt", clone: "CLONE_NEWNS", long: "mount", short: "m" },
  { kind: "net", flag: CLONE_NEWNET, file: "net", clone: "CLONE_NEWNET", long: "net", short: "n" },
  { kind: "ipc", flag: CLONE_NEWIPC, file: "ipc", clone: "CLONE_NEWIPC", long: "ipc", short: "i" },
  { kind: "uts", flag: CLONE_NEWUTS, file: "uts", clone: "CLONE_NEWUTS", long: "uts", short: "u" },
  { kind: "pid", flag: CLONE_NEWPID, file: "pid_for_children", clone: "CLONE_NEWPID", long: "pid", short: "p" },
  { kind: "cgroup", flag: CLONE_NEWCGROUP, file: "cgroup", clone: "CLONE_NEWCGROUP", long: "cgroup", short: "C" },
  { kind: "time", flag: CLONE_NEWTIME, file: "time_for_children", clone: "CLONE_NEWTIME", long: "time", short: "T" },
] as const;

type Row = (typeof NAMESPACE_TABLE)[number];
/** A namespace kind: "user", "mnt", "net", "ipc", "uts", "pid", "cgroup" or "time". */
export type NamespaceKind = Row["kind"];

/** Every kind, in the order they are entered. */
export const NAMESPACE_KINDS: readonly NamespaceKind[] = Object.freeze(NAMESPACE_TABLE.map((r) => r.kind));

/** A namespace kind the helper unshares: a NamespaceKind other than "user" (the helper's own, always new). */
export type NamespaceName = Exclude<NamespaceKind, "user">;

/** Short names, as util-linux `unshare(1)` and `/proc/PID/ns/*` spell them, and their flags. */
export const NAMESPACE_FLAGS = Object.freeze(
  Object.fromEntries(NAMESPACE_TABLE.filter((r) => r.kind !== "user").map((r) => [r.kind, r.flag])),
) as Readonly<Record<NamespaceName, number>>;

/** The kind a name or util-linux spelling names ("mount", "network" too), or undefined. */
export function kindOfName(name: string): NamespaceKind | undefined {
  if (name === "network") return "net";
  return NAMESPACE_TABLE.find((r) => r.kind === name || r.long === name)?.kind;
}

/** The CLONE_ name of a single CLONE_NEW* bit, if it is one. */
export function cloneName(bit: number): string | undefined {
  return NAMESPACE_TABLE.find((r) => r.flag === bit)?.clone;
}
