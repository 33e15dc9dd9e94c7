import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { SOURCE_PATH } from "../src/core/native.ts";
import { isRoot } from "./support/proc.ts";

const fixture = (name: string) => join(import.meta.dir, "fixtures", name);
const gcc = Bun.which("gcc");
const unshare = Bun.which("unshare");

async function run(cmd: string[], env: Record<string, string> = {}) {
  const p = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

describe.skipIf(!isRoot || !unshare)("native layer without a C toolchain (needs root and util-linux unshare)", () => {
  test("libc6-dev and headers hidden: a libc-linked cc() fails, ours loads and runs a full cycle", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "bun-userns-tcc-"));
    const r = await run(
      [unshare as string, "--mount", "sh", fixture("no-toolchain.sh"), process.execPath, fixture("load-check.ts")],
      { TMPDIR: tmp },
    );
    rmSync(tmp, { recursive: true, force: true }); // its mounts went with the private mount namespace
    expect(r.err).not.toContain("still visible");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out.trim().split("\n").at(-1) as string);
    // The control: without libc6-dev, TinyCC cannot link an ordinary file.
    expect(out.libcCompile).toStartWith("failed");
    expect(out.native.mode).toBe("cc");
    expect(out.uidMap).toBe("         0       1000         10\n");
    expect(out.owner).toBe(1000);
  }, 60000);
});

/** docs/api.md's build lines for BUN_USERNS_LIB, as written (run where native/ is ./native). */
function docBuildLines(): string[] {
  const api = readFileSync(join(import.meta.dir, "..", "docs", "api.md"), "utf8");
  const part = api.slice(api.indexOf("## Bundles and prebuilt libraries"));
  const block = /```sh\n([\s\S]*?)```/.exec(part)?.[1] ?? "";
  return block.split("\n").filter((l) => l.trim() !== "");
}

/** Runs one documented line in a scratch directory holding ./native; the library it built, or the failure. */
async function buildAsDocumented(line: string, dir: string): Promise<{ so: string; err: string; code: number }> {
  if (!existsSync(join(dir, "native"))) symlinkSync(dirname(SOURCE_PATH), join(dir, "native"));
  const r = Bun.spawn(["/bin/sh", "-c", line], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(r.stderr).text(), r.exited]);
  return { so: join(dir, /-o (\S+)/.exec(line)?.[1] ?? "?"), err, code };
}

test("docs/api.md shows one gcc line for this machine's arch and one arm64 cross build", () => {
  const lines = docBuildLines();
  expect(lines.length).toBe(2);
  expect(lines[0]).toStartWith("gcc ");
  expect(lines[1]).toStartWith("aarch64-linux-gnu-gcc ");
  for (const l of lines) expect(l).toEndWith(" native/userns.c");
});

