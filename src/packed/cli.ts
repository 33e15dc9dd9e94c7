/**
 * The entry of the prebuilt CLI (dist/cli.js, made at pack time): src/cli.ts's
 * main() from one file (each command's modules in one chunk of their own)
 * instead of src/'s module graph (docs/performance.md). If src/ has changed
 * since the build (what the command loads: all of src/, but for --version and
 * --help), it runs src/cli.ts's main() instead.
 */
import { main } from "../cli.ts";
import { bundleIsFresh, PACKAGE_ROOT } from "./fresh.ts";

/** What --version and --help run: src/cli.ts loads no other module for them (its text and package.json's version). */
const ALONE = ["package.json", "src/cli.ts", "src/packed/cli.ts", "src/packed/fresh.ts"];
const argv = process.argv.slice(2);
const alone = argv[0] === undefined || ["-V", "--version", "-h", "--help", "help"].includes(argv[0]);

process.exitCode = bundleIsFresh(alone ? ALONE : undefined)
  ? await main(argv)
  : await ((await import(`${PACKAGE_ROOT}/src/cli.ts`)) as typeof import("../cli.ts")).main(argv);
