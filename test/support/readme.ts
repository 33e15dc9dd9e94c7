/** Run the first ```typescript block of a README section as printed, against this checkout's src/. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

export function runReadmeExample(heading: string): { code: string; stdout: string; stderr: string; exitCode: number } {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const at = readme.indexOf(heading);
  if (at < 0) throw new Error(`README has no section ${JSON.stringify(heading)}`);
  const code = /```typescript\n([\s\S]*?)```/.exec(readme.slice(at))?.[1] ?? "";
  const file = join(mkdtempSync(join(tmpdir(), "bun-userns-readme-")), "example.ts");
  writeFileSync(file, code.replaceAll('from "bun-userns"', `from ${JSON.stringify(join(ROOT, "src", "index.ts"))}`));
  const r = Bun.spawnSync([process.execPath, file], { stdout: "pipe", stderr: "pipe" });
  return { code, stdout: r.stdout.toString(), stderr: r.stderr.toString(), exitCode: r.exitCode ?? -1 };
}
