/**
 * Whether the prebuilt CLI in dist/ (made at pack time by src/packed/bundle-cli.ts)
 * is still the code in src/: the build records a hash of every file it was
 * made from, and the bundle runs only while each file still hashes the same.
 * File times cannot tell: npm and Bun give every extracted file the time of
 * its extraction. A patched or edited src/ (patch-package, a checkout after a
 * pack) makes the entry run src/ instead.
 */

/** Set by src/packed/bundle-cli.ts's build (JSON: [path from the package root, hash][]); absent outside it. */
declare const BUN_USERNS_SOURCES: string | undefined;

/** The package root: dist/ sits in it. */
export const PACKAGE_ROOT = import.meta.dir.replace(/\/(dist|src\/packed)$/, "");

/** The hash recorded for each file, the same function on both sides. */
export function sourceHash(bytes: Uint8Array): string {
  return Bun.hash.wyhash(bytes).toString(16);
}

/** Once one map was refused, the package is read-only to us: every file is read. */
let readOnly = false;

/**
 * A file's bytes, mapped. Bun.mmap opens the file for writing too, which a
 * uid that may only read it (a package root installed, a read-only mount)
 * is refused: read it then, and read the rest without trying to map them.
 */
function bytesOf(path: string): Uint8Array {
  if (!readOnly)
    try {
      return Bun.mmap(path);
    } catch {
      readOnly = true;
    }
  return (import.meta.require("node:fs") as typeof import("node:fs")).readFileSync(path);
}

/** True when every recorded file hashes as at the build. */
export function bundleIsFresh(): boolean {
  if (typeof BUN_USERNS_SOURCES !== "string") return false;
  const sources = JSON.parse(BUN_USERNS_SOURCES) as [string, string][];
  for (const [path, hash] of sources) {
    let bytes: Uint8Array;
    try {
      bytes = bytesOf(`${PACKAGE_ROOT}/${path}`);
    } catch {
      return false;
    }
    if (sourceHash(bytes) !== hash) return false;
  }
  return true;
}
