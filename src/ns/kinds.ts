/**
 * The namespace kinds of /proc/PID/ns: their names (as util-linux and the
 * kernel spell them), CLONE_NEW* values (what NS_GET_NSTYPE answers) and the
 * file each is taken from.
 */

import { invalid, type Step } from "../core/errors.ts";
import { CLONE_NEWUSER, NAMESPACE_FLAGS, type NamespaceName } from "../core/flags.ts";
import { typeError } from "../core/validate.ts";

export type NamespaceKind = NamespaceName | "user";

/** The order namespaces are entered in: user first (it grants the rest). */
export const NAMESPACE_KINDS: readonly NamespaceKind[] = Object.freeze([
  "user",
  "mnt",
  "net",
  "ipc",
  "uts",
  "pid",
  "cgroup",
  "time",
]);

export function kindFlag(kind: NamespaceKind): number {
  return kind === "user" ? CLONE_NEWUSER : NAMESPACE_FLAGS[kind];
}

/** The kind NS_GET_NSTYPE's answer names, if any. */
export function kindOfType(type: number): NamespaceKind | undefined {
  return NAMESPACE_KINDS.find((k) => kindFlag(k) === type);
}

/**
 * /proc/PID/ns/<file> to take a kind from. pid and time name the namespace
 * the process's *children* get: unshare(2) never moves the caller into a new
 * pid or time namespace, so pid_for_children and time_for_children are the
 * ones a helper made (and equal pid and time for any process that did not
 * unshare them itself).
 */
export function kindFile(kind: NamespaceKind): string {
  return kind === "pid" ? "pid_for_children" : kind === "time" ? "time_for_children" : kind;
}

/**
 * A kind from untrusted input ("mount" and "network" as util-linux spells
 * them): TypeError for a non-string, EINVAL naming an unknown one.
 */
export function checkNamespaceKind(raw: unknown, where: string, step: Step = "flags"): NamespaceKind {
  if (typeof raw !== "string") throw typeError(`a namespace in ${where}`, "a namespace name", raw);
  const name = raw === "mount" ? "mnt" : raw === "network" ? "net" : raw;
  if (!(NAMESPACE_KINDS as readonly string[]).includes(name)) {
    throw invalid(
      step,
      `unknown namespace ${JSON.stringify(raw.slice(0, 64))} in ${where}: expected one of ${NAMESPACE_KINDS.join(", ")}`,
    );
  }
  return name as NamespaceKind;
}
