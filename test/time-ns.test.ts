/**
 * Time namespaces: setTimeOffsets, spawnInside entering one (the
 * forked inner of native/exec.c), and `exec -T --monotonic/--boottime`.
 */
import { ptr } from "bun:ffi";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runningCommands } from "../src/exec/spawn-inside.ts";
import { CLONE_NEWTIME, CLONE_NEWUTS, setTimeOffsets, spawnInside, startHelper, UsernsError } from "../src/index.ts";
import { thrown } from "./support/errors.ts";
import { childPids, inNanosleep, isRoot, leakableFds, nsLink, othersTmp, until } from "./support/proc.ts";

const ROOT = "0:0:1";
const CLI = join(import.meta.dir, "..", "src", "cli.ts");
const hasTimeNs = existsSync("/proc/self/ns/time");
const needs = !isRoot ? " — skipped: needs root" : !hasTimeNs ? " — skipped: no time namespaces (CONFIG_TIME_NS)" : "";

const uptime = (text: string) => Number(text.trim().split(/\s+/)[0]);
const offsets = (pid: number) => readFileSync(`/proc/${pid}/timens_offsets`, "utf8").replace(/ +/g, " ");

async function settled(): Promise<void> {
  for (let i = 0; i < 200 && runningCommands() > 0; i++) await Bun.sleep(5);
}

