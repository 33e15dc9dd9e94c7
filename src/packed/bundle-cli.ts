/**
 * The prebuilt CLI shipped in the package: `prepack` runs this (bun
 * src/packed/bundle-cli.ts), `postpack` runs it with --remove, so a checkout
 * keeps no dist/ and runs src/. Into dist/, for each bin: its entry
 * (src/packed/) bundled for Bun, split per command (each command loads its
 * own chunk); and the bin's whole graph again as CommonJS with the bytecode
 * of the Bun running this (src/packed/bytecode.ts), which the entry runs
 * when that same Bun runs it. The bundle records a hash of every file of
 * src/ and package.json, and runs src/ instead when any differs
 * (src/packed/fresh.ts). It compiles the package's native/ beside dist/
 * (BUN_USERNS_PACKAGE_BUNDLE).
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { version } from "../../package.json" with { type: "json" };
import { sourceHash } from "./fresh.ts";

const ROOT = join(import.meta.dir, "..", "..");
const DIST = join(ROOT, "dist");

rmSync(DIST, { recursive: true, force: true });
if (process.argv[2] !== "--remove") {
  const files = [
    "package.json",
    ...readdirSync(join(ROOT, "src"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts") || f.endsWith(".json") || f.endsWith(".txt"))
      .sort()
      .map((f) => `src/${f}`),
  ];
  const sources = files.map((f) => [f, sourceHash(Bun.mmap(join(ROOT, f)))]);
  const define = {
    BUN_USERNS_PACKAGE_BUNDLE: "true",
    BUN_USERNS_VERSION: JSON.stringify(version),
    BUN_USERNS_SOURCES: JSON.stringify(JSON.stringify(sources)),
  };
  // Bun start pays for every byte of JS it parses; names are kept for stack traces.
  const minify = { whitespace: true, syntax: true, identifiers: false };
  // The C's text for bundles without native/ beside them: this one has the package's native/.
  const external = ["*native-texts.ts"];
  const check = (r: Awaited<ReturnType<typeof Bun.build>>) => {
    if (r.success) return;
    for (const log of r.logs) console.error(log);
    process.exit(1);
  };
  // The bytecode: each bin's module and setBundleDir (src/packed/bytecode-*.ts).
  for (const name of ["cli", "cli-bwrap"]) {
    check(
      await Bun.build({
        entrypoints: [join(ROOT, "src", "packed", `bytecode-${name}.ts`)],
        outdir: DIST,
        naming: `${name}-bytecode.[ext]`,
        target: "bun",
        format: "cjs",
        bytecode: true,
        minify,
        external,
        define: { ...define, BUN_USERNS_CJS_BUNDLE: "true" },
      }),
    );
  }
  // One build per bin: a chunk shared by both would be one more module for every command to load.
  for (const entry of ["cli", "cli-bwrap"]) {
    check(
      await Bun.build({
        entrypoints: [join(ROOT, "src", "packed", `${entry}.ts`)],
        outdir: DIST,
        naming: { chunk: `${entry}-[name]-[hash].[ext]` },
        target: "bun",
        splitting: true,
        minify,
        external,
        define: { ...define, BUN_USERNS_BYTECODE_REVISION: JSON.stringify(Bun.revision) },
      }),
    );
  }
}
