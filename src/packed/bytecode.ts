/**
 * The CLI's bytecode bundles (dist/*-bytecode.js and their .jsc files, made
 * at pack time by src/packed/bundle-cli.ts): each bin's whole module graph,
 * CommonJS, with JavaScriptCore's bytecode beside it, so that a start reads
 * compiled code instead of parsing ~120 KB of source. That bytecode is valid
 * only for the Bun build that made it (Bun.revision); with any other Bun, the
 * split ESM bundle runs instead, as before.
 */

/** Set by src/packed/bundle-cli.ts to the revision of the Bun that built the bytecode; absent without one. */
declare const BUN_USERNS_BYTECODE_REVISION: string | undefined;

/**
 * The bytecode bundle NAME in DIR (its module's exports), told it runs from
 * DIR, when this Bun built it; else undefined.
 */
export function loadBytecode<T>(dir: string, name: string): T | undefined {
  if (typeof BUN_USERNS_BYTECODE_REVISION !== "string" || BUN_USERNS_BYTECODE_REVISION !== Bun.revision)
    return undefined;
  // A computed path: the bundler leaves it to run time.
  const m = import.meta.require(`${dir}/${name}-bytecode.js`) as T & { setBundleDir(dir: string): void };
  m.setBundleDir(dir);
  return m;
}
