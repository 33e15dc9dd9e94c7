/**
 * What is asked of the namespace table (src/core/names.ts, import-free so
 * the package's entry can export it): a kind's flag, its /proc/PID/ns file,
 * the kind a name or an NS_GET_NSTYPE answer names, untrusted kinds checked.
 */

import { invalid, type Step } from "../core/errors.ts";
import { kindOfName, NAMESPACE_KINDS, NAMESPACE_TABLE, type NamespaceKind } from "../core/names.ts";
import { typeError } from "../core/validate.ts";

export {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWTIME,
  CLONE_NEWUSER,
  CLONE_NEWUTS,
  cloneName,
  kindOfName,
  NAMESPACE_KINDS,
  NAMESPACE_TABLE,
  type NamespaceKind,
} from "../core/names.ts";

type Row = (typeof NAMESPACE_TABLE)[number];

const ROW = new Map<string, Row>(NAMESPACE_TABLE.map((r) => [r.kind, r]));

export function kindFlag(kind: NamespaceKind): number {
  return (ROW.get(kind) as Row).flag;
}

/** The kind NS_GET_NSTYPE's answer names, if any. */
export function kindOfType(type: number): NamespaceKind | undefined {
  return NAMESPACE_TABLE.find((r) => r.flag === type)?.kind;
}

/** /proc/PID/ns/<file> to take a kind from (see NAMESPACE_TABLE). */
export function kindFile(kind: NamespaceKind): string {
  return (ROW.get(kind) as Row).file;
}

/**
 * A kind from untrusted input ("mount" and "network" as util-linux spells
 * them): TypeError for a non-string, EINVAL naming an unknown one.
 */
export function checkNamespaceKind(raw: unknown, where: string, step: Step = "flags"): NamespaceKind {
  if (typeof raw !== "string") throw typeError(`a namespace in ${where}`, "a namespace name", raw);
  const kind = kindOfName(raw);
  if (kind === undefined) {
    throw invalid(
      step,
      `unknown namespace ${JSON.stringify(raw.slice(0, 64))} in ${where}: expected one of ${NAMESPACE_KINDS.join(", ")}`,
    );
  }
  return kind;
}
