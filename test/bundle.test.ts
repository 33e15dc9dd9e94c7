// A program that imports the package, bundled the two ways Bun ships programs
// (`bun build --compile`, `bun build --target bun`), runs a helper cycle: the C
// travels inside the bundle and is compiled from a private copy removed at once.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NATIVE_TEXTS } from "../src/core/native-texts.ts";
import { isRoot } from "./support/proc.ts";

const SRC = join(import.meta.dir, "..", "src");
const PROGRAM = `
import { readFileSync, readlinkSync } from "node:fs";
import { CLONE_NEWIPC, nativeInfo, unshareAfterEnterUserns } from ${JSON.stringify(join(SRC, "index.ts"))};
try {
  let uidMap = "";
  let newIpc = false;
  await unshareAfterEnterUserns("0:1000:10", "0:1000:10", CLONE_NEWIPC, (pid) => {
    uidMap = readFileSync(\`/proc/\${pid}/uid_map\`, "utf8");
    newIpc = readlinkSync(\`/proc/\${pid}/ns/ipc\`) !== readlinkSync("/proc/self/ns/ipc");
  });
  console.log(JSON.stringify({ uidMap, newIpc, native: nativeInfo() }));
} catch (e) {
  console.log(JSON.stringify({ error: { code: e.code, message: e.message, hint: e.hint } }));
  process.exitCode = 1;
}
`;

const base = mkdtempSync(join(tmpdir(), "bun-userns-bundle-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function sh(argv: string[], env: Record<string, string> = {}, cwd = base) {
  const r = Bun.spawnSync(argv, { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** A fresh TMPDIR for one run, so what the run leaves there can be seen. */
function scratch(name: string): string {
  const dir = join(base, `tmp-${name}`);
  mkdirSync(dir);
  return dir;
}

/** What a run left in its TMPDIR, apart from bun:ffi's own header directory (bun-cc-UID, made and reused by every cc()). */
function left(tmp: string): string[] {
  return readdirSync(tmp).filter((n) => n !== `bun-cc-${process.getuid?.()}`);
}

function build(args: string[]): void {
  const r = sh([process.execPath, "build", join(base, "prog.ts"), ...args]);
  expect(r.err).not.toContain("error");
  expect(r.code).toBe(0);
}

test("a bundle carries every file of native/ (a new C file must be added to src/core/native-texts.ts)", () => {
  const carried = Object.keys(NATIVE_TEXTS).sort();
  expect(carried).toEqual(readdirSync(join(SRC, "..", "native")).sort());
  for (const name of carried) expect(NATIVE_TEXTS[name]).toBe(readFileSync(join(SRC, "..", "native", name), "utf8"));
});

describe.skipIf(!isRoot)("bundled programs (needs root: maps uid 1000)", () => {
  writeFileSync(join(base, "prog.ts"), PROGRAM);

  test("bun build --compile: the single-file executable compiles the C it carries and runs a cycle", () => {
    build(["--compile", "--outfile", join(base, "prog")]);
    const tmp = scratch("compile");
    const r = sh([join(base, "prog")], { TMPDIR: tmp }, "/");
    expect(r.err).toBe("");
    expect(JSON.parse(r.out)).toMatchObject({
      uidMap: "         0       1000         10\n",
      newIpc: true,
      native: { mode: "cc", path: "native/userns.c (carried by the bundle)" },
    });
    expect(left(tmp)).toEqual([]); // the private copy of the C is gone
  }, 60000);

  test("bun build --target bun: the bundle runs a cycle from anywhere, with no native/ beside it", () => {
    build(["--target", "bun", "--outdir", join(base, "out")]);
    expect(readdirSync(join(base, "out"))).toEqual(["prog.js"]); // one file: the C is inside it
    const tmp = scratch("target");
    const r = sh([process.execPath, join(base, "out", "prog.js")], { TMPDIR: tmp }, "/");
    expect(r.err).toBe("");
    expect(JSON.parse(r.out)).toMatchObject({ uidMap: "         0       1000         10\n", newIpc: true });
    expect(left(tmp)).toEqual([]);
  }, 60000);

  test("a bundle that cannot write its C for TinyCC says so and what to do", () => {
    build(["--compile", "--outfile", join(base, "prog-notmp")]);
    const r = sh([join(base, "prog-notmp")], { TMPDIR: join(base, "no-such-dir") }, "/");
    expect(r.code).toBe(1);
    const { error } = JSON.parse(r.out);
    expect(error.code).toBe("ENOEXEC");
    expect(error.message).toContain(join(base, "no-such-dir"));
    expect(error.hint).toContain("TMPDIR");
    expect(error.hint).toContain("BUN_USERNS_LIB");
  }, 60000);

  test("the CLI compiled to one executable loads each command from inside it", () => {
    const cli = join(base, "bun-userns");
    const b = sh([process.execPath, "build", join(SRC, "cli.ts"), "--compile", "--outfile", cli]);
    expect(b.code).toBe(0);
    const tmp = scratch("cli");
    const r = sh([cli, "exec", "-r", "-n", "--", "sh", "-c", "id -u; grep -c : /proc/net/dev"], { TMPDIR: tmp }, "/");
    expect(r.err).toBe("");
    expect(r.out).toBe("0\n1\n"); // root inside, only lo
    expect(r.code).toBe(0);
    expect(left(tmp)).toEqual([]);
  }, 60000);
});
