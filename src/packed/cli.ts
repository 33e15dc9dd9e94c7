/**
 * The entry of the prebuilt CLI (dist/cli.js, made at pack time): src/cli.ts's
 * main() from the bytecode bundle when this Bun built it (src/packed/bytecode.ts),
 * else from the split bundle (each command's modules in one chunk of their own)
 * instead of src/'s module graph (docs/performance.md). If src/ has changed
 * since the build, it runs src/cli.ts's main() instead. The launcher answers
 * --version and --help itself.
 */
import { loadBytecode } from "./bytecode.ts";
import { bundleIsFresh, PACKAGE_ROOT } from "./fresh.ts";

type Cli = typeof import("../cli.ts");
const argv = process.argv.slice(2);
const cli: Cli = bundleIsFresh()
  ? (loadBytecode<Cli>(import.meta.dir, "cli") ?? (await import("../cli.ts")))
  : ((await import(`${PACKAGE_ROOT}/src/cli.ts`)) as Cli);
process.exitCode = await cli.main(argv);
