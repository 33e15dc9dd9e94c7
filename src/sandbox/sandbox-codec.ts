/**
 * The sandbox's call (native/sandbox.c). Its request block is built by
 * ./request.ts (offsets only, no pointers); this starts it.
 */
import { OPS } from "../core/contract.ts";
import { call } from "../core/native.ts";

/** sandbox() is about to run in this thread: have the first load be the build with sandbox.c (one compile, not two). */
export { needSandbox } from "../core/native.ts";

import { freeRecord, registry, takeRecord } from "../core/registry-codec.ts";

/** Start a sandbox from its request block: the monitor's pid (its pidfd recorded as `rec`), or -errno. */
export function sandboxStart(block: Uint8Array): { rc: number; rec: number } {
  const reg = registry();
  const rec = takeRecord();
  const rc = call(OPS.sandbox, block, reg, rec);
  if (rc <= 0) freeRecord(rec);
  return { rc, rec };
}