describe.skipIf(!isRoot || !gcc)("dlopen path (BUN_USERNS_LIB, needs root and gcc)", () => {
  test("docs/api.md's gcc line builds a libc-free library that loads through dlopen and runs a full cycle", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-so-"));
    try {
      const build = await buildAsDocumented(docBuildLines()[0] as string, dir);
      expect(build.err).toBe("");
      expect(build.code).toBe(0);
      await dlopenCycle(build.so);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);

  async function dlopenCycle(so: string): Promise<void> {
    const nm = await run(["nm", "-D", "--undefined-only", so]);
    expect(nm.out.trim()).toBe(""); // libc-free: nothing to resolve
    const r = await run([process.execPath, fixture("load-check.ts")], { BUN_USERNS_LIB: so });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out.trim().split("\n").at(-1) as string);
    expect(out.native).toMatchObject({ mode: "dlopen", path: so });
    expect(out.uidMap).toBe("         0       1000         10\n");
    expect(out.owner).toBe(1000);
  }

  // Every clone child's stack top must be 16-aligned (x86_64 psABI, AAPCS64): gcc -O2 keeps 16-byte locals with
  // movaps, which faults on a stack 8 off, where TinyCC's code does not care. The command forked into a new pid
  // namespace starts on the deepest of the stacks carved from the request block, from Bun's memory or (a time
  // namespace made too) from the entering child's sealed copy.
  test("a gcc -O2 build runs a command forked into a new pid namespace (pid 1 there), in Bun's memory and from the sealed copy", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-so-O2-"));
    try {
      const so = join(dir, "libuserns.so");
      const flags = "-O2 -Wall -Werror -nostdlib -ffreestanding -fno-stack-protector -fPIC -shared".split(" ");
      const build = await run([gcc as string, ...flags, "-o", so, SOURCE_PATH]);
      expect(build.err).toBe("");
      expect(build.code).toBe(0);
      const src = join(import.meta.dir, "..", "src", "index.ts");
      const script = `
        import "${join(import.meta.dir, "support", "die-with-parent.ts")}";
        import { nativeInfo, spawnInside, startHelper } from "${src}";
        const h = startHelper("0:0:65536", "0:0:65536", 0x00020000 /* CLONE_NEWNS */);
        const runs = [];
        for (const unshare of [[], ["time"]]) {
          const p = spawnInside(h, ["sh", "-c", "echo $$"], {
            namespaces: ["user", "mnt"], newPidNamespace: true, unshare, stdio: ["ignore", "pipe", "inherit"],
          });
          runs.push({ out: (await new Response(p.stdout).text()).trim(), code: await p.exited });
        }
        h.release();
        console.log(JSON.stringify({ mode: nativeInfo().mode, runs }));`;
      const r = await run([process.execPath, "-e", script], { BUN_USERNS_LIB: so });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out.trim().split("\n").at(-1) as string)).toEqual({
        mode: "dlopen",
        runs: [
          { out: "1", code: 0 },
          { out: "1", code: 0 },
        ],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);

  test("a missing library is a clear UsernsError", async () => {
    const r = await run(
      [process.execPath, "-e", `import("${join(import.meta.dir, "../src/index.ts")}").then(m => m.nativeInfo())`],
      {
        BUN_USERNS_LIB: "/nonexistent/libuserns.so",
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("bun-userns: cannot load the native helper (dlopen /nonexistent/libuserns.so)");
  });
});

const crossGcc = Bun.which("aarch64-linux-gnu-gcc");
test.skipIf(!crossGcc)(
  "docs/api.md's arm64 line cross-builds an aarch64 library that links nothing and exports bun_userns (needs aarch64-linux-gnu-gcc)",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-so-arm64-"));
    try {
      const build = await buildAsDocumented(docBuildLines()[1] as string, dir);
      expect(build.err).toBe("");
      expect(build.code).toBe(0);
      const elf = readFileSync(build.so);
      expect(elf.readUInt16LE(18)).toBe(183); // e_machine EM_AARCH64
      const nm = Bun.which("aarch64-linux-gnu-nm") ?? "nm";
      expect((await run([nm, "-D", "--undefined-only", build.so])).out.trim()).toBe("");
      expect((await run([nm, "-D", "--defined-only", build.so])).out).toMatch(/ T bun_userns\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  60000,
);

/** Runs SCRIPT (given the package entry's path as ENTRY) in a fresh Bun; its last line of output, parsed. */
async function fresh(script: string): Promise<{ builds: string[]; [k: string]: unknown }> {
  const entry = JSON.stringify(join(import.meta.dir, "..", "src", "index.ts"));
  const env: Record<string, string> = { ...process.env } as Record<string, string>;
  delete env.BUN_USERNS_LIB;
  const p = Bun.spawn([process.execPath, "-e", `const m = await import(${entry});\n${script}`], {
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`exit ${code}: ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1) as string);
}

describe("two builds of the C: the core one for every call but sandbox()", () => {
  test("a helper cycle loads only the core build", async () => {
    const r =
      await fresh(`const h = m.startHelper("0:${process.getuid?.() ?? 0}:1", "0:${process.getgid?.() ?? 0}:1", 0);
      h.release(); console.log(JSON.stringify(m.nativeInfo()));`);
    expect(r.builds).toEqual(["core"]);
  });

  test.skipIf(!isRoot)("sandbox() first: one compile, the full build (needs uid 0 for the view)", async () => {
    const r =
      await fresh(`const p = m.sandbox(["/usr/bin/true"], { mounts: [{ type: "ro-bind", source: "/", target: "/" }] });
      const code = await p.exited; console.log(JSON.stringify({ code, ...m.nativeInfo() }));`);
    expect(r.code).toBe(0);
    expect(r.builds).toEqual(["full"]);
  });

  test.skipIf(!isRoot)(
    "sandbox() after other calls adds the full build beside the core one (needs uid 0)",
    async () => {
      const r = await fresh(`const h = m.startHelper("0:0:1", "0:0:1", 0); h.release();
      const before = m.nativeInfo().builds;
      const p = m.sandbox(["/usr/bin/true"], { mounts: [{ type: "ro-bind", source: "/", target: "/" }] });
      const code = await p.exited; console.log(JSON.stringify({ code, before, ...m.nativeInfo() }));`);
      expect(r.before).toEqual(["core"]);
      expect(r.code).toBe(0);
      expect(r.builds).toEqual(["core", "full"]);
    },
  );

  test("the core build has no sandbox code: its sandbox op answers ENOSYS; both answer the same contract", async () => {
    const { cc } = await import("bun:ffi");
    const { OPS } = await import("../src/core/contract.ts");
    const symbols = { bun_userns: { args: ["i32", "ptr", "i32", "i32"], returns: "i32" } } as const;
    const build = (flags: string[]) => cc({ source: SOURCE_PATH, flags: ["-nostdlib", ...flags], symbols }).symbols;
    const core = build(["-DBUN_USERNS_CORE"]);
    const full = build([]);
    expect(core.bun_userns(OPS.sandbox, new Uint8Array(512), -1, -1)).toBe(-38);
    // The full build reaches its code: a request with no registry fd is refused there (EBADF), before anything starts.
    expect(full.bun_userns(OPS.sandbox, new Uint8Array(512), -1, -1)).toBe(-9);
    const text = (s: typeof core) => {
      const buf = new Uint8Array(65536);
      const n = s.bun_userns(OPS.abi, buf, buf.length, 0);
      return new TextDecoder().decode(buf.subarray(0, n));
    };
    expect(text(core)).toStartWith("abi ");
    expect(text(core)).toBe(text(full));
  });
});
