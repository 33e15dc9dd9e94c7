import { expect, test } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

test("the test script's per-test timeout is in force: a 6 s test passes under it", async () => {
  const p = Bun.spawn([process.execPath, "run", "test", "./test/fixtures/slow-test.ts"], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(`${out}${err}`).toContain("(pass) outlasts bun test's default timeout");
  expect(code).toBe(0);
}, 60000);
