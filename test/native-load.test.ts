import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

describe.skipIf(!isRoot || !gcc)("dlopen path (BUN_USERNS_LIB, needs root and gcc)", () => {
  test("a gcc build of the same file loads through dlopen and runs a full cycle", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-so-"));
    try {
      await dlopenCycle(join(dir, "libuserns.so"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);

  async function dlopenCycle(so: string): Promise<void> {
    const build = await run([
      gcc as string,
      "-O2",
      "-Wall",
      "-Werror",
      "-nostdlib",
      "-ffreestanding",
      "-fno-stack-protector",
      "-fPIC",
      "-shared",
      "-o",
      so,
      SOURCE_PATH,
    ]);
    expect(build.err).toBe("");
    expect(existsSync(so)).toBe(true);
    const nm = await run(["nm", "-D", "--undefined-only", so]);
    expect(nm.out.trim()).toBe(""); // libc-free: nothing to resolve
    const r = await run([process.execPath, fixture("load-check.ts")], { BUN_USERNS_LIB: so });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out.trim().split("\n").at(-1) as string);
    expect(out.native).toMatchObject({ mode: "dlopen", path: so });
    expect(out.uidMap).toBe("         0       1000         10\n");
    expect(out.owner).toBe(1000);
  }

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
