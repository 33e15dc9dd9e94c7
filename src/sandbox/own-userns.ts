/**
 * Whether the sandbox's monitor makes its user namespace itself, its maps
 * written by the entering child (native/sandbox.c, SO_OWN_USERNS), instead
 * of a helper making it: a helper is a process more per sandbox, started
 * and ended in Bun. Only where the two give the same namespace: maps the
 * caller writes directly (no newuidmap), owned by the caller (root, whose
 * first mapping's host id is its own, so a helper would not switch owner;
 * or a caller mapping only its own uid and gid), and never a caller with
 * CAP_SYS_PTRACE that is not root: its Bun is sealed, and the monitor would
 * be open to its uid while the maps are written.
 */
import { CAP_SETGID, CAP_SETUID, CAP_SYS_PTRACE, effectiveCaps } from "../core/caps.ts";
import { CONSTS } from "../core/contract.ts";
import { type IDMap, mapText } from "../core/idmap.ts";

export interface OwnUserns {
  uidText: string;
  gidText: string;
  /** SETGROUPS_AUTO or SETGROUPS_DENY, the helper's rule (src/core/helper.ts). */
  setgroups: number;
}

const ownOnly = (map: readonly IDMap[], id: number) => map.length === 1 && map[0]?.size === 1 && map[0]?.hostID === id;

/** The maps for the monitor to have written, or null: a helper makes the namespace. */
export function ownUserns(
  uidMap: readonly IDMap[] | "none",
  gidMap: readonly IDMap[] | "none",
  mapper: string | undefined,
): OwnUserns | null {
  if (uidMap === "none" || gidMap === "none" || uidMap.length === 0 || gidMap.length === 0) return null;
  if (mapper !== undefined && mapper !== "auto" && mapper !== "direct") return null;
  const caps = effectiveCaps();
  const euid = process.geteuid?.() ?? -1;
  const egid = process.getegid?.() ?? -1;
  const root = euid === 0 && (caps & CAP_SETUID) !== 0 && (caps & CAP_SETGID) !== 0 && uidMap[0]?.hostID === 0;
  const own = !root && (caps & CAP_SYS_PTRACE) === 0 && ownOnly(uidMap, euid) && ownOnly(gidMap, egid);
  if (!root && !own) return null;
  return {
    uidText: mapText(uidMap),
    gidText: mapText(gidMap),
    setgroups: (caps & CAP_SETGID) !== 0 ? CONSTS.SETGROUPS_AUTO : CONSTS.SETGROUPS_DENY,
  };
}
