// Attacks from outside (other uids, hostile environments): each case failed on the code before its fix.

import { ptr } from "bun:ffi";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as processCodec from "../../src/core/process-codec.ts";
import {
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  getUsernsFdSync,
  parseIDMapping,
  reapOrphans,
  startHelper,
  type UsernsError,
  unshareAfterEnterUserns,
} from "../../src/index.ts";
import { thrown } from "../support/errors.ts";
import { EMULATED, isRoot, setSysctl } from "../support/proc.ts";

const fixture = (name: string) => join(import.meta.dir, "..", "fixtures", name);
const setpriv = Bun.which("setpriv");
const rootTest = test.skipIf(!isRoot || !setpriv || !Bun.which("bash"));
const cli = join(import.meta.dir, "..", "..", "src", "cli.ts");

/** HOME and TMPDIR of the processes run as other uids: this file's own, removed after it. */
const otherTmp = mkdtempSync(join(tmpdir(), "bun-userns-attacks-"));
chmodSync(otherTmp, 0o1777);
afterAll(() => rmSync(otherTmp, { recursive: true, force: true }));

/** Fixture processes still running: a test that timed out or threw leaves none to later tests. */
const running = new Set<Bun.Subprocess>();
afterEach(() => {
  for (const p of running) p.kill("SIGKILL");
  running.clear();
});

