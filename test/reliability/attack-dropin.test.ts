// The drop-in options of spawnInside (unshare, timeOffsets, root, mountProc,
// cwd, ids, fork) attacked from inside the namespaces and from another uid:
// no path the inside controls makes the caller wait on it or act outside what
// was asked, and nobody reaches the caller's memory through the new steps.

import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "bun";
import { spawnInside, UsernsError } from "../../src/index.ts";
import { thrown } from "../support/errors.ts";
import { isRoot, othersTmp, setSysctl } from "../support/proc.ts";

const FIXTURES = join(import.meta.dir, "..", "fixtures");
const env = { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" };
const needsTime = !isRoot
  ? " — skipped: needs root"
  : !existsSync("/proc/self/ns/time")
    ? " — skipped: no time namespaces (CONFIG_TIME_NS)"
    : "";

/**
 * Run a fixture as a process of its own, killed after ms: its stdout lines, and whether it finished. Its output
 * is read until it exits (and a moment more), not until EOF: a child of it left waiting would hold the pipes.
 */
async function runFixture(name: string, ms: number): Promise<{ lines: string[]; finished: boolean; stderr: string }> {
  const p = Bun.spawn([process.execPath, join(FIXTURES, name)], {
    stdout: "pipe",
    stderr: "pipe",
    env,
    timeout: ms,
    killSignal: "SIGKILL",
  });
  const collect = (s: ReadableStream<Uint8Array>) => {
    const reader = s.getReader();
    const text = { s: "" };
    const done = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text.s += new TextDecoder().decode(value);
      }
    })();
    return { text, done, reader };
  };
  const out = collect(p.stdout);
  const err = collect(p.stderr);
  await p.exited;
  await Promise.race([Promise.all([out.done, err.done]), Bun.sleep(1000)]);
  out.reader.cancel().catch(() => {});
  err.reader.cancel().catch(() => {});
  return { lines: out.text.s.trim().split("\n"), finished: p.signalCode === null, stderr: err.text.s };
}

