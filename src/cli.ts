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

const HELP = `Usage: bun-userns <command> [options]

Commands:
  run      run a command beside a parked helper in a new user namespace
  exec     run a command inside new namespaces (like unshare(1))
  enter    run a command inside a process's namespaces (like nsenter(1))
  doctor   check what bun-userns needs on this machine
  parse    validate a uid/gid mapping with the library's rules
  mount    idmapped bind mount: bun-userns mount --map M SOURCE TARGET
  umount   unmount: bun-userns umount [--lazy] TARGET
  pin      pin namespaces to files: bun-userns pin -n --net=/run/netns/x
  unpin    remove namespace pins: bun-userns unpin FILE...
  bwrap    bubblewrap's command line over sandbox(): bun-userns bwrap --help

Options:
  -h, --help      show help (also: bun-userns <command> --help)
  -V, --version   print the version

Examples:
  bun-userns run --map 0:1000:65536 --unshare mnt,net -- sh -c 'readlink /proc/$USERNS_PID/ns/user'
  bun-userns doctor --path /var/lib/containers
  bun-userns parse 0:1000:10,100:2000:5`;

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

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
