/**
 * What every codec does to a request block: make one zeroed, put a path
 * into it, read back a NUL-terminated string, a path walk's refusal, or the
 * {step, err} head a failure wrote (native/fail.c). Offsets come from the
 * contract (`at(block, field)`).
 */
import { at, BLOCKS, type BlockName } from "./contract.ts";

export const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A zeroed block of the contract's size, and a view on it. */
export function newBlock(name: BlockName): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(BLOCKS[name].size);
  return { bytes, view: new DataView(bytes.buffer) };
}

/**
 * A path's bytes for a zeroed field of MAX bytes: the zeros after it end it.
 * Undefined when it leaves no room for that NUL (or holds a NUL of its own).
 */
export function pathBytes(s: string, max: number): Uint8Array | undefined {
  const b = encoder.encode(s);
  if (b.length >= max || b.includes(0)) return undefined;
  return b;
}

/** Put `s` at AT of a zeroed block, cut to leave its last of MAX bytes a NUL (too long a path fails in the C). */
export function putCut(bytes: Uint8Array, at: number, max: number, s: string): void {
  encoder.encodeInto(s, bytes.subarray(at, at + max - 1));
}

/** The NUL-terminated string at AT. */
export function readCString(bytes: Uint8Array, at: number): string {
  const end = bytes.indexOf(0, at);
  return decoder.decode(bytes.subarray(at, end < 0 ? undefined : end));
}

/** Where a path walk (native/resolve.c) refused: the component as walked, and a refused symlink's owner. */
export interface Refusal {
  at: string;
  owner?: number;
}

/** The refusal a walk left in a block: the path as walked at PATHAT, the owner (or ~0) at OWNERAT. */
export function readRefusal(bytes: Uint8Array, pathAt: number, ownerAt: number): Refusal {
  const owner = new DataView(bytes.buffer, bytes.byteOffset).getUint32(ownerAt, true);
  return { at: readCString(bytes, pathAt), ...(owner !== 0xffffffff ? { owner } : {}) };
}

/** The request blocks that run in steps: each begins with the {step, err} head (native/fail.c); "head" is one alone. */
export type HeadedBlock = "head" | "req" | "xreq" | "mount_req" | "target_req" | "pin_req";

/** A stepped block's head after a failure: the step's number in the block's own table, and its errno. */
export function readHead(view: DataView, block: HeadedBlock): { step: number; errno: number } {
  return { step: view.getInt32(at(block, "step"), true), errno: view.getInt32(at(block, "err"), true) };
}
