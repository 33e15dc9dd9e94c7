/**
 * The entry of the prebuilt bun-userns-bwrap (dist/cli-bwrap.js, made at pack
 * time), as src/cli-bwrap.ts runs it; src/'s own if src/ has changed since the build.
 */
import { runBwrap } from "../cli/bwrap.ts";
import { bundleIsFresh, PACKAGE_ROOT } from "./fresh.ts";

const script = process.argv[1] ?? "bun-userns-bwrap";
// The launcher passes the path it was invoked as (the usage line names it); it is not the command's to see.
const name = process.env.BUN_USERNS_BWRAP_NAME || script;
delete process.env.BUN_USERNS_BWRAP_NAME;
const run = bundleIsFresh()
  ? runBwrap
  : ((await import(`${PACKAGE_ROOT}/src/cli/bwrap.ts`)) as typeof import("../cli/bwrap.ts")).runBwrap;
process.exitCode = await run(name, process.argv.slice(2), [script]);
