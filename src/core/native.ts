/**
 * The loader of native/userns.c: the one bound symbol, the contract check at
 * load, and `call`. The codecs beside each domain (helper-codec, registry-codec,
 * process-codec, ns-codec, exec-codec, mount-codec, sandbox-codec) turn plain
 * data into request blocks and call through here; no other module sees a
 * pointer or an offset. Importing this module does nothing: the C is loaded
 * at the first call.
 *
 * Default: compiled by bun:ffi's TinyCC with -nostdlib (works with only the
 * Bun binary), once per thread and build: the core build (-DBUN_USERNS_CORE:
 * all of native/ but sandbox.c, which is a fifth of what TinyCC would
 * compile) serves every call until one needs sandbox(), which loads the full
 * build (neither keeps state the other needs, so the two can serve one thread
 * side by side). A thread that will call sandbox() says so first
 * (needSandbox), so that its one compile is the full build.
 * BUN_USERNS_LIB=/path/libuserns.so: dlopen a gcc build of the whole file
 * instead.
 */

import { cc, dlopen, type FFIFunction } from "bun:ffi";
import { ABI_VERSION, contractDiff, OPS } from "./contract.ts";
import { UsernsError } from "./errors.ts";
import { sourceName, withSource } from "./native-source.ts";

/**
 * One bound symbol, `bun_userns(op, ptr, x, y)`: Bun compiles a trampoline for
 * every symbol it binds, which a one-shot `bunx` pays at start (docs/performance.md).
 */
const SYMBOLS = {
  bun_userns: { args: ["i32", "ptr", "i32", "i32"], returns: "i32" },
} as const satisfies Record<string, FFIFunction>;

const OP = OPS;

export { SOURCE_PATH } from "./native-source.ts";

export interface NativeInfo {
  mode: "cc" | "dlopen";
  path: string;
  loadMs: number;
  /** The builds this thread has loaded: "core" (all but sandbox()'s C), "full" (a gcc library is always "full"). */
  builds: ("core" | "full")[];
}

type Entry = (op: number, p: number | Uint8Array | null, x: number, y: number) => number;
/** The core build (every op but sandbox's), the full one, and what the first load took. */
let core: Entry | undefined;
let full: Entry | undefined;
let info: NativeInfo | undefined;
/** This thread will call sandbox(): load the full build first (one compile, not two). */
let wantFull = false;

function load(build: "core" | "full"): Entry {
  const t0 = performance.now();
  const so = process.env.BUN_USERNS_LIB;
  /* aarch64. native/userns.c has the syscalls and assembly of these two only. */
  if (process.arch !== "x64" && process.arch !== "arm64") {
    throw new UsernsError(`bun-userns: unsupported architecture ${process.arch} (x64 and arm64 only)`, {
      code: "ENOSYS",
      errno: 38,
      step: "native",
    });
  }
  let fn: Entry;
  try {
    const flags = build === "core" ? ["-nostdlib", "-DBUN_USERNS_CORE"] : ["-nostdlib"];
    const l = so ? dlopen(so, SYMBOLS) : withSource((source) => cc({ source, flags, symbols: SYMBOLS }));
    fn = l.symbols.bun_userns as Entry;
  } catch (cause) {
    if (cause instanceof UsernsError) throw cause;
    throw new UsernsError(
      `bun-userns: cannot load the native helper (${so ? `dlopen ${so}` : "cc"}): ${String(cause)}`,
      {
        code: "ENOEXEC",
        errno: 8,
        step: "native",
        cause,
        hint: so
          ? "BUN_USERNS_LIB must name a .so built from this package's native/userns.c (docs/api.md, 'Bundles and prebuilt libraries'), or be unset"
          : "Bun's TinyCC could not compile native/userns.c; a gcc build of it named by BUN_USERNS_LIB needs no TinyCC (docs/api.md, 'Bundles and prebuilt libraries')",
      },
    );
  }
  checkContract(fn, so || sourceName());
  info ??= { mode: so ? "dlopen" : "cc", path: so || sourceName(), loadMs: performance.now() - t0, builds: [] };
  return fn;
}

/**
 * The C's own text of the contract (native/abi.h, OP_ABI) must be ours
 * (contract.ts) line for line: ops, every request block's fields, every step
 * table and option bit. A build that differs in anything is refused, naming
 * what differs, before any call could misread it.
 */
function checkContract(fn: Entry, path: string): void {
  const buf = new Uint8Array(65536);
  const n = fn(OP.abi, buf, buf.length, 0);
  const text = n > 0 ? new TextDecoder().decode(buf.subarray(0, n)) : "";
  const diff = text.startsWith("abi ")
    ? contractDiff(text)
    : [`the build answers no contract (${JSON.stringify(text.slice(0, 60) || n)}): built before abi ${ABI_VERSION}`];
  if (diff.length === 0) return;
  const shown = diff.slice(0, 6).join("; ") + (diff.length > 6 ? `; and ${diff.length - 6} more` : "");
  throw new UsernsError(
    `bun-userns: ${path} does not match this version of the package: ${shown}; rebuild it from native/userns.c`,
    { code: "ENOEXEC", errno: 8, step: "native" },
  );
}

/** The build that serves OP: the full one for sandbox's (and once loaded), else the core one. */
function entryFor(op: number): Entry {
  if (full !== undefined) return full;
  // A gcc library is one build, the whole file.
  if (op === OP.sandbox || wantFull || process.env.BUN_USERNS_LIB) {
    full = load("full");
    return full;
  }
  core ??= load("core");
  return core;
}

/** Run op OP of the native layer (loading the build it needs at its first call). */
export function call(op: number, p: number | Uint8Array | null, x: number, y: number): number {
  return entryFor(op)(op, p, x, y);
}

/** sandbox() is about to run in this thread: a first load is the full build, so that one compile serves it all. */
export function needSandbox(): void {
  wantFull = true;
}

/** How the native layer was first loaded (loads the core build if nothing is loaded yet). */
export function nativeInfo(): NativeInfo {
  if (core === undefined && full === undefined) entryFor(OP.abi);
  const builds: NativeInfo["builds"] = [];
  if (core !== undefined) builds.push("core");
  if (full !== undefined) builds.push("full");
  return { ...(info as NativeInfo), builds };
}
