/**
 * The capabilities this thread holds in its own user namespace, where a
 * decision depends on them (who may write maps, seal, pin, exceed
 * RLIMIT_NPROC). Bits 0-30 of the effective set (capget), as masks.
 */
import { capEffective } from "./process-codec.ts";

export const CAP_SETGID = 1 << 6;
export const CAP_SETUID = 1 << 7;
export const CAP_SYS_PTRACE = 1 << 19;
export const CAP_SYS_ADMIN = 1 << 21;
export const CAP_SYS_RESOURCE = 1 << 24;

/** This thread's effective capabilities, as a mask of the CAP_ values above (0 if capget fails). */
export function effectiveCaps(): number {
  return capEffective();
}

/** Does this thread hold capability CAP (one of the masks above)? */
export function hasCapability(cap: number): boolean {
  return (capEffective() & cap) !== 0;
}
