#!/usr/bin/env bun
/**
 * bun-userns-bwrap: the package's second bin, bubblewrap's command line over
 * sandbox() (the same command as `bun-userns bwrap`). Its usage line names
 * the path it was invoked as, as bwrap's does.
 */
import { runBwrap } from "./cli/bwrap.ts";

if (import.meta.main) {
  const script = process.argv[1] ?? "bun-userns-bwrap";
  // The launcher (bin/bun-userns) passes the path it was invoked as; it is not the command's to see.
  const name = process.env.BUN_USERNS_BWRAP_NAME || script;
  delete process.env.BUN_USERNS_BWRAP_NAME;
  // No top-level await: the package's bytecode bundle of this file is CommonJS (src/packed/bundle-cli.ts).
  runBwrap(name, process.argv.slice(2), [script]).then((code) => {
    process.exitCode = code;
  });
}
