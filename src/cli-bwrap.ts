#!/usr/bin/env bun
/**
 * bun-userns-bwrap: the package's second bin, bubblewrap's command line over
 * sandbox() (the same command as `bun-userns bwrap`). Its usage line names
 * the path it was invoked as, as bwrap's does.
 */
import { runBwrap } from "./cli/bwrap.ts";

if (import.meta.main) {
  const script = process.argv[1] ?? "bun-userns-bwrap";
  process.exitCode = await runBwrap(script, process.argv.slice(2), [script]);
}