async function run(cmd: string[], env: Record<string, string> = {}) {
  const p = Bun.spawn(cmd, {
    env: { ...process.env, HOME: otherTmp, TMPDIR: otherTmp, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  running.add(p);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  running.delete(p);
  return { out, err, code };
}

/** Random bytes in this process's memory, and where: what the attacker tries to read. */
const secret = crypto.getRandomValues(new Uint8Array(32));
const secretArgs = ["--addr", String(ptr(secret)), Buffer.from(secret).toString("hex")];

/** argv running foreign-probe.ts as uid 1000 against the secret. */
function probeArgv(args: string[]): string[] {
  const as1000 = [setpriv as string, "--reuid=1000", "--regid=1000", "--clear-groups"];
  return [...as1000, process.execPath, fixture("foreign-probe.ts"), ...secretArgs, ...args];
}

/** Run foreign-probe.ts as uid 1000: what it could read or attach. */
async function probeAs1000(args: string[]) {
  const r = await run(probeArgv(args));
  expect(r.err).toBe("");
  return JSON.parse(r.out.trim());
}

const DENIED = { environ: "EACCES", mem: "EACCES", maps: "EACCES", attach: "refused" };
// The attack the issue reproduced: uid 1000 reading the secret through /proc/<helper>/mem.

describe("another uid cannot reach a helper's (Bun's) memory", () => {
  rootTest("helpers mapped to uid 1000, every option combination: no environ, mem, maps or PTRACE_ATTACH", async () => {
    const combos = [
      { owner: "mapping" as const },
      { owner: "caller" as const },
      { owner: "mapping" as const, setgroups: "deny" as const },
      { setgroups: "allow" as const },
    ];
    const helpers = combos.flatMap((o) => [
      startHelper("0:1000:65536", "0:1000:65536", 0, o),
      startHelper("0:1000:1", "0:1000:1", CLONE_NEWNS | CLONE_NEWNET, o),
    ]);
    try {
      // The default still gives the namespace to uid 1000 (containerd 2.3's ucounts reason).
      const r = processCodec.nsOpen(`/proc/${helpers[0]?.pid}/ns/user`, true);
      const fd = typeof r === "number" ? r : r.fd;
      expect(processCodec.ownerUid(fd)).toBe(1000);
      processCodec.close(fd);
      const results = await probeAs1000(helpers.map((h) => String(h.pid)));
      expect(results).toEqual(helpers.map(() => DENIED));
    } finally {
      for (const h of helpers) h.release();
    }
  });

  rootTest("the CLI's helper (run --map 0:1000:65536) is out of reach too", async () => {
    const p = Bun.spawn(
      [process.execPath, cli, "run", "--map", "0:1000:65536", "--", "sh", "-c", "echo $USERNS_PID; sleep 2"],
      {
        stdout: "pipe",
      },
    );
    running.add(p);
    const reader = p.stdout.getReader();
    const pid = Number(new TextDecoder().decode((await reader.read()).value).trim());
    expect(pid).toBeGreaterThan(0);
    expect(await probeAs1000([String(pid)])).toEqual([DENIED]);
    p.kill();
    await p.exited;
  });

  rootTest(
    "racing short getUsernsFdSync calls (1.5 s and 20 helpers tried): uid 1000 reaches none of them",
    async () => {
      const attacker = Bun.spawn(probeArgv(["--race", "1500", "20", String(process.pid)]), {
        stdout: "pipe",
        env: { ...process.env, HOME: otherTmp, TMPDIR: otherTmp },
      });
      running.add(attacker);
      const reader = attacker.stdout.getReader();
      let text = "";
      while (!text.includes("racing\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      // Calls for as long as the attacker races (1.5 s and 20 helpers tried), however late it started.
      let calls = 0;
      while (attacker.exitCode === null) {
        getUsernsFdSync("0:1000:1", "0:1000:1").close();
        calls++;
        if (calls % 20 === 0) await Bun.sleep(0);
      }
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      const out = JSON.parse(text.trim().split("\n").at(-1) as string);
      expect(out.tried).toBeGreaterThanOrEqual(20);
      expect(out.reached).toBe(0);
    },
    60000,
  );
});

describe("the caller dying at any instant of setup takes its helpers with it", () => {
  rootTest(
    `${EMULATED ? 40 : 200} kills (SIGKILL, and process.exit while Workers are mid-call) under a subreaper: no helper lives 1 s`,
    async () => {
      const rounds = EMULATED ? 10 : 50; // 4 kills a round
      const r = await run([process.execPath, fixture("setup-killer.ts"), String(rounds)]);
      const out = JSON.parse(r.out.trim());
      expect(out.kills).toBe(4 * rounds);
      expect(out.survivors).toBe(0);
    },
    120000,
  );
});

describe("a job-control stop is not a park", () => {
  rootTest(
    "SIGSTOP/SIGCONT storm on the process group: every callback sees new namespaces, no false failure",
    async () => {
      const calls = EMULATED ? 30 : 300;
      const child = Bun.spawn([process.execPath, fixture("stop-storm-loop.ts"), String(calls)], { stdout: "pipe" });
      try {
        const reader = child.stdout.getReader();
        let text = new TextDecoder().decode((await reader.read()).value);
        // Stop and continue its process group for as long as its calls run (their count, not a time).
        let storms = 0;
        while (child.exitCode === null) {
          try {
            process.kill(-child.pid, "SIGSTOP");
            process.kill(-child.pid, "SIGCONT");
            storms++;
          } catch {}
          await Bun.sleep(1);
        }
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
        const out = JSON.parse(text.trim().split("\n").at(-1) as string);
        expect(storms).toBeGreaterThan(0);
        expect(out).toMatchObject({ calls, hostNs: 0, liveness: 0, otherCount: 0 });
      } finally {
        child.kill("SIGKILL");
      }
    },
    30000,
  );
});

describe("the dumpable flag is never saved and restored per thread", () => {
  let restore = () => {};
  afterEach(() => restore());
  for (const value of ["0", "2", "1"]) {
    rootTest(
      `fs.suid_dumpable=${value}, 4 Workers x 300 calls: no error, each thread's PDEATHSIG kept, never dumpable`,
      async () => {
        restore = setSysctl("/proc/sys/fs/suid_dumpable", value);
        const r = await run([process.execPath, fixture("dumpable-workers.ts"), "300"]);
        const out = JSON.parse(r.out.trim());
        expect(out.dumpable).toBe(0);
        for (const w of out.workers) {
          expect(w).toMatchObject({ errorCount: 0, pdeathsig: 15, dumpableSeen: 0 });
          // At 1 an euid switch would unseal the shared mm for an instant: the caller owns the namespace then.
          expect(w.owners).toEqual([value === "1" ? 0 : 1000]);
        }
      },
      60000,
    );
  }
});

describe("the orphan sweep touches only helpers whose creating thread is gone", () => {
  rootTest("live children named like helpers are left alone, and Bun still sees them exit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-names-"));
    try {
      const children = ["bun-userns", "bun-userns:0000", "bun-userns:AAAA"].map((name) => {
        const exe = join(dir, name);
        copyFileSync(Bun.which("sleep") as string, exe);
        Bun.spawnSync(["chmod", "755", exe]);
        // argv[0] "sleep": a multi-call sleep (busybox) picks its applet by it; comm is the file's name.
        return Bun.spawn([exe, "30"], { argv0: "sleep" });
      });
      await Bun.sleep(50);
      expect(reapOrphans()).toBe(0);
      for (const c of children) {
        expect(c.exitCode).toBeNull();
        c.kill("SIGTERM");
      }
      const codes = await Promise.race([
        Promise.all(children.map((c) => c.exited)),
        Bun.sleep(3000).then(() => "exited never resolved"),
      ]);
      expect(codes).toEqual([143, 143, 143]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  rootTest("a live Worker's parked helper is not swept by the main thread", async () => {
    const w = new Worker(fixture("worker-park.ts"));
    const pids = await new Promise<number[]>((resolve) => {
      w.onmessage = (e) => resolve(e.data);
      w.postMessage({ count: 2 });
    });
    expect(reapOrphans()).toBe(0);
    for (const pid of pids) expect(readFileSync(`/proc/${pid}/stat`, "utf8")).toContain(") t ");
    w.terminate();
  });
});

describe("hostile JS objects cannot bypass validation", () => {
  test("an array with its own .map, an Array subclass, valueOf objects: validated copy or a clear error", () => {
    const evil = [{ containerID: 0, hostID: 1000, size: 1 }];
    (evil as unknown as { map: unknown }).map = () => [{ text: "x", values: [0n, 4294968296n, 1n] }];
    expect(parseIDMapping(evil)).toEqual([{ containerID: 0, hostID: 1000, size: 1 }]);
    class Sub extends Array {
      // biome-ignore lint/suspicious/noExplicitAny: a hostile override ignores the signature on purpose
      override map(): any {
        return [{ containerID: 0, hostID: 4294968296, size: 1 }];
      }
    }
    const sub = Sub.from([{ containerID: 0, hostID: 2000, size: 1 }]);
    expect(parseIDMapping(sub as unknown as [])).toEqual([{ containerID: 0, hostID: 2000, size: 1 }]);
    const obj = { valueOf: () => 4294968296 };
    expect(
      thrown(() => parseIDMapping([{ containerID: 0, hostID: obj as unknown as number, size: 1 }])),
    ).toBeInstanceOf(TypeError);
  });

  test("a getter or Proxy that answers differently each time is read once", () => {
    let reads = 0;
    const entry = {
      containerID: 0,
      get hostID() {
        reads++;
        return reads === 1 ? 1000 : 4294968296;
      },
      size: 1,
    };
    expect(parseIDMapping([entry])).toEqual([{ containerID: 0, hostID: 1000, size: 1 }]);
    expect(reads).toBe(1);
    let gets = 0;
    const proxy = new Proxy([{ containerID: 0, hostID: 1000, size: 1 }], {
      get(target, key, recv) {
        if (key === "0") gets++;
        if (key === "0" && gets > 1) return { containerID: 0, hostID: 4294968296, size: 1 };
        return Reflect.get(target, key, recv);
      },
    });
    expect(parseIDMapping(proxy)).toEqual([{ containerID: 0, hostID: 1000, size: 1 }]);
  });

  test("a sparse array names the hole instead of 'undefined is not an object'", () => {
    const sparse: unknown[] = [];
    sparse[1] = { containerID: 0, hostID: 1000, size: 1 };
    const e = thrown(() => parseIDMapping(sparse as [], "uid")) as Error;
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toBe("uid mapping[0] is missing (a hole in the array)");
  });

  rootTest("what is written is exactly the validated copy", async () => {
    let reads = 0;
    const entry = {
      containerID: 0,
      get hostID() {
        return ++reads === 1 ? 1000 : 4294968296;
      },
      size: 1,
    };
    let uidMap = "";
    await unshareAfterEnterUserns([entry], "0:1000:1", CLONE_NEWIPC, (pid) => {
      uidMap = readFileSync(`/proc/${pid}/uid_map`, "utf8");
    });
    expect(uidMap.trim().split(/\s+/)).toEqual(["0", "1000", "1"]);
  });
});

describe("size is checked before any per-field work", () => {
  test("a 52 MB map string is refused without building millions of strings", () => {
    const huge = "0:0:1,".repeat(8_700_000);
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    const e = thrown(() => parseIDMapping(huge)) as UsernsError;
    const grown = process.memoryUsage().rss - before;
    expect(e.message).toBe("too many mappings: 8700001, the kernel accepts at most 340");
    // Splitting it first (the old way) grew RSS by ~1.2 GB.
    expect(grown).toBeLessThan(200 * 1024 * 1024);
  });
});

describe("RLIMIT_NPROC never crashes Bun", () => {
  rootTest(
    "uid 65534 with ulimit -u 10..16 and 20 helpers in flight: EAGAIN UsernsErrors, exit 0",
    async () => {
      const script = join(otherTmp, "nproc.ts"); // readable by uid 65534, removed with otherTmp
      writeFileSync(
        script,
        `import { CLONE_NEWIPC, unshareAfterEnterUserns } from ${JSON.stringify(join(import.meta.dir, "..", "..", "src", "index.ts"))};
const errs = [];
await Promise.all(Array.from({ length: 20 }, () => unshareAfterEnterUserns("0:65534:1", "0:65534:1", CLONE_NEWIPC, async () => { await Bun.sleep(30); }).catch((e) => errs.push(e))));
console.log(JSON.stringify({ errors: errs.length, codes: [...new Set(errs.map((e) => e.code))], hint: errs[0]?.hint ?? "" }));`,
      );
      chmodSync(script, 0o644);
      for (const limit of [10, 16]) {
        const r = await run([
          setpriv as string,
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "bash",
          "-c",
          `ulimit -u ${limit} && exec "$0" "$1"`,
          process.execPath,
          script,
        ]);
        expect(r.err).not.toContain("panic");
        expect(r.code).toBe(0);
        const out = JSON.parse(r.out.trim());
        expect(out.errors).toBeGreaterThan(0);
        expect(out.codes).toEqual(["EAGAIN"]);
        expect(out.hint).toContain("RLIMIT_NPROC");
      }
    },
    30000,
  );
});
