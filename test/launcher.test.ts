// src/bin/bun-userns, the installed command: which Bun it runs, with what, under
// each of its names. A stand-in `bun` that prints its arguments shows what the
// launcher asked for; a real run is in install.test.ts.
import { afterAll, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const LAUNCHER = join(import.meta.dir, "..", "src", "bin", "bun-userns");
const base = mkdtempSync(join(tmpdir(), "bun-userns-launcher-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/**
 * A project's node_modules as npm and Bun lay it out: the package (its launcher,
 * a src/cli.ts), relative links to it in .bin, and (if asked) a bun there that echoes.
 */
function binDir(name: string, withBun: boolean): string {
  const pkg = join(base, name, "node_modules", "bun-userns");
  mkdirSync(join(pkg, "src", "bin"), { recursive: true });
  copyFileSync(LAUNCHER, join(pkg, "src", "bin", "bun-userns"));
  writeFileSync(join(pkg, "src", "cli.ts"), "");
  writeFileSync(join(pkg, "src", "cli-bwrap.ts"), "");
  const dir = join(base, name, "node_modules", ".bin");
  mkdirSync(dir);
  symlinkSync("../bun-userns/src/bin/bun-userns", join(dir, "bun-userns"));
  symlinkSync("../bun-userns/src/bin/bun-userns", join(dir, "bun-userns-bwrap"));
  if (withBun) {
    writeFileSync(join(dir, "bun"), '#!/bin/sh\nprintf "%s\\n" "$0" "$@"\n');
    chmodSync(join(dir, "bun"), 0o755);
  }
  return dir;
}

function run(argv: string[], PATH: string) {
  const r = Bun.spawnSync(argv, { env: { PATH }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString().trim().split("\n"), err: r.stderr.toString() };
}

test("through node_modules/.bin it runs the bun beside it on the package's src/cli.ts, arguments unchanged", () => {
  const dir = binDir("project", true);
  const r = run([join(dir, "bun-userns"), "exec", "-r", "--", "sh", "-c", "a b"], "/usr/bin:/bin");
  expect(r.code).toBe(0);
  // No readlink: the path through the link, as sh sees it, with no fork to resolve it.
  expect(r.out).toEqual([`${dir}/bun`, `${dir}/../bun-userns/src/cli.ts`, "exec", "-r", "--", "sh", "-c", "a b"]);
});

test("under the name bun-userns-bwrap it runs the package's src/cli-bwrap.ts, arguments unchanged", () => {
  const dir = binDir("bwrap", true);
  const r = run([join(dir, "bun-userns-bwrap"), "--unshare-net", "--", "true"], "/usr/bin:/bin");
  expect(r.code).toBe(0);
  expect(r.out).toEqual([`${dir}/bun`, `${dir}/../bun-userns/src/cli-bwrap.ts`, "--unshare-net", "--", "true"]);
});

test("as bun-userns-bwrap it passes the path it was invoked as in BUN_USERNS_BWRAP_NAME; as bun-userns it does not", () => {
  const dir = binDir("named", false);
  const name = "BUN_USERNS_BWRAP_NAME";
  writeFileSync(join(dir, "bun"), `#!/bin/sh\nprintf "%s\\n" "\${${name}:-unset}"\n`);
  chmodSync(join(dir, "bun"), 0o755);
  expect(run([join(dir, "bun-userns-bwrap"), "--help"], "/usr/bin:/bin").out).toEqual([join(dir, "bun-userns-bwrap")]);
  expect(run([join(dir, "bun-userns"), "--help"], "/usr/bin:/bin").out).toEqual(["unset"]);
});

test("in a packed package (dist/ made at pack time) it runs dist/cli.js, and dist/cli-bwrap.js as bun-userns-bwrap", () => {
  const dir = binDir("packed", true);
  mkdirSync(join(dir, "..", "bun-userns", "dist"));
  writeFileSync(join(dir, "..", "bun-userns", "dist", "cli.js"), "");
  writeFileSync(join(dir, "..", "bun-userns", "dist", "cli-bwrap.js"), "");
  const r = run([join(dir, "bun-userns"), "exec", "--", "true"], "/usr/bin:/bin");
  expect(r.code).toBe(0);
  expect(r.out).toEqual([`${dir}/bun`, `${dir}/../bun-userns/dist/cli.js`, "exec", "--", "true"]);
  const b = run([join(dir, "bun-userns-bwrap"), "--help"], "/usr/bin:/bin");
  expect(b.out).toEqual([`${dir}/bun`, `${dir}/../bun-userns/dist/cli-bwrap.js`, "--help"]);
  // The usage with no command is src/cli.ts alone (nothing to gain from the bundle); so are the version and the help
  // when the package has no package.json or src/cli-help.txt to read them from (this one has neither).
  for (const a of [[], ["--version"], ["-V"], ["--help"], ["-h"], ["help"]])
    expect(run([join(dir, "bun-userns"), ...a], "/usr/bin:/bin").out).toEqual([
      `${dir}/bun`,
      `${dir}/../bun-userns/src/cli.ts`,
      ...a,
    ]);
});

test("with no bun beside it or on PATH it says what to install and exits 127", () => {
  const dir = binDir("nobun", false);
  // A PATH with the one tool the launcher's refusal uses (cat) and no bun: the machine's /usr/bin may hold one.
  const tools = join(base, "nobun-path");
  mkdirSync(tools);
  symlinkSync(Bun.which("cat") as string, join(tools, "cat"));
  const r = run([join(dir, "bun-userns"), "--version"], tools);
  expect(r.code).toBe(127);
  expect(r.err).toContain("bun-userns: needs Bun (>= 1.4) and found none");
  expect(r.err).toContain("npm install bun");
});

test("packages named src or bin in the project's node_modules (with a cli.ts, a bun-userns) are never taken for this package's source", () => {
  const dir = binDir("srcpkg", true);
  // npm hoists dependencies to node_modules/NAME, beside .bin: one called "src" with a cli.ts, one called "bin"
  // with a bun-userns, as bin/ sits beside cli.ts in this package's src/.
  mkdirSync(join(dir, "..", "src"));
  writeFileSync(join(dir, "..", "src", "cli.ts"), "");
  writeFileSync(join(dir, "..", "src", "cli-bwrap.ts"), "");
  mkdirSync(join(dir, "..", "bin"));
  copyFileSync(LAUNCHER, join(dir, "..", "bin", "bun-userns"));
  writeFileSync(join(dir, "..", "cli.ts"), "");
  for (const name of ["bun-userns", "bun-userns-bwrap"]) {
    const r = run([join(dir, name), "--version"], "/usr/bin:/bin");
    expect(r.code).toBe(0);
    const file = name === "bun-userns" ? "cli.ts" : "cli-bwrap.ts";
    expect(r.out).toEqual([`${dir}/bun`, `${dir}/../bun-userns/src/${file}`, "--version"]);
  }
});

test("--version and --help need no Bun: package.json's version and src/cli-help.txt, as the CLI prints them", async () => {
  // A package with no bun beside it and none on PATH: anything that needed Bun would exit 127.
  const dir = binDir("nobun-info", false);
  const pkg = join(dir, "..", "bun-userns");
  const root = join(import.meta.dir, "..");
  copyFileSync(join(root, "package.json"), join(pkg, "package.json"));
  copyFileSync(join(root, "src", "cli-help.txt"), join(pkg, "src", "cli-help.txt"));
  // A PATH with no bun (the machine's /usr/bin may hold one): only cat, which the refusal of other commands uses.
  const PATH = join(base, "nobun-info-path");
  mkdirSync(PATH);
  symlinkSync(Bun.which("cat") as string, join(PATH, "cat"));
  const cli = (args: string[]) =>
    Bun.spawnSync([process.execPath, join(root, "src", "cli.ts"), ...args], { stdout: "pipe" }).stdout.toString();
  for (const flag of ["--version", "-V"]) {
    const r = Bun.spawnSync([join(dir, "bun-userns"), flag], { env: { PATH }, stdout: "pipe" });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toBe(cli([flag]));
  }
  for (const flag of ["--help", "-h", "help"]) {
    const r = Bun.spawnSync([join(dir, "bun-userns"), flag], { env: { PATH }, stdout: "pipe" });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toBe(cli([flag]));
  }
  // Anything else still needs Bun.
  expect(run([join(dir, "bun-userns"), "doctor"], PATH).code).toBe(127);
  // bwrap's --version and --help are its own (the CLI's), through Bun.
  expect(run([join(dir, "bun-userns-bwrap"), "--version"], PATH).code).toBe(127);
});
