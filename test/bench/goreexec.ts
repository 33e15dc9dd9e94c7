/** Go's re-exec approach (containerd's), where Go is installed. */
import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function buildGo(): { path: string } | { skipped: string } {
  const go = Bun.which("go");
  if (!go) return { skipped: "Go is not installed (apt-get install golang-go to include containerd's re-exec method)" };
  const dir = mkdtempSync(join(tmpdir(), "bun-userns-go-"));
  cpSync(join(import.meta.dir, "go", "main.go"), join(dir, "main.go"));
  const out = join(dir, "goreexec");
  const r = Bun.spawnSync([go, "build", "-o", out, "main.go"], {
    cwd: dir,
    env: {
      ...process.env,
      GOPATH: join(dir, "gopath"),
      GOCACHE: join(dir, "cache"),
      GOFLAGS: "-mod=mod",
      GO111MODULE: "off",
    },
  });
  if (r.exitCode !== 0) return { skipped: `go build failed: ${r.stderr.toString().trim()}` };
  return { path: out };
}

export function goCycles(path: string, flags: number, n: number): number[] {
  const r = Bun.spawnSync([path, `0x${flags.toString(16)}`, String(n)]);
  const text = r.stdout.toString().trim();
  if (r.exitCode !== 0) throw new Error(`go re-exec failed: ${text}`);
  return text.split(" ").map((ns) => Number(ns) / 1000);
}
