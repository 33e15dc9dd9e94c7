// The contract between the C and the TypeScript (native/abi.h, src/core/contract.ts):
// declared once, held against every C struct by static asserts, compared whole at
// load. A build that differs in any request block, step table, op or option bit is
// refused, naming what differs, before any call could misread it.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BLOCKS, contractDiff, contractText } from "../src/core/contract.ts";

const ROOT = join(import.meta.dir, "..");
const PROBE = join(import.meta.dir, "fixtures", "regression-probe.ts");
const gcc = Bun.which("gcc");
const cross = Bun.which("aarch64-linux-gnu-gcc");
const SO_FLAGS = ["-nostdlib", "-ffreestanding", "-fno-stack-protector", "-fPIC", "-shared", "-O2"];
const tmp = mkdtempSync(join(tmpdir(), "bun-userns-contract-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of native/ with EDIT applied to each of its files (the edit must change something). */
function copy(name: string, edit: (file: string, text: string) => string): string {
  const dir = join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  Bun.spawnSync(["cp", "-r", join(ROOT, "native"), dir]);
  let changed = false;
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), "utf8");
    const edited = edit(f, text);
    if (edited !== text) {
      writeFileSync(join(dir, f), edited);
      changed = true;
    }
  }
  expect(changed).toBe(true);
  return dir;
}

function compile(compiler: string, dir: string, out: string, flags: string[]) {
  return Bun.spawnSync([compiler, ...flags, "-o", out, join(dir, "userns.c")], { stderr: "pipe" });
}

/** Build DIR as a .so and load it through BUN_USERNS_LIB in a child: the probe's outcome. */
async function load(dir: string) {
  const so = `${dir}.so`;
  const b = compile(gcc as string, dir, so, SO_FLAGS);
  if (b.exitCode !== 0) throw new Error(`gcc failed: ${b.stderr.toString()}`);
  const p = Bun.spawn([process.execPath, PROBE, "load"], {
    env: { ...process.env, BUN_USERNS_LIB: so },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return JSON.parse(out.trim().split("\n").at(-1) ?? "null");
}

/** Grow struct NAME by a trailing u64, and its table entries with it (so the copy still compiles). */
function grow(name: string, size: number) {
  return (file: string, text: string) => {
    let t = text.replace(new RegExp(`(struct ${name} \\{[^}]*)\\};`), "$1\tu64 contract_probe;\n};");
    if (file === "abi.h") {
      t = t.replace(`B(${name}, ${size})`, `B(${name}, ${size + 8})`);
      t = t.replace("#define CONTRACT_FIELDS(F)", `#define CONTRACT_FIELDS(F) F(${name}, contract_probe, ${size}, 8)`);
    }
    return t;
  };
}

describe("the contract's text", () => {
  test("what the loaded C reports is this package's, line for line (the load compares it)", async () => {
    const { nativeInfo } = await import("../src/core/native.ts");
    expect(nativeInfo().mode === "cc" || nativeInfo().mode === "dlopen").toBe(true);
    expect(contractDiff(contractText())).toEqual([]);
  });

  test("a difference is named: a moved field, a missing op, an unknown step", () => {
    const ours = contractText();
    const moved = ours.replace("field xreq pid 40 4", "field xreq pid 44 4");
    expect(contractDiff(moved)).toEqual([
      'the build has "field xreq pid 44 4", this package expects "field xreq pid 40 4"',
    ]);
    expect(contractDiff(ours.replace("op exec_poll 31\n", ""))).toEqual(['the build lacks "op exec_poll 31"']);
    expect(contractDiff(`${ours}step exec extra none\n`)).toEqual([
      'the build has "step exec extra none", which this package does not know',
    ]);
  });
});

describe.skipIf(!gcc)("a mismatched native build is refused at load (needs gcc)", () => {
  test("an unchanged copy loads", async () => {
    expect(await load(copy("same", (f, t) => (f === "abi.h" ? `${t}\n` : t)))).toEqual({ ok: true });
  }, 60000);

  for (const [name, block] of Object.entries(BLOCKS)) {
    test(`request block ${name}: a build whose struct grew is refused, naming the block and the field`, async () => {
      const e = await load(copy(`grow-${name}`, grow(name, block.size)));
      expect(e).toMatchObject({ name: "UsernsError", code: "ENOEXEC", step: "native" });
      expect(e.message).toContain(`the build has "block ${name} ${block.size + 8}"`);
      expect(e.message).toContain(`"field ${name} contract_probe ${block.size} 8", which this package does not know`);
    }, 60000);
  }

  test("two of a command's steps swapped (a stale build that would mislabel every failure) are refused", async () => {
    const e = await load(
      copy("swap-steps", (f, t) =>
        f === "abi.h"
          ? t
              .replace("X(STDIO, stdio, dup3)", "@STDIO@")
              .replace("X(SETNS_FD, setns_fd, setns)", "X(STDIO, stdio, dup3)")
              .replace("@STDIO@", "X(SETNS_FD, setns_fd, setns)")
          : t,
      ),
    );
    expect(e).toMatchObject({ name: "UsernsError", code: "ENOEXEC", step: "native" });
    expect(e.message).toContain(
      'the build has "step exec setns_fd setns", this package expects "step exec stdio dup3"',
    );
  }, 60000);

  test("an op renumbered, an option bit moved: refused", async () => {
    const op = await load(
      copy("op", (f, t) =>
        f === "abi.h" ? t.replace("X(EXEC_POLL, exec_poll, 31)", "X(EXEC_POLL, exec_poll, 41)") : t,
      ),
    );
    expect(op.message).toContain('the build has "op exec_poll 41", this package expects "op exec_poll 31"');
    const bit = await load(
      copy("bit", (f, t) => (f === "abi.h" ? t.replace("C(XOPT_OWN_MM, 32)", "C(XOPT_OWN_MM, 256)") : t)),
    );
    expect(bit.message).toContain('the build has "const XOPT_OWN_MM 256", this package expects "const XOPT_OWN_MM 32"');
  }, 60000);
});

// The structs are held to the table on each architecture by the static asserts of
// native/contract.c: a struct that differs from its table entry does not compile.
for (const [arch, compiler] of [
  ["x86_64", process.arch === "x64" ? gcc : undefined],
  ["aarch64", process.arch === "arm64" ? gcc : cross],
] as const) {
  describe.skipIf(!compiler)(`the C structs against the table on ${arch} (needs a gcc for ${arch})`, () => {
    test("the package's native/ builds; a struct whose field moved without its table entry does not", () => {
      const flags = ["-fsyntax-only", "-nostdlib", "-ffreestanding"];
      const ok = compile(compiler as string, join(ROOT, "native"), "/dev/null", flags);
      expect(ok.stderr.toString()).toBe("");
      expect(ok.exitCode).toBe(0);
      const dir = copy(`moved-${arch}`, (f, t) =>
        f === "exec.c"
          ? t.replace("\ts32 pid;              /*  40", "\ts32 spare;\n\ts32 pid;              /*  40")
          : t,
      );
      const bad = compile(compiler as string, dir, "/dev/null", flags);
      expect(bad.exitCode).not.toBe(0);
      expect(bad.stderr.toString()).toContain("contract: xreq.pid");
    });
  });
}
