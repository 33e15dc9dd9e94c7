// Every install command README.md shows for using the package, run as written
// (the tarball's path put in) from a tarball packed here: with only Node and
// npm on PATH (no Bun anywhere on it), and where Bun is on PATH.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot } from "./support/proc.ts";

const ROOT_DIR = join(import.meta.dir, "..");
const VERSION: string = JSON.parse(readFileSync(join(ROOT_DIR, "package.json"), "utf8")).version;
const README_TGZ = `/path/to/bun-userns-${VERSION}.tgz`;

/** The ```sh blocks of README's "As a dependency" part, one command line each, comments dropped. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(ROOT_DIR, "README.md"), "utf8");
  const part = readme.slice(readme.indexOf("**As a dependency.**"), readme.indexOf("## Requirements"));
  return [...part.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
    (m[1] as string)
      .split("\n")
      .map((l) => l.replace(/\s+#.*$/, "").trim())
      .filter((l) => l !== ""),
  );
}

/** PATH without any directory that holds a bun (this checkout's node_modules/.bin, ~/.bun/bin, ...). */
const NODE_ONLY_PATH = (process.env.PATH ?? "")
  .split(":")
  .filter((d) => d !== "" && !existsSync(join(d, "bun")))
  .join(":");
const npm = Bun.which("npm", { PATH: NODE_ONLY_PATH });
const NPX_CACHE = join(process.env.npm_config_cache ?? join(homedir(), ".npm"), "_npx");

let base = "";
let tgz = "";
let bunDir = "";
let npxBefore: string[] = [];
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "bun-userns-install-"));
  mkdirSync(join(base, "tmp"));
  bunDir = join(base, "bun-on-path");
  mkdirSync(bunDir);
  // As Bun's installer lays it out (the npm package names the binary bun.exe): bunx is bun under that name.
  symlinkSync(process.execPath, join(bunDir, "bun"));
  symlinkSync(process.execPath, join(bunDir, "bunx"));
  npxBefore = existsSync(NPX_CACHE) ? readdirSync(NPX_CACHE) : [];
});
afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
  // npx --package installs into npm's cache: remove what this file's runs added there.
  if (existsSync(NPX_CACHE))
    for (const d of readdirSync(NPX_CACHE))
      if (!npxBefore.includes(d)) rmSync(join(NPX_CACHE, d), { recursive: true, force: true });
});

