// The benchmark must keep running: a quick pass, checked for shape only.
// Timing targets live in `bun run bench`, never here.
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanupBase } from "./support/mounts.ts";
import { EMULATED, isRoot } from "./support/proc.ts";

test.skipIf(!isRoot)(
  "bun run bench --quick produces every row and target (needs root)",
  () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-bench-"));
    const out = join(dir, "bench.json");
    // The bench's own scratch files go in this test's directory (its TMPDIR), removed below.
    const r = Bun.spawnSync([process.execPath, join(import.meta.dir, "bench", "run.ts"), "--quick", "--out", out], {
      env: { ...process.env, PATH: process.env.PATH ?? "", TMPDIR: dir },
    });
    if (!existsSync(out))
      throw new Error(`the bench wrote no report (exit ${r.exitCode}): ${r.stderr.toString().slice(-2000)}`);
    const doc = JSON.parse(readFileSync(out, "utf8"));
    cleanupBase(dir);
    expect(r.exitCode).toBe(0);
    const names: string[] = doc.rows.map((row: { name: string }) => row.name);
    for (const part of [
      "bun-userns unshareAfterEnterUserns [ipc]",
      "bun-userns unshareAfterEnterUserns [ns,ipc,net]",
      "of touched caller memory",
      "10 in flight",
      "100 in flight",
      "4 Workers",
      "cold: bun -e 0",
      "cold: bun -e <import bun-userns + one cycle>",
      "one-shot: bun -e 0",
      "one-shot: bun-userns --version (packed)",
      "one-shot: bun-userns --help (packed)",
      "one-shot: bun-userns --version (checkout: src/)",
      "one-shot: bun -e 'await import(\"bun-userns\")' (no call)",
      "one-shot: bun-userns exec -r -n -- true (packed)",
      "one-shot: bun-userns run -r -- true (packed)",
      "one-shot: bun-userns exec -r -n -- true (checkout: src/)",
      "one-shot: bun-userns run -r -- true (checkout: src/)",
      "one-shot: bun-userns mount",
      "one-shot: bun-userns umount",
      "one-shot: bun-userns pin",
      "one-shot: bun-userns unpin",
    ]) {
      expect(names.some((n) => n.includes(part))).toBe(true);
    }
    for (const row of doc.rows) expect(row.opsPerSec).toBeGreaterThan(0);
    const what: string[] = doc.targets.map((t: { what: string }) => t.what);
    expect(what.some((w) => w.includes("in flight"))).toBe(true);
    expect(what.some((w) => w.includes("cold one-shot"))).toBe(true);
    // Each one-shot command with a target (as packed: what bunx and npx run) is held to bun -e 0, in the same run.
    expect(what.filter((w) => w.startsWith("one-shot:") && w.endsWith("/ bun -e 0 median")).length).toBe(9);
    // The floor is compared where a C compiler exists, or its absence is said.
    const hasFloor = names.some((n) => n.startsWith("C floor"));
    // With a compiler here the floor must build: a skipped floor would hide a broken native API.
    if (Bun.which("cc") ?? Bun.which("gcc")) expect(hasFloor).toBe(true);
    else expect(doc.notes.some((n: string) => n.startsWith("C floor skipped"))).toBe(true);
    expect(r.stdout.toString()).toContain("× floor");
  },
  // Under emulation (the arm64 VM) every row is ~10x slower, the sandbox's whole-command rows most of all.
  EMULATED ? 900000 : 120000,
);
