// The packed package's CLI (dist/, built by the prepack script) runs its
// bytecode bundle under the Bun that built it and the split bundle under any
// other, and the bytecode bundle, whose own paths are fixed at its build,
// compiles only the C beside the dist/ it runs from.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot } from "./support/proc.ts";

const ROOT = join(import.meta.dir, "..");
const STRACE = Bun.which("strace");
const base = mkdtempSync(join(tmpdir(), "bun-userns-bytecode-"));
/** Where the package was packed: the bundle's own paths name it. */
const built = join(base, "built");
/** Where it runs: the packed package, moved. */
const pkg = join(base, "moved");

beforeAll(() => {
  mkdirSync(built);
  for (const d of ["src", "native", "package.json"]) cpSync(join(ROOT, d), join(built, d), { recursive: true });
  const b = Bun.spawnSync([process.execPath, join(built, "src", "packed", "bundle-cli.ts")], { stderr: "pipe" });
  expect(b.stderr.toString()).toBe("");
  expect(b.exitCode).toBe(0);
  renameSync(built, pkg);
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

function run(argv: string[]) {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** ARGS run by bun on the packed ENTRY under strace (through AS, a command that execs bun): its output and the files it opened. */
function traced(entry: string, args: string[], as: string[] = []) {
  const log = join(base, "openat.log");
  const r = run([
    STRACE as string,
    "-f",
    "-qq",
    "-e",
    "trace=openat",
    "-o",
    log,
    ...as,
    process.execPath,
    join(pkg, "dist", entry),
    ...args,
  ]);
  const opened = [...readFileSync(log, "utf8").matchAll(/openat\(AT_FDCWD, "([^"]+)"/g)].map((m) => m[1] as string);
  rmSync(log);
  return { ...r, opened };
}

test("packing writes each bin's bytecode bundle beside its split one", () => {
  for (const f of ["cli.js", "cli-bytecode.js", "cli-bytecode.js.jsc", "cli-bwrap.js", "cli-bwrap-bytecode.js.jsc"])
    expect(existsSync(join(pkg, "dist", f))).toBe(true);
});

describe.skipIf(!STRACE)(`which bundle runs${STRACE ? "" : " (needs strace)"}`, () => {
  test("under the Bun that packed it, each bin reads its bytecode and no split chunk", () => {
    const cli = traced("cli.js", ["parse", "0:1000:1"]);
    expect([cli.code, cli.out, cli.err]).toEqual([0, "0 1000 1\n", ""]);
    expect(cli.opened).toContain(join(pkg, "dist", "cli-bytecode.js.jsc"));
    expect(cli.opened.filter((f) => f.includes("/dist/cli-cli-"))).toEqual([]);
    const bwrap = traced("cli-bwrap.js", ["--version"]);
    expect(bwrap.code).toBe(0);
    expect(bwrap.out).toStartWith("bubblewrap ");
    expect(bwrap.opened).toContain(join(pkg, "dist", "cli-bwrap-bytecode.js.jsc"));
  });

  test("under any other Bun (another revision recorded), the split bundle runs and no bytecode is read", () => {
    const entry = join(pkg, "dist", "cli.js");
    const text = readFileSync(entry, "utf8");
    const other = Bun.revision.replace(/./, (c) => (c === "0" ? "1" : "0"));
    expect(text).toContain(JSON.stringify(Bun.revision));
    writeFileSync(entry, text.replace(JSON.stringify(Bun.revision), JSON.stringify(other)));
    try {
      const cli = traced("cli.js", ["parse", "0:1000:1"]);
      expect([cli.code, cli.out, cli.err]).toEqual([0, "0 1000 1\n", ""]);
      expect(cli.opened.filter((f) => f.endsWith(".jsc"))).toEqual([]);
      expect(cli.opened.some((f) => f.includes("/dist/cli-cli-"))).toBe(true);
    } finally {
      writeFileSync(entry, text);
    }
  });
});

describe.skipIf(!STRACE || !isRoot)(
  `a package this uid cannot write${STRACE && isRoot ? "" : " (needs strace, and root to run as another uid)"}`,
  () => {
    test("run by a uid that may only read its files (a package root installed), the packed entry still runs its bytecode", () => {
      // The package stays root's, readable by all, as a global install leaves it.
      chmodSync(base, 0o755);
      const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
      const cli = traced("cli.js", ["parse", "0:1000:1"], nobody);
      expect([cli.code, cli.out]).toEqual([0, "0 1000 1\n"]);
      expect(cli.opened).toContain(join(pkg, "dist", "cli-bytecode.js.jsc"));
    });
  },
);

describe.skipIf(!isRoot)("the bytecode bundle's C (needs root: exec -r)", () => {
  /** C files where the package was built (native/, and where a bundle in src/core/ would look): compiling one fails, naming the plant. */
  const plant = () => {
    for (const dir of [join(built, "native"), join(built, "src", "native")]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "userns.c"), "#error planted where the package was built\n");
    }
    mkdirSync(join(built, "src", "core"), { recursive: true });
  };
  afterAll(() => rmSync(built, { recursive: true, force: true }));

  test("compiles the native/ beside the dist/ it runs from, not a file now at the path where it was built", () => {
    plant();
    const r = run([process.execPath, join(pkg, "dist", "cli.js"), "exec", "-r", "-n", "--", "sh", "-c", "id -u"]);
    expect([r.code, r.out, r.err]).toEqual([0, "0\n", ""]);
  });

  test("loaded without being told where it runs, it compiles no C from the path where it was built", () => {
    plant();
    const bundle = join(pkg, "dist", "cli-bytecode.js");
    const script = `process.exitCode = await require(${JSON.stringify(bundle)}).main(["exec", "-r", "--", "true"]);`;
    const r = run([process.execPath, "-e", script]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("cannot load the native helper");
    expect(r.err).not.toContain("planted");
  });
});