function pack(): string {
  if (tgz) return tgz;
  const r = Bun.spawnSync([npm as string, "pack", "--pack-destination", base], {
    cwd: ROOT_DIR,
    env: { ...process.env, PATH: NODE_ONLY_PATH, TMPDIR: join(base, "tmp") },
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(r.exitCode).toBe(0);
  tgz = join(base, `bun-userns-${VERSION}.tgz`);
  expect(existsSync(tgz)).toBe(true);
  return tgz;
}

/** A command line run by sh in a fresh directory (a project with a package.json, or empty). */
function run(line: string, opts: { bun: boolean; project: boolean }) {
  const cwd = mkdtempSync(join(base, "cwd-"));
  if (opts.project) writeFileSync(join(cwd, "package.json"), '{ "name": "consumer", "private": true }\n');
  const r = Bun.spawnSync(["/bin/sh", "-c", line.replaceAll(README_TGZ, pack())], {
    cwd,
    env: {
      ...process.env,
      PATH: opts.bun ? `${bunDir}:${NODE_ONLY_PATH}` : NODE_ONLY_PATH,
      TMPDIR: join(base, "tmp"),
      // The registry is used as npm's cache allows (the bun package was fetched by this checkout's install).
      npm_config_prefer_offline: "true",
      npm_config_audit: "false",
      npm_config_fund: "false",
      npm_config_update_notifier: "false",
      BUN_INSTALL_CACHE_DIR: join(base, "bun-cache"),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString(), cwd };
}

describe.skipIf(!isRoot || !npm)(
  `installed from a packed tarball (needs root for doctor's checks${npm ? "" : ", and npm"})`,
  () => {
    test("the PATH for these tests has Node and npm and no Bun", () => {
      expect(Bun.which("bun", { PATH: NODE_ONLY_PATH })).toBeNull();
      expect(Bun.which("node", { PATH: NODE_ONLY_PATH })).not.toBeNull();
    });

    test("README shows the four install commands these tests run", () => {
      const lines = readmeCommands();
      expect(lines.length).toBe(4);
      for (const l of lines) expect(l).toContain(README_TGZ);
    });

    test.each(readmeCommands().filter((l) => l.startsWith("npm") || l.startsWith("npx")))(
      "with only Node and npm: %s",
      (line) => {
        const r = run(line, { bun: false, project: line.startsWith("npm install") });
        expect(r.err).not.toContain("needs Bun");
        expect(r.out).toContain("bun-userns can work here.");
        expect(r.code).toBe(0);
        // It ran the packed copy: its native/ compiled, not this checkout's.
        expect(r.out).not.toContain(ROOT_DIR);
      },
      180000,
    );

    test.each(readmeCommands().filter((l) => l.startsWith("bun")))(
      "with Bun on PATH: %s",
      (line) => {
        const r = run(line, { bun: true, project: line.startsWith("bun add") });
        expect(r.err).not.toContain("error:");
        expect(r.out).toContain("bun-userns can work here.");
        expect(r.code).toBe(0);
        expect(r.out).not.toContain(ROOT_DIR);
      },
      180000,
    );

    test("without the bun package and no bun on PATH, the command says what to install and exits 127", () => {
      const r = run(`npm install ${README_TGZ} && npx bun-userns doctor`, { bun: false, project: true });
      expect(r.code).toBe(127);
      expect(r.err).toContain("bun-userns: needs Bun (>= 1.4) and found none");
      expect(r.err).toContain("npm install bun");
      expect(r.err).toContain("npx --package bun --package bun-userns bun-userns");
      expect(r.err).not.toContain("/usr/bin/env");
    }, 180000);

    test("the installed command works from node_modules/.bin with the project's bun, as npm scripts run it", () => {
      const r = run(`npm install bun ${README_TGZ} && ./node_modules/.bin/bun-userns parse 0:1000:1`, {
        bun: false,
        project: true,
      });
      expect(r.out).toEndWith("\n0 1000 1\n"); // after npm's "added N packages"
      expect(r.code).toBe(0);
    }, 180000);

    test("the tarball carries the CLI prebuilt at pack time (dist/), and packing leaves no dist/ in the checkout", () => {
      const list = Bun.spawnSync(["tar", "-tzf", pack()], { stdout: "pipe" }).stdout.toString().split("\n");
      expect(list).toContain("package/dist/cli.js");
      expect(list).toContain("package/dist/cli-bwrap.js");
      expect(list).toContain("package/dist/cli-bytecode.js.jsc");
      expect(list).toContain("package/dist/cli-bwrap-bytecode.js.jsc");
      expect(list).toContain("package/src/cli.ts");
      expect(list.some((f) => f.startsWith("package/dist/") && f.includes("native-texts"))).toBe(false);
      expect(existsSync(join(ROOT_DIR, "dist"))).toBe(false);
    });

    test("installed, the commands run from dist/; after an edit of src/ (same size), src/ runs instead", () => {
      const r = run(`npm install bun ${README_TGZ} && ./node_modules/.bin/bun-userns-bwrap --help`, {
        bun: false,
        project: true,
      });
      expect(r.code).toBe(0);
      // The usage line names the path the command was invoked as, as bwrap's does.
      expect(r.out).toContain("usage: ./node_modules/.bin/bun-userns-bwrap [OPTIONS...]");
      const pkg = join(r.cwd, "node_modules", "bun-userns");
      const cmd = (args: string[]) => {
        const x = Bun.spawnSync([join(r.cwd, "node_modules", ".bin", "bun-userns"), ...args], {
          env: { ...process.env, PATH: NODE_ONLY_PATH },
          stdout: "pipe",
          stderr: "pipe",
        });
        return { code: x.exitCode, out: x.stdout.toString(), err: x.stderr.toString() };
      };
      expect(cmd(["parse", "0:1000:1"]).out).toBe("0 1000 1\n");
      expect(cmd(["nosuch"]).err).toContain("unknown command");
      expect(cmd(["parse", "--help"]).out).toContain("\nValidates MAP");
      // Edits as patch-package makes them, each keeping the file's size: the entry's src/cli.ts, then a file of src/cli/.
      const edit = (file: string, from: string, to: string) => {
        const text = readFileSync(join(pkg, file), "utf8");
        expect(text).toContain(from);
        writeFileSync(join(pkg, file), text.replace(from, to));
      };
      edit("src/cli.ts", "unknown command", "unknown commanz");
      expect(cmd(["nosuch"]).err).toContain("unknown commanz");
      expect(cmd(["parse", "--help"]).out).toContain("\nValidates MAP");
      edit("src/cli/parse.ts", "\nValidates MAP", "\nValidatez MAP");
      const p = cmd(["parse", "--help"]);
      expect(p.out).toContain("\nValidatez MAP");
      expect(p.code).toBe(0);
      expect(cmd(["parse", "0:1000:1"]).out).toBe("0 1000 1\n");
    }, 180000);
  },
);
