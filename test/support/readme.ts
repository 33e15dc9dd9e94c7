/** Run the first ```typescript block of a README section as printed, against this checkout's src/. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

/**
 * RENAME replaces fixed names the example uses on the host (a pin in /run/netns):
 * two copies of the suite running at once must not meet there.
 */
export function runReadmeExample(
  heading: string,
  rename: Record<string, string> = {},
): { code: string; stdout: string; stderr: string; exitCode: number } {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const at = readme.indexOf(heading);
  if (at < 0) throw new Error(`README has no section ${JSON.stringify(heading)}`);
  const code = /```typescript\n([\s\S]*?)```/.exec(readme.slice(at))?.[1] ?? "";
  let run = code.replaceAll('from "bun-userns"', `from ${JSON.stringify(join(ROOT, "src", "index.ts"))}`);
  for (const [from, to] of Object.entries(rename)) {
    if (!run.includes(from)) throw new Error(`the example has no ${JSON.stringify(from)} to rename`);
    run = run.replaceAll(from, to);
  }
  const dir = mkdtempSync(join(tmpdir(), "bun-userns-readme-"));
  try {
    const file = join(dir, "example.ts");
    writeFileSync(file, run);
    const r = Bun.spawnSync([process.execPath, file], { stdout: "pipe", stderr: "pipe" });
    return { code, stdout: r.stdout.toString(), stderr: r.stderr.toString(), exitCode: r.exitCode ?? -1 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
