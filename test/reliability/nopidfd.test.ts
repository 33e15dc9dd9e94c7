// Without pidfds (old kernel, seccomp profile): refuse up front, create
// nothing, and let doctor say why. The filter is built here with gcc.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const gcc = Bun.which("gcc");
const FIXTURES = join(import.meta.dir, "..", "fixtures");

describe.skipIf(!gcc)("without pidfd_open (needs gcc to build the seccomp wrapper)", () => {
  const dir = mkdtempSync(join(tmpdir(), "bun-userns-nopidfd-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const wrapper = join(dir, "no-pidfd");
  const built = gcc ? Bun.spawnSync([gcc, "-O2", "-o", wrapper, join(FIXTURES, "no-pidfd.c")]) : undefined;

  test("kernel doesn't support pidfd, before parsing, nothing created", () => {
    expect(built?.exitCode).toBe(0);
    const r = Bun.spawnSync([wrapper, process.execPath, join(FIXTURES, "pidfd-check.ts")]);
    expect(r.stderr.toString()).toBe("");
    const out = JSON.parse(r.stdout.toString());
    expect(out.supports).toBe(false);
    expect(out.errors).toHaveLength(3);
    for (const e of out.errors) {
      expect(e).toEqual({
        isUsernsError: true,
        message: "kernel doesn't support pidfd",
        code: "ENOSYS",
        step: "pidfd",
      });
    }
    expect(out.spawnAttempts).toBe(0);
  });

  test("doctor names the failing call and exits 1", () => {
    const r = Bun.spawnSync([
      wrapper,
      process.execPath,
      join(import.meta.dir, "..", "..", "src", "cli.ts"),
      "doctor",
      "--json",
    ]);
    expect(r.exitCode).toBe(1);
    const doc = JSON.parse(r.stdout.toString());
    const pidfd = doc.checks.find((c: { name: string }) => c.name === "pidfd");
    expect(pidfd).toMatchObject({ status: "fail", detail: "pidfd_open: function not implemented", required: true });
    expect(pidfd.hint).toContain("seccomp");
    expect(doc.ok).toBe(false);
  });
});
