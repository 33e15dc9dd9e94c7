// The drop-in options of spawnInside (unshare, timeOffsets, root, mountProc,
// cwd, ids, fork) attacked from inside the namespaces and from another uid:
// no path the inside controls makes the caller wait on it or act outside what
// was asked, and nobody reaches the caller's memory through the new steps.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isRoot } from "../support/proc.ts";

const FIXTURES = join(import.meta.dir, "..", "fixtures");
const env = { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" };
const needsTime = !isRoot
  ? " — skipped: needs root"
  : !existsSync("/proc/self/ns/time")
    ? " — skipped: no time namespaces (CONFIG_TIME_NS)"
    : "";

/** Run a fixture as a process of its own, killed after ms: its stdout lines, and whether it finished. */
async function runFixture(name: string, ms: number): Promise<{ lines: string[]; finished: boolean; stderr: string }> {
  const p = Bun.spawn([process.execPath, join(FIXTURES, name)], {
    stdout: "pipe",
    stderr: "pipe",
    env,
    timeout: ms,
    killSignal: "SIGKILL",
  });
  const [out, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  return { lines: out.trim().split("\n"), finished: p.signalCode === null, stderr };
}

describe.skipIf(needsTime !== "")(`a /proc planted inside the entered mount namespace${needsTime}`, () => {
  test("timeOffsets go to the command's time namespace through our /proc, never to a FIFO the inside planted", async () => {
    const r = await runFixture("planted-proc.ts", 20_000);
    expect(r.stderr).toBe("");
    expect(r.finished).toBe(true);
    expect(r.lines[0]).toBe("planted");
    expect(JSON.parse(r.lines[1] as string)).toEqual({ offsets: "monotonic 0 0\nboottime 4242 0\n" });
  });
});
