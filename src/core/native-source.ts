/**
 * Where the C to compile is. From a checkout or an installed package:
 * native/userns.c beside src/. The package's own prebuilt CLI (dist/, made at
 * pack time by src/packed/bundle-cli.ts) is built with BUN_USERNS_PACKAGE_BUNDLE
 * defined, so it compiles the package's native/ beside dist/. From any other
 * bundle (`bun build --compile` or `--target bun` of a program), native/ is not
 * beside the code: the bundle carries the files as text (native-texts.ts,
 * loaded only then), and TinyCC, which reads only real files, compiles them
 * from a private directory removed right after.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { UsernsError } from "./errors.ts";

/** Defined (as true) only by src/packed/bundle-cli.ts's build of dist/: that bundle sits in the package's dist/. */
declare const BUN_USERNS_PACKAGE_BUNDLE: boolean | undefined;
/** Defined (as true) for the package's bytecode bundle (CommonJS), whose own paths are the building machine's. */
declare const BUN_USERNS_CJS_BUNDLE: boolean | undefined;
const packageBundle = typeof BUN_USERNS_PACKAGE_BUNDLE !== "undefined" && BUN_USERNS_PACKAGE_BUNDLE === true;
const cjsBundle = typeof BUN_USERNS_CJS_BUNDLE !== "undefined" && BUN_USERNS_CJS_BUNDLE === true;

export const SOURCE_PATH = packageBundle
  ? `${import.meta.dir}/../native/userns.c`.replace(/\/dist\/\.\.\//, "/")
  : `${import.meta.dir}/../../native/userns.c`.replace(/\/src\/core\/\.\.\/\.\.\//, "/");

/** dist/ as the package's bytecode bundle (CommonJS) runs from it: its entry says (setBundleDir). */
let bundleDir: string | undefined;

/**
 * For the package's bytecode bundle (src/packed/bytecode.ts): the dist/ it
 * runs from. In a CommonJS bundle, Bun fixes import.meta.dir and __dirname
 * at build time, to where the build ran.
 */
export function setBundleDir(dir: string): void {
  bundleDir = dir;
}

/** native/userns.c beside the code; none for a bytecode bundle not told where it runs (never a path fixed at its build). */
function sourcePath(): string | undefined {
  if (bundleDir !== undefined) return `${bundleDir.replace(/\/dist$/, "")}/native/userns.c`;
  return cjsBundle ? undefined : SOURCE_PATH;
}

/** native/ is where this module's file (a checkout's src/core/, or the package bundle in dist/) expects it. */
function beside(): boolean {
  const path = sourcePath();
  return (
    path !== undefined && (packageBundle || import.meta.path.endsWith("/src/core/native-source.ts")) && existsSync(path)
  );
}

/** What errors and nativeInfo() name: the file, or the bundle's copy. */
export function sourceName(): string {
  return beside() ? (sourcePath() as string) : "native/userns.c (carried by the bundle)";
}

/** Runs `compile` on a path to native/userns.c; a bundle's copy exists only during the call. */
export function withSource<T>(compile: (path: string) => T): T {
  if (beside()) return compile(sourcePath() as string);
  // Only a bundle comes here: node:os and node:path load for it alone.
  const { NATIVE_TEXTS } = require("./native-texts.ts") as typeof import("./native-texts.ts");
  const { tmpdir } = require("node:os") as typeof import("node:os");
  const { join } = require("node:path") as typeof import("node:path");
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), "bun-userns-c-"));
    for (const [name, text] of Object.entries(NATIVE_TEXTS)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  } catch (cause) {
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw new UsernsError(
      `bun-userns: cannot write the bundle's C sources for TinyCC in ${tmpdir()}: ${String(cause)}`,
      {
        code: "ENOEXEC",
        errno: 8,
        step: "native",
        cause,
        hint: "set TMPDIR to a writable directory, or build the library once with gcc and point BUN_USERNS_LIB at it (docs/api.md, 'Bundles and prebuilt libraries')",
      },
    );
  }
  try {
    return compile(join(dir, "userns.c"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
