/**
 * The entry of the prebuilt bun-userns-bwrap (dist/cli-bwrap.js, made at pack
 * time), as src/cli-bwrap.ts runs it: from the bytecode bundle when this Bun
 * built it (src/packed/bytecode.ts), else from the split bundle; src/'s own if
 * src/ has changed since the build.
 */
import { loadBytecode } from "./bytecode.ts";
import { bundleIsFresh, PACKAGE_ROOT } from "./fresh.ts";

type Bwrap = typeof import("../cli/bwrap.ts");
const script = process.argv[1] ?? "bun-userns-bwrap";
// The launcher passes the path it was invoked as (the usage line names it); it is not the command's to see.
const name = process.env.BUN_USERNS_BWRAP_NAME || script;
delete process.env.BUN_USERNS_BWRAP_NAME;
const bwrap: Bwrap = bundleIsFresh()
  ? (loadBytecode<Bwrap>(import.meta.dir, "cli-bwrap") ?? (await import("../cli/bwrap.ts")))
  : ((await import(`${PACKAGE_ROOT}/src/cli/bwrap.ts`)) as Bwrap);
process.exitCode = await bwrap.runBwrap(name, process.argv.slice(2), [script]);
