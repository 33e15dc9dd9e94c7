/**
 * The entry of the prebuilt CLI (dist/cli.js, made at pack time): src/cli.ts's
 * main() from one file (each command's modules in one chunk of their own)
 * instead of src/'s module graph (docs/performance.md). If src/ has changed
 * since the build, it runs src/cli.ts's main() instead. The launcher runs
 * --version and --help from src/cli.ts directly.
 */
import { main } from "../cli.ts";
import { bundleIsFresh, PACKAGE_ROOT } from "./fresh.ts";

const argv = process.argv.slice(2);
process.exitCode = bundleIsFresh()
  ? await main(argv)
  : await ((await import(`${PACKAGE_ROOT}/src/cli.ts`)) as typeof import("../cli.ts")).main(argv);
