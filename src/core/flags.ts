/** Namespace flags and their validation (`unshare(2)` inside the helper), from the one table (src/core/names.ts). */

import { invalid, UsernsError } from "./errors.ts";
import {
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
  NAMESPACE_FLAGS,
} from "./names.ts";

export { NAMESPACE_FLAGS, type NamespaceName } from "./names.ts";
export {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWTIME,
  CLONE_NEWUSER,
  CLONE_NEWUTS,
};

const ALLOWED = Object.values(NAMESPACE_FLAGS).reduce((a, b) => a | b, 0) >>> 0;

const KNOWN_BITS: Record<number, string> = {
  256: "CLONE_VM",
  512: "CLONE_FS",
  1024: "CLONE_FILES",
  2048: "CLONE_SIGHAND",
  4096: "CLONE_PIDFD",
  8192: "CLONE_PTRACE",
  16384: "CLONE_VFORK",
  32768: "CLONE_PARENT",
  65536: "CLONE_THREAD",
  262144: "CLONE_SYSVSEM",
  2147483648: "CLONE_IO",
};

/** Names of the set bits, e.g. `CLONE_NEWNS|CLONE_NEWNET`. */
export function flagNames(flags: number): string {
  const names: string[] = [];
  for (let i = 0; i < 32; i++) {
    const bit = 2 ** i;
    if ((flags & bit) === 0) continue;
    names.push((bit !== CLONE_NEWUSER ? cloneName(bit) : undefined) ?? KNOWN_BITS[bit] ?? `0x${bit.toString(16)}`);
  }
  return names.join("|") || "0";
}

/**
 * Seed order: CLONE_NEWUSER first (its own message); other bits unshare(2)
 * would refuse give Go's start-failure text, but before anything is created.
 */
export function checkFlags(flags: unknown): number {
  if (typeof flags !== "number") throw new TypeError(`unshare flags must be a number, got ${typeof flags}`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) {
    throw invalid("flags", `invalid unshare flags ${flags}: must be an integer from 0 to 0xffffffff`);
  }
  if ((flags & CLONE_NEWUSER) === CLONE_NEWUSER) {
    throw invalid("flags", "unshare flags should not include user namespace");
  }
  return flags >>> 0;
}

/** The part of the seed's start failure that flags alone decide. */
export function unsupportedFlags(flags: number): UsernsError | undefined {
  const extra = (flags & ~ALLOWED) >>> 0;
  if (extra === 0) return undefined;
  return new UsernsError("failed to start noop process for unshare: unshare: invalid argument", {
    code: "EINVAL",
    errno: 22,
    syscall: "unshare",
    step: "unshare",
    hint: `${flagNames(extra)} (0x${extra.toString(16)}) is not a namespace flag; allowed: ${flagNames(ALLOWED)}`,
  });
}

/** `"mnt,net"` → flags; throws on an unknown name. */
export function parseNamespaceList(list: string): number {
  let flags = 0;
  for (const raw of list.split(",")) {
    const name = raw.trim();
    if (name === "") continue;
    const kind = kindOfName(name);
    const bit = kind === undefined || kind === "user" ? undefined : NAMESPACE_FLAGS[kind];
    if (bit === undefined) {
      throw invalid(
        "flags",
        `unknown namespace ${JSON.stringify(name)}: expected one of ${Object.keys(NAMESPACE_FLAGS).join(", ")}`,
      );
    }
    flags |= bit;
  }
  return flags >>> 0;
}
