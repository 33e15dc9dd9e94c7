// The README's TypeScript examples must run as printed.
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot } from "./support/proc.ts";

const ROOT_DIR = join(import.meta.dir, "..");
const blocks = [...readFileSync(join(ROOT_DIR, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map(
  (m) => m[1] as string,
);

test("the README has TypeScript examples", () => {
  expect(blocks.length).toBeGreaterThan(0);
});

blocks.forEach((code, i) => {
  test.skipIf(!isRoot)(`README example ${i + 1} runs (needs root)`, () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-readme-"));
    const file = join(dir, "example.ts");
    writeFileSync(
      file,
      code.replaceAll('from "bun-userns"', `from ${JSON.stringify(join(ROOT_DIR, "src", "index.ts"))}`),
    );
    const r = Bun.spawnSync([process.execPath, file]);
    rmSync(dir, { recursive: true, force: true });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const out = r.stdout.toString();
    expect(out).toContain("         0       1000         10");
    expect(out).toContain("failed to ensure child process is alive: no such process ESRCH liveness");
    expect(out).toContain("100000");
  });
});