async function cli(args: string[]) {
  const p = Bun.spawn([process.execPath, CLI, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { stdout, stderr, code };
}

describe.skipIf(needs !== "")(`time namespaces${needs}`, () => {
  test("spawnInside enters the helper's time namespace with the offsets set before; both commands share it", async () => {
    using h = startHelper(ROOT, ROOT, CLONE_NEWTIME);
    setTimeOffsets(h, { boottime: 1_000_000, monotonic: -0.5 });
    expect(offsets(h.pid)).toBe("monotonic -1 500000000\nboottime 1000000 0\n");
    const run = async () => {
      const p = spawnInside(h, ["sh", "-c", "cat /proc/uptime; readlink /proc/self/ns/time"], {
        namespaces: ["user", "time"],
        stdio: ["ignore", "pipe", "inherit"],
      });
      const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
      expect(code).toBe(0);
      return out.trim().split("\n");
    };
    const before = uptime(readFileSync("/proc/uptime", "utf8"));
    const [up1, ns1] = await run();
    const [up2, ns2] = await run();
    const after = uptime(readFileSync("/proc/uptime", "utf8"));
    for (const up of [up1, up2]) {
      expect(uptime(up as string)).toBeGreaterThanOrEqual(before + 1_000_000 - 0.01);
      expect(uptime(up as string)).toBeLessThanOrEqual(after + 1_000_000 + 0.01);
    }
    expect(ns1).toBe(nsLink(h.pid, "time_for_children"));
    expect(ns2).toBe(ns1 as string);
    expect(ns1).not.toBe(nsLink("self", "time"));
  });

  test("with ids taken inside (a uid change drops the caps timens_install needs, so it comes after)", async () => {
    using h = startHelper("0:0:1,1:100000:65536", "0:0:1,1:100000:65536", CLONE_NEWTIME);
    setTimeOffsets(h, { boottime: 12345 });
    const p = spawnInside(h, ["sh", "-c", "id -u; id -g; readlink /proc/self/ns/time"], {
      namespaces: ["user", "time"],
      uid: 1000,
      gid: 1001,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const out = (await new Response(p.stdout).text()).trim().split("\n");
    expect(await p.exited).toBe(0);
    expect(out).toEqual(["1000", "1001", nsLink(h.pid, "time_for_children")]);
  });

  test("the command in a time namespace holds no fd of ours beyond stdio", async () => {
    using h = startHelper(ROOT, ROOT, CLONE_NEWTIME);
    const p = spawnInside(h, ["sleep", "5"], { namespaces: ["user", "time"], stdio: ["ignore", "ignore", "ignore"] });
    // Past the dynamic loader's own open files: sleep(1) is in its nanosleep.
    expect(await until(() => inNanosleep(p.pid))).toBe(true);
    const seen = readdirSync(`/proc/${p.pid}/fd`).sort();
    const ns = readlinkSafe(`/proc/${p.pid}/ns/time`);
    p.kill("SIGKILL");
    expect(await p.exited).toBe(137);
    expect(seen).toEqual(["0", "1", "2"]);
    expect(ns).toBe(nsLink(h.pid, "time_for_children"));
  });

  test("offsets are frozen once a process entered: EACCES, step time_offsets, the offsets unchanged", async () => {
    using h = startHelper(ROOT, ROOT, CLONE_NEWTIME);
    setTimeOffsets(h, { boottime: 7 });
    expect(await spawnInside(h, ["true"], { namespaces: ["user", "time"] }).exited).toBe(0);
    const e = thrown(() => setTimeOffsets(h, { boottime: 8 })) as UsernsError;
    expect(e).toBeInstanceOf(UsernsError);
    expect(e.code).toBe("EACCES");
    expect(e.step).toBe("time_offsets");
    expect(e.syscall).toBe("write");
    expect(e.message).toContain("frozen");
    expect(offsets(h.pid)).toBe("monotonic 0 0\nboottime 7 0\n");
  });

  test("bad input: a TypeError for a wrong type, EINVAL for a wrong value, naming it; nothing written", () => {
    using h = startHelper(ROOT, ROOT, CLONE_NEWTIME);
    let reads = 0;
    const hostile = new Proxy(
      { boottime: 3 },
      {
        get(t, k) {
          if (k === "boottime") reads++;
          return reads > 1 ? Number.NaN : Reflect.get(t, k);
        },
      },
    );
    // A value of the wrong JS type is a TypeError; a number that is not allowed, EINVAL.
    const cases: [unknown, "EINVAL" | "TypeError", string][] = [
      [{ realtime: 1 }, "TypeError", 'unknown clock "realtime"'],
      [{ boottime: Number.NaN }, "EINVAL", "not a finite number"],
      [{ boottime: Number.POSITIVE_INFINITY }, "EINVAL", "not a finite number"],
      [{ monotonic: "5" }, "TypeError", 'monotonic offset must be a number of seconds or a bigint, got string "5"'],
      [{ monotonic: 9223372037 }, "EINVAL", "beyond"],
      [{ boottime: -(2n ** 40n) }, "EINVAL", "beyond"],
      [{}, "EINVAL", "give monotonic and/or boottime"],
      [null, "TypeError", "must be { monotonic?, boottime? }"],
      // Inherited clocks are not the caller's options; hostile objects are described without running them.
      [Object.create({ boottime: 5 }), "EINVAL", "give monotonic and/or boottime"],
      [{ boottime: Object.create(null) }, "TypeError", "got object"],
      [
        {
          boottime: {
            toString() {
              throw new Error("ran");
            },
          },
        },
        "TypeError",
        "got object",
      ],
    ];
    for (const [spec, kind, words] of cases) {
      const e = thrown(() => setTimeOffsets(h, spec as never)) as UsernsError;
      expect([kind, e.message]).toEqual([kind, expect.stringContaining(words)]);
      if (kind === "TypeError") expect(e).toBeInstanceOf(TypeError);
      else expect(e).toMatchObject({ code: "EINVAL", step: "options" });
    }
    // A Proxy answers once: what it said first is what is written.
    setTimeOffsets(h, hostile as never);
    expect(reads).toBe(1);
    expect(offsets(h.pid)).toBe("monotonic 0 0\nboottime 3 0\n");
    // A process with no time namespace of its own, and no process at all.
    using plain = startHelper(ROOT, ROOT, CLONE_NEWUTS);
    const own = thrown(() => setTimeOffsets(plain, { boottime: 1 })) as UsernsError;
    expect(own.message).toContain("has no time namespace of its own");
    expect((thrown(() => setTimeOffsets(0 as never, { boottime: 1 })) as UsernsError).code).toBe("EINVAL");
    // The kernel's own range rule: the clock inside may not go below zero.
    const range = thrown(() => setTimeOffsets(h, { boottime: -1e9 })) as UsernsError;
    expect(range.code).toBe("ERANGE");
  });

  test("no zombie or fd left after 100 runs, aborts and kills in a time namespace", async () => {
    using h = startHelper(ROOT, ROOT, CLONE_NEWTIME);
    await settled();
    const fds = leakableFds();
    const kids = childPids().filter((p) => p !== h.pid);
    for (let i = 0; i < 100; i++) {
      const ac = new AbortController();
      const p = spawnInside(h, ["sleep", "5"], { namespaces: ["user", "time"], signal: ac.signal });
      if (i % 3 === 0) ac.abort();
      else if (i % 3 === 1) p.kill("SIGKILL");
      else p.kill("SIGTERM");
      expect([137, 143]).toContain(await p.exited);
    }
    await settled();
    expect(childPids().filter((p) => p !== h.pid)).toEqual(kids);
    expect(leakableFds()).toEqual(fds);
  });
});

const setpriv = Bun.which("setpriv");
const racing = needs || (!setpriv ? " — skipped: needs util-linux setpriv" : "");

describe.skipIf(racing !== "")(`the namespace owner against the forked copy of Bun's memory${racing}`, () => {
  /** The probe's HOME and TMPDIR (it runs as uid 1000): removed after. */
  const probeTmp = racing === "" ? othersTmp("bun-userns-time-probe-") : "";
  afterAll(() => {
    if (probeTmp) rmSync(probeTmp, { recursive: true, force: true });
  });
  test("stopping the entering children and reading their /proc/PID/mem reaches no secret; every call returns", async () => {
    // The copy is forked from Bun's sealed mm: it keeps Bun's user namespace as its owner (dup_mm), so
    // being non-dumpable guards it from uid 1000, the owner of the namespace it enters, as it guards Bun.
    // A stopped copy holds the entering child in its vfork wait: the gate must see that stop and kill.
    const secret = crypto.getRandomValues(new Uint8Array(32));
    using h = startHelper("0:1000:1", "0:1000:1", CLONE_NEWTIME);
    await settled();
    const fds = leakableFds();
    const probe = Bun.spawn(
      [
        setpriv as string,
        "--reuid=1000",
        "--regid=1000",
        "--clear-groups",
        process.execPath,
        join(import.meta.dir, "fixtures", "copy-probe.ts"),
        String(process.pid),
        String(ptr(secret)),
        Buffer.from(secret).toString("hex"),
        "1500",
        "20",
      ],
      { stdout: "pipe", stderr: "inherit", env: { ...process.env, HOME: probeTmp, TMPDIR: probeTmp } },
    );
    const reader = probe.stdout.getReader();
    let out = new TextDecoder().decode((await reader.read()).value);
    expect(out).toStartWith("racing");
    let done = false;
    const tail = (async () => {
      for (;;) {
        const c = await reader.read();
        if (c.done) break;
        out += new TextDecoder().decode(c.value);
      }
      done = true;
    })();
    let runs = 0;
    const codes = new Set<string>();
    while (!done) {
      try {
        const p = spawnInside(h, ["/bin/true"], { namespaces: ["user", "time"] });
        // A stop that lands just after the exec holds the command itself (the owner may stop it): end it.
        const end = setTimeout(() => p.kill("SIGKILL"), 200);
        runs += (await p.exited) === 0 ? 1 : 0;
        clearTimeout(end);
      } catch (e) {
        expect(e).toBeInstanceOf(UsernsError);
        codes.add((e as UsernsError).step);
      }
    }
    await tail;
    // Bun.spawn holds a pidfd of its own for the probe until it has reaped it: wait for that, not for EOF only.
    await probe.exited;
    const result = JSON.parse(out.trim().split("\n").pop() as string);
    expect(result.tried).toBeGreaterThan(0);
    expect(result.reached).toBe(0);
    // Stopped children were killed, not waited for: only that error, and the rest ran.
    for (const c of codes) expect(c).toBe("stopped");
    expect(runs).toBeGreaterThan(0);
    await settled();
    expect(leakableFds()).toEqual(fds);
  }, 60000);
});

/**
 * What CMD sees of the time namespace made for it: its own uptime (sh's read builtin, no fork), its child's (cat),
 * its time and time_for_children links. unshare(CLONE_NEWTIME) moves only the caller's children; execve moves the
 * caller in too on newer kernels only (not the arm64 VM's 6.1, where util-linux unshare -T CMD is the same).
 */
const TIME_VIEW =
  'read u _ < /proc/uptime; echo "$u"; cat /proc/uptime; readlink /proc/$$/ns/time; readlink /proc/$$/ns/time_for_children';
function timeView(out: string) {
  const [own, child, ns, forChildren] = out.trim().split("\n");
  return {
    own: uptime(own as string),
    child: uptime(child as string),
    inIt: ns === forChildren,
    made: forChildren !== readlinkSync("/proc/self/ns/time"),
  };
}

function readlinkSafe(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

describe.skipIf(needs !== "")(`bun-userns exec -T --monotonic/--boottime${needs}`, () => {
  test("CMD's time namespace has the offsets; with -p --fork --mount-proc it is pid 1 as well", async () => {
    const before = uptime(readFileSync("/proc/uptime", "utf8"));
    const r = await cli(["exec", "-T", "--boottime", "86400", "--monotonic", "-10.25", "--", "sh", "-c", TIME_VIEW]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const v = timeView(r.stdout);
    expect(v.made).toBe(true);
    expect(v.child).toBeGreaterThanOrEqual(before + 86400);
    expect(v.child).toBeLessThan(uptime(readFileSync("/proc/uptime", "utf8")) + 86400 + 0.01);
    // CMD itself sees them exactly when its execve took it in.
    expect(v.own >= before + 86400).toBe(v.inIt);
    const p = await cli([
      "exec",
      "-p",
      "--fork",
      "--mount-proc",
      "-T",
      "--boottime=1000",
      "--",
      "sh",
      "-c",
      "echo $$; cat /proc/uptime",
    ]);
    expect(p.code).toBe(0);
    const [pid, up] = p.stdout.trim().split("\n");
    expect(pid).toBe("1");
    expect(uptime(up as string)).toBeGreaterThanOrEqual(before + 1000);
  });

  test("enter --target -T enters a running command's time namespace", async () => {
    const inner = Bun.spawn([process.execPath, CLI, "exec", "-T", "--boottime", "500000", "--", "sleep", "10"], {
      stdio: ["ignore", "ignore", "ignore"],
    });
    try {
      let target = 0;
      for (let i = 0; i < 500 && target === 0; i++) {
        await Bun.sleep(10);
        target = childrenOf(inner.pid).find((p) => comm(p) === "sleep") ?? 0;
      }
      expect(target).toBeGreaterThan(0);
      const r = await cli(["enter", "--target", String(target), "-U", "-T", "--", "cat", "/proc/uptime"]);
      expect(r.stderr).toBe("");
      expect(uptime(r.stdout)).toBeGreaterThanOrEqual(500000);
    } finally {
      inner.kill("SIGKILL");
      await inner.exited;
    }
  });

  test("bad input: an offset without -T, not a number, out of range: usage errors, nothing run", async () => {
    // CMD would leave this file: its absence shows CMD never ran.
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-time-bad-"));
    const marker = join(dir, "ran");
    const cmd = ["--", "sh", "-c", `echo ran; : > ${marker}`];
    try {
      for (const [args, words] of [
        [["--boottime", "5"], "add -T"],
        [["-T", "--boottime", "5x"], "takes seconds"],
        [["-T", "--monotonic", "1e9"], "takes seconds"],
        [["-T", "--monotonic", "99999999999"], "beyond"],
      ] as [string[], string][]) {
        const r = await cli(["exec", ...args, ...cmd]);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toContain(words);
        expect(existsSync(marker)).toBe(false);
      }
      // The kernel's range rule: a failure (1), and CMD never ran.
      const r = await cli(["exec", "-T", "--boottime", "-999999999", ...cmd]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("below zero");
      expect(existsSync(marker)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}
