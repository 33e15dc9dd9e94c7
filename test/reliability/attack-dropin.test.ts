// The drop-in options of spawnInside (unshare, timeOffsets, root, mountProc,
// cwd, ids, fork) attacked from inside the namespaces and from another uid:
// no path the inside controls makes the caller wait on it or act outside what
// was asked, and nobody reaches the caller's memory through the new steps.

import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "bun";
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

/** Every process whose user namespace is LINK. */
function inNamespace(link: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/user`) === link) out.push(Number(e));
    } catch {}
  }
  return out;
}

const needsFuse = !isRoot ? " — skipped: needs root" : !existsSync("/dev/fuse") ? " — skipped: no /dev/fuse" : "";

describe.skipIf(needsFuse !== "")(`the caller killed while its entering child waits inside${needsFuse}`, () => {
  test("a lookup the inside stalls (FUSE) after entering a user namespace: the caller's SIGKILL leaves nothing of it alive", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-fuse-stall-"));
    const p = Bun.spawn([process.execPath, join(FIXTURES, "fuse-stall.ts"), dir], {
      stdout: "pipe",
      stderr: "pipe",
      env,
    });
    let server = 0;
    try {
      const reader = p.stdout.getReader();
      let text = "";
      while (text.split("\n").length < 3) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`fixture ended: ${await new Response(p.stderr).text()}`);
        text += new TextDecoder().decode(value);
      }
      const { user, server: s } = JSON.parse(text.split("\n")[1] as string) as { user: string; server: number };
      server = s;
      // The entering child is in the helper's user namespace, waiting in the lookup.
      const deadline = Date.now() + 10_000;
      while (inNamespace(user).length < 2 && Date.now() < deadline) await Bun.sleep(20);
      expect(inNamespace(user).length).toBeGreaterThanOrEqual(2);
      p.kill("SIGKILL");
      await p.exited;
      let left = inNamespace(user);
      for (let i = 0; i < 100 && left.length > 0; i++) {
        await Bun.sleep(20);
        left = inNamespace(user);
      }
      for (const pid of left) process.kill(pid, "SIGKILL"); // not leave them to the next test
      expect(left).toEqual([]);
    } finally {
      p.kill("SIGKILL");
      await p.exited;
      if (server > 0) process.kill(server, "SIGKILL");
      spawnSync(["umount", "-l", dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