describe.skipIf(needsTime !== "")(`a /proc planted inside the entered mount namespace${needsTime}`, () => {
  test("timeOffsets go to the command's time namespace through our /proc, never to a FIFO the inside planted", async () => {
    const r = await runFixture("planted-proc.ts", 20_000);
    const { planted } = JSON.parse(r.lines[0] as string) as { planted: string };
    // An entering child left waiting on the FIFO would outlive the fixture: not left to the next test.
    const left = inNamespace(planted);
    for (const pid of left) process.kill(pid, "SIGKILL");
    expect(r.stderr).toBe("");
    expect(r.finished).toBe(true);
    expect(left).toEqual([]);
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
  for (const [who, mode] of [
    ["the entering child in the caller's sealed mm", []],
    ["the sealed copy (a caller without CAP_SYS_PTRACE)", ["noptrace"]],
  ] as const)
    test(`a lookup the inside stalls (FUSE) after entering a user namespace, ${who}: the caller's SIGKILL leaves nothing of it alive`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "bun-userns-fuse-stall-"));
      const p = Bun.spawn([process.execPath, join(FIXTURES, "fuse-stall.ts"), dir, ...mode], {
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

/** An object whose getters count their reads and return FIRST once, then LATER. */
function lying(values: Record<string, [unknown, unknown]>) {
  const reads: Record<string, number> = {};
  const o = {};
  for (const [k, [first, later]] of Object.entries(values))
    Object.defineProperty(o, k, {
      enumerable: true,
      get() {
        reads[k] = (reads[k] ?? 0) + 1;
        return reads[k] === 1 ? first : later;
      },
    });
  return { o, reads };
}

describe.skipIf(needsTime !== "")(`the new options lie on a second read${needsTime}`, () => {
  test("root, mountProc, unshare and the nested timeOffsets are read once: what was validated is what the command gets", async () => {
    const t = lying({ boottime: [4242, "not a number"], monotonic: [0, -1e15] });
    const b = lying({
      unshare: [["mnt", "time"], ["user"]],
      timeOffsets: [t.o, { boottime: 1 }],
      root: ["/", "/nonexistent-bun-userns-root"],
      mountProc: ["/proc", 7],
      killSignal: ["SIGKILL", {}],
      keepCaps: [false, "yes"],
      propagation: ["private", "bogus"],
    });
    const p = spawnInside(process.pid, ["cat", "/proc/self/timens_offsets"], {
      ...(b.o as object),
      namespaces: [],
      stdio: ["ignore", "pipe", "inherit"],
    });
    expect((await new Response(p.stdout).text()).replace(/ +/g, " ")).toBe("monotonic 0 0\nboottime 4242 0\n");
    expect(await p.exited).toBe(0);
    expect(Object.values(b.reads).every((n) => n === 1)).toBe(true);
    expect(t.reads).toEqual({ boottime: 1, monotonic: 1 });
  });
});

/** This process's children, from every thread. */
function children(): string[] {
  return readdirSync("/proc/self/task").flatMap((t) =>
    readFileSync(`/proc/self/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean),
  );
}

describe("bad input to the new options", () => {
  test("a wrong type is a TypeError naming the option, a wrong value EINVAL at step options; no process is started", () => {
    const before = children();
    const cases: [Record<string, unknown>, "type" | "value", string][] = [
      [{ unshare: "mnt" }, "type", "unshare"],
      [{ unshare: ["mnt", "bogus"] }, "value", "unshare"],
      [{ unshare: ["user"] }, "value", "unshare"],
      [{ propagation: "rslave", unshare: ["mnt"] }, "value", "propagation"],
      [{ propagation: "shared" }, "value", "propagation"],
      [{ root: 5 }, "type", "root"],
      [{ root: "" }, "value", "root"],
      [{ root: "/a\0b" }, "value", "root"],
      [{ mountProc: 1, unshare: ["mnt"] }, "type", "mountProc"],
      [{ mountProc: "", unshare: ["mnt"] }, "value", "mountProc"],
      [{ mountProc: true }, "value", "mountProc"],
      [{ timeOffsets: { boottime: 1 } }, "value", "timeOffsets"],
      [{ timeOffsets: 5, unshare: ["time"] }, "type", "timeOffsets"],
      [{ timeOffsets: { boottime: "x" }, unshare: ["time"] }, "type", "boottime"],
      [{ timeOffsets: { boottime: Number.NaN }, unshare: ["time"] }, "value", "boottime"],
      [{ timeOffsets: { bogus: 1 }, unshare: ["time"] }, "type", "bogus"],
      [{ killSignal: {} }, "type", "killSignal"],
      [{ killSignal: 0 }, "value", "killSignal"],
      [{ killSignal: 99 }, "value", "killSignal"],
      [{ killSignal: "SIGNOPE" }, "value", "killSignal"],
      [{ keepCaps: "yes" }, "type", "keepCaps"],
      [{ fork: "no" }, "type", "fork"],
      [{ uid: -1 }, "value", "uid"],
      [{ gid: 1.5 }, "value", "gid"],
      [{ uid: "root" }, "value", "uid"],
    ];
    for (const [o, kind, name] of cases) {
      let err: unknown;
      try {
        spawnInside(process.pid, ["true"], { namespaces: [], ...o } as never);
      } catch (e) {
        err = e;
      }
      const what = JSON.stringify(o);
      if (kind === "type") expect([what, err instanceof TypeError]).toEqual([what, true]);
      else
        expect([what, err instanceof UsernsError && err.code === "EINVAL" && err.step === "options"]).toEqual([
          what,
          true,
        ]);
      expect([what, String((err as Error).message).includes(name)]).toEqual([what, true]);
    }
    expect(children()).toEqual(before);
  });
});

describe.skipIf(!isRoot || !Bun.which("setpriv"))(
  `ids taken without a user namespace${!isRoot ? " — skipped: needs root" : !Bun.which("setpriv") ? " — skipped: needs setpriv" : ""}`,
  () => {
    // A root caller's entering child runs in Bun's mm, sealed; setresuid(1000) there is a credential
    // change (the mm's dumpable flag goes to fs.suid_dumpable, 0 or 2) and makes the child uid 1000's to
    // signal. Uid 1000 stops each one (and the command forked for it) and reads the secret's address.
    for (const [what, more] of [
      ["uid and gid 1000", { namespaces: [], uid: 1000, gid: 1000 }],
      ["uid and gid 1000, forked once more", { namespaces: [], uid: 1000, gid: 1000, fork: true }],
    ] as const)
      test(`${what}: that uid racing the entering children reaches nothing of the caller's memory`, async () => {
        const tmp = othersTmp("bun-userns-dropin-racer-");
        const p = Bun.spawn(
          [
            process.execPath,
            join(FIXTURES, "entering-victim.ts"),
            "0:100000:65536",
            "0:100000:65536",
            JSON.stringify(more),
          ],
          { stdin: "pipe", stdout: "pipe", stderr: "inherit", env },
        );
        try {
          const lines = p.stdout.getReader();
          const decoder = new TextDecoder();
          let text = "";
          while (!text.includes("\n")) text += decoder.decode((await lines.read()).value);
          const v = JSON.parse(text.slice(0, text.indexOf("\n")));
          text = text.slice(text.indexOf("\n") + 1);
          const racer = Bun.spawn(
            [
              "setpriv",
              "--reuid=1000",
              "--regid=1000",
              "--clear-groups",
              process.execPath,
              join(FIXTURES, "inside-racer.ts"),
              String(v.self),
              String(v.addr),
              v.hex,
              "1500",
              "20",
            ],
            { stdout: "pipe", stderr: "inherit", env: { ...env, HOME: tmp, TMPDIR: tmp } },
          );
          const raced = JSON.parse((await new Response(racer.stdout).text()).trim().split("\n").pop() as string);
          expect(await racer.exited).toBe(0);
          p.stdin.write("stop\n");
          p.stdin.end();
          for (;;) {
            const c = await lines.read();
            if (c.done) break;
            text += decoder.decode(c.value);
          }
          expect(await p.exited).toBe(0);
          const end = JSON.parse(text.trim().split("\n").pop() as string);
          expect(raced.tried).toBeGreaterThan(0);
          expect(raced.reached).toBe(0);
          expect(end.intact).toBe(true);
          expect(end.runs).toBeGreaterThan(0);
          for (const c of end.codes) expect(c).toBe("stopped");
        } finally {
          p.kill("SIGKILL");
          await p.exited;
          rmSync(tmp, { recursive: true, force: true });
        }
      }, 60_000);
  },
);

describe.skipIf(!isRoot)(`fs.suid_dumpable=1${isRoot ? "" : " — skipped: needs root to set it"}`, () => {
  test("ids taken without a user namespace are refused (EPERM at step dumpable, nothing started); keeping ours works", async () => {
    const before = children();
    const restore = setSysctl("/proc/sys/fs/suid_dumpable", "1");
    try {
      for (const ids of [{ uid: 1000 }, { gid: 1000 }]) {
        const e = thrown(() => spawnInside(process.pid, ["true"], { namespaces: [], ...ids }));
        expect(e).toBeInstanceOf(UsernsError);
        expect(e).toMatchObject({ code: "EPERM", step: "dumpable" });
      }
      expect(children()).toEqual(before);
      expect(await spawnInside(process.pid, ["true"], { namespaces: [], uid: "keep" }).exited).toBe(0);
    } finally {
      restore();
    }
  });
});
