// What a terminated Worker's calls leave (helpers, spawnInside commands, their
// pidfds and pipe ends) is collected by the main thread's reapOrphans(), and
// only that: a live Worker's processes, even dead ones, stay its own.
import { expect, test } from "bun:test";
import { readdirSync, readlinkSync } from "node:fs";
import { reapOrphans } from "../../src/index.ts";
import { childPids, exists, isRoot, procState, ROOT_ONLY } from "../support/proc.ts";

const rootTest = isRoot ? test : test.skip;
if (!isRoot) console.warn(ROOT_ONLY);
const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).href;

/** Our pidfds and pipe ends (the kinds a terminated Worker's commands leave open). */
function heldFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const l = readlinkSync(`/proc/self/fd/${fd}`);
      if (l.includes("pidfd") || l.startsWith("pipe:")) out.push(l);
    } catch {}
  }
  return out.sort();
}

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const t0 = performance.now();
  while (!what() && performance.now() - t0 < ms) await Bun.sleep(5);
}

rootTest(
  "a Worker terminated with spawnInside commands running: reapOrphans kills and reaps them and closes their pidfds and pipes",
  async () => {
    reapOrphans();
    const before = heldFds();
    const w = new Worker(fixture("worker-commands.ts"));
    const got = await new Promise<{ helper: number; commands: number[] }>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = reject;
      w.postMessage({ count: 4 });
    });
    const all = [got.helper, ...got.commands];
    expect(got.commands.map(procState).every((s) => s === "S" || s === "R")).toBe(true);
    const closed = new Promise((resolve) => w.addEventListener("close", resolve));
    w.terminate();
    await closed;
    // PDEATHSIG ends them with their thread; the zombies are reparented to another thread of ours.
    await until(() => all.every((p) => procState(p) === "Z"));
    expect(all.map(procState)).toEqual(all.map(() => "Z"));
    expect(reapOrphans()).toBe(all.length);
    expect(all.map(exists)).toEqual(all.map(() => false));
    expect(childPids().filter((p) => all.includes(p))).toEqual([]);
    expect(heldFds()).toEqual(before);
    expect(reapOrphans()).toBe(0);
  },
  30_000,
);

rootTest(
  "a live Worker's dead helper is not reaped by the main thread; the Worker's own release reaps it",
  async () => {
    reapOrphans();
    const w = new Worker(fixture("worker-dead-helper.ts"));
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        w.onmessage = (e) => resolve(e.data);
        w.onerror = reject;
        w.postMessage("start");
      });
      await until(() => procState(pid) === "Z");
      expect(procState(pid)).toBe("Z");
      expect(reapOrphans()).toBe(0);
      expect(procState(pid)).toBe("Z");
      const r = await new Promise<{ released: boolean }>((resolve) => {
        w.onmessage = (e) => resolve(e.data);
        w.postMessage("release");
      });
      expect(r.released).toBe(true);
      expect(exists(pid)).toBe(false);
    } finally {
      w.terminate();
    }
  },
);
