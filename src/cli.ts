#!/usr/bin/env bun
/**
 * bun-userns CLI: reads the command word and loads only that command's
 * module (a one-shot pays for what it runs: docs/performance.md). The
 * commands live in src/cli/; options follow util-linux unshare(1) where the
 * meaning is the same. It prints with console.log/console.error: the first
 * touch of process.stdout or process.stderr builds Node's stream objects,
 * which costs more than Bun's whole start.
 */
import { version } from "../package.json" with { type: "json" };
import HELP_TEXT from "./cli-help.txt" with { type: "text" };

/** The help text: a file of its own, which the launcher also prints (without starting Bun). */
const HELP = HELP_TEXT.replace(/\n$/, "");

/** Each command's module, loaded when that command runs. */
const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  run: async (a) => (await import("./cli/run.ts")).cmdRun(a),
  exec: async (a) => (await import("./cli/exec.ts")).cmdExec(a),
  enter: async (a) => (await import("./cli/enter.ts")).cmdEnter(a),
  doctor: async (a) => (await import("./cli/doctor.ts")).cmdDoctor(a),
  parse: async (a) => (await import("./cli/parse.ts")).cmdParse(a),
  mount: async (a) => (await import("./cli/mount.ts")).runMountCommand("mount", a),
  umount: async (a) => (await import("./cli/mount.ts")).runMountCommand("umount", a),
  pin: async (a) => (await import("./cli/pin.ts")).cmdPin(a),
  unpin: async (a) => (await import("./cli/pin.ts")).cmdUnpin(a),
  bwrap: async (a) =>
    (await import("./cli/bwrap.ts")).runBwrap("bun-userns bwrap", a, [process.argv[1] ?? "bun-userns", "bwrap"]),
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const run = command === undefined ? undefined : COMMANDS[command];
  if (run) {
    try {
      return await run(rest);
    } catch (e) {
      return (await import("./cli/args.ts")).fail(e, false);
    }
  }
  switch (command) {
    case "-V":
    case "--version":
      console.log(version);
      return 0;
    case undefined:
    case "-h":
    case "--help":
    case "help":
      console.log(HELP);
      return command === undefined ? 2 : 0;
    default:
      console.error(`bun-userns: unknown command ${JSON.stringify(command)}\nTry 'bun-userns --help'.`);
      return 2;
  }
}

// No top-level await: the package's bytecode bundle of this file is CommonJS (src/packed/bundle-cli.ts).
if (import.meta.main)
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
