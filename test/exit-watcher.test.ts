/**
 * SpawnInside's exit watcher — a Worker blocked in epoll_pwait on
 * the commands' pidfds that reports exits at once (src/exec/exit-watcher.ts); the timer alone
 * where it does not run. Each case runs in a fresh process: the watcher
 * starts at a thread's second command.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const fixture = join(import.meta.dir, "fixtures", "watcher-check.ts");

async function check(args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawn([process.execPath, fixture, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out: out.trim() ? JSON.parse(out.trim()) : null, err, code };
}

test("on the main thread the watcher reports exits: every code right, no pidfd left, the process ends by itself", async () => {
  const r = await check(["60"]);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  expect(r.out.state).toBe("ready");
  expect(r.out.codesOk).toBe(true);
  // One notice per wake-up: at least one, never more than there were exits.
  expect(r.out.notices).toBeGreaterThan(0);
  expect(r.out.notices).toBeLessThanOrEqual(120);
  expect(r.out.pidfds).toBe(0);
});

test("one command starts no watcher; a second starts it, and from then on even a command that ends at once is reported by it", async () => {
  const r = await check(["20", "--short"]);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  expect([r.out.afterOne, r.out.state, r.out.pidfds]).toEqual(["off", "ready", 0]);
  // At least one of the twenty exits was the watcher's to report (the timer may reap one first).
  expect(r.out.shortNotices).toBeGreaterThan(0);
});

test("BUN_USERNS_EXIT_WATCHER=0: no watcher, the timer alone reaps everything", async () => {
  const r = await check(["40"], { BUN_USERNS_EXIT_WATCHER: "0" });
  expect(r.code).toBe(0);
  expect(r.out).toEqual({ state: "unavailable", notices: 0, codesOk: true, pidfds: 0 });
});

test("a watcher that dies at start: its epoll set is closed, no pidfd is left, the timer reaps everything", async () => {
  const r = await check(["30", "--broken-worker"]);
  expect(r.code).toBe(0);
  expect(r.out).toEqual({ state: "unavailable", notices: 0, codesOk: true, pidfds: 0 });
});

test("in a Worker: no nested watcher (it could outlive the Worker in epoll_pwait), the timer reaps everything", async () => {
  const r = await check(["30", "--worker"]);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  expect(r.out).toEqual({ state: "unavailable", notices: 0, codesOk: true, pidfds: 0 });
});

test("process.exit while the watcher is blocked on a running command: the exit code is ours, nothing is held up", async () => {
  const r = await check(["10", "--exit"]);
  expect(r.code).toBe(3);
  expect(r.out.state).toBe("ready");
  expect(r.out.codesOk).toBe(true);
  // The sleep was the fixture's child: PDEATHSIG ends it when the fixture exits.
  let gone = false;
  for (let i = 0; i < 200 && !gone; i++) {
    gone = !existsSync(`/proc/${r.out.sleeper}`) || readFileSync(`/proc/${r.out.sleeper}/stat`, "utf8").includes(") Z");
    if (!gone) await Bun.sleep(10);
  }
  expect(gone).toBe(true);
});
