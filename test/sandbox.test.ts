// sandbox(): each spec field, checked from inside the sandbox and on the host.
import { afterAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SandboxMount, type SandboxSpec, sandbox, seccompFilter, UsernsError } from "../src/index.ts";
import { childPids, isRoot, rootIsInitramfs } from "./support/proc.ts";

/** The machine's reason, if any: pivot_root cannot leave the initial ramfs. */
const PIVOT = rootIsInitramfs ? " — skipped: / is the initial ramfs here, which pivot_root refuses to leave" : "";

const base = mkdtempSync(join(tmpdir(), "bun-userns-sandbox-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
function hostDir(): string {
  const d = join(base, `d${n++}`);
  mkdirSync(d);
  return d;
}

/** A read-only system: /usr, /etc and the usual links. */
const SYSTEM: SandboxMount[] = [
  { type: "ro-bind", source: "/usr", target: "/usr" },
  { type: "ro-bind", source: "/etc", target: "/etc" },
  { type: "symlink", target: "/bin", linkTo: "usr/bin" },
  { type: "symlink", target: "/sbin", linkTo: "usr/sbin" },
  { type: "symlink", target: "/lib", linkTo: "usr/lib" },
  ...(existsSync("/usr/lib64") ? [{ type: "symlink" as const, target: "/lib64", linkTo: "usr/lib64" }] : []),
  { type: "proc", target: "/proc" },
  { type: "dev", target: "/dev" },
];

async function run(script: string, spec: SandboxSpec = {}, extra: SandboxMount[] = []) {
  const p = sandbox(["/bin/sh", "-c", script], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: "/usr/bin:/bin" },
    ...spec,
    mounts: [...SYSTEM, ...extra, ...(spec.mounts ?? [])],
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

function status(text: string, key: string): string {
  return (new RegExp(`^${key}:\\s*(.*)$`, "m").exec(text)?.[1] ?? "").trim();
}

describe.skipIf(!isRoot || rootIsInitramfs)(
  `sandbox as root (needs uid 0: the rootless suite is below)${PIVOT}`,
  () => {
    test("only what was mounted is visible, and mountinfo inside lists only the view", async () => {
      const r = await run("ls -A /; echo ---; cut -d' ' -f5 /proc/self/mountinfo");
      expect(r.code).toBe(0);
      const [ls, mi] = r.out.split("---\n") as [string, string];
      expect(ls.trim().split("\n").sort()).toEqual(
        ["bin", "dev", "etc", "lib", "proc", "sbin", "usr", ...(existsSync("/usr/lib64") ? ["lib64"] : [])].sort(),
      );
      const points = mi.trim().split("\n");
      expect(points[0]).toBe("/");
      for (const p of points) expect(p === "/" || /^\/(usr|etc|proc|dev)(\/|$)/.test(p)).toBe(true);
    });

    test("ro-bind is read-only; writes through a bind land on the host", async () => {
      const ro = hostDir();
      const rw = hostDir();
      const r = await run("(echo a > /ro/f) 2>&1 || echo refused; echo b > /rw/f && echo written", {}, [
        { type: "ro-bind", source: ro, target: "/ro" },
        { type: "bind", source: rw, target: "/rw" },
      ]);
      expect(r.out).toContain("Read-only file system");
      expect(r.out.trim().split("\n").slice(-2)).toEqual(["refused", "written"]);
      expect(existsSync(join(ro, "f"))).toBe(false);
      expect(readFileSync(join(rw, "f"), "utf8")).toBe("b\n");
    });

    test("tmpfs has the size and mode asked for", async () => {
      const r = await run(
        "stat -c %a /scratch; head -c 1048576 /dev/zero > /scratch/a && echo fits; head -c 3145728 /dev/zero > /scratch/b || echo full",
        {},
        [{ type: "tmpfs", target: "/scratch", size: 2 << 20, mode: 0o1777 }],
      );
      expect(r.out.trim().split("\n")).toEqual(["1777", "fits", "full"]);
    });

    test("/dev has exactly the expected nodes, and they work", async () => {
      const r = await run("ls -A /dev | sort | tr '\\n' ' '; echo; head -c 4 /dev/zero | od -An -tx1; ls -A /dev/pts");
      expect(r.code).toBe(0);
      const [names, zero, pts] = r.out.split("\n");
      expect(names?.trim().split(" ")).toEqual(
        [
          "fd",
          "full",
          "null",
          "ptmx",
          "pts",
          "random",
          "shm",
          "stderr",
          "stdin",
          "stdout",
          "tty",
          "urandom",
          "zero",
        ].sort(),
      );
      expect(zero?.trim()).toBe("00 00 00 00");
      expect(pts?.trim()).toBe("ptmx");
    });

    test("file, dir, symlink and chmod ops make what they say", async () => {
      const r = await run("cat /etc2/conf; stat -c %a /etc2/conf; stat -c %a /d/e; readlink /l; stat -c %a /tmp", {}, [
        { type: "file", target: "/etc2/conf", data: "hello\n", mode: 0o400 },
        { type: "dir", target: "/d/e", mode: 0o711 },
        { type: "symlink", target: "/l", linkTo: "/d/e" },
        { type: "tmpfs", target: "/tmp" },
        { type: "chmod", target: "/tmp", mode: 0o1777 },
      ]);
      expect(r.out.trim().split("\n")).toEqual(["hello", "400", "711", "/d/e", "1777"]);
    });

    test("ids and capabilities inside: none kept by default, exactly those added otherwise", async () => {
      const plain = await run("cat /proc/self/status");
      expect(status(plain.out, "Uid")).toBe("0\t0\t0\t0");
      for (const k of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"])
        expect(status(plain.out, k)).toBe("0000000000000000");
      expect(status(plain.out, "NoNewPrivs")).toBe("1");
      const kept = await run("cat /proc/self/status", {
        uidMap: "0:0:1,1000:1000:1",
        gidMap: "0:0:1,1000:1000:1",
        uid: 1000,
        gid: 1000,
        capabilities: { drop: "ALL", add: ["CAP_NET_BIND_SERVICE"] },
      });
      expect(status(kept.out, "Uid")).toBe("1000\t1000\t1000\t1000");
      expect(status(kept.out, "Gid")).toBe("1000\t1000\t1000\t1000");
      expect(status(kept.out, "CapEff")).toBe("0000000000000400");
      expect(status(kept.out, "CapBnd")).toBe("0000000000000400");
      expect(status(kept.out, "CapAmb")).toBe("0000000000000400");
      const root = await run("cat /proc/self/status", { capabilities: { drop: "ALL", add: ["CAP_KILL"] } });
      for (const k of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"])
        expect(status(root.out, k)).toBe("0000000000000020");
    });

    test(`capabilities "caller": the caller's effective set, nothing inheritable or ambient; uid 0 only`, async () => {
      const own = (k: string) => status(readFileSync("/proc/self/status", "utf8"), k);
      const r = await run("cat /proc/self/status", { capabilities: "caller" });
      for (const k of ["CapPrm", "CapEff", "CapBnd"]) expect(status(r.out, k)).toBe(own("CapEff"));
      for (const k of ["CapInh", "CapAmb"]) expect(status(r.out, k)).toBe("0000000000000000");
      expect(() => sandbox(["true"], { uid: 1000, uidMap: "1000:0:1", capabilities: "caller" })).toThrow(
        /capabilities "caller" needs uid 0 inside/,
      );
      expect(() => sandbox(["true"], { capabilities: "all" as "caller" })).toThrow(/capabilities must be "caller" or/);
    });

    test("seccomp: a denied syscall gets the errno; socket(AF_UNIX) is refused, AF_INET allowed", async () => {
      // socket() called directly (libc through bun:ffi): its errno, or "ok".
      const js =
        'const { dlopen, read } = require("bun:ffi");' +
        'const c = dlopen("libc.so.6", { socket: { args: ["i32", "i32", "i32"], returns: "i32" },' +
        ' __errno_location: { args: [], returns: "ptr" } }).symbols;' +
        'for (const f of [1, 2]) { const fd = c.socket(f, 1, 0); console.log(f, fd >= 0 ? "ok" : read.i32(c.__errno_location(), 0)); }';
      const r = await run(`mkdir /tmp/x; echo mkdir=$?; /b/bun -e '${js}'`, {
        seccomp: seccompFilter({ denySocketFamilies: ["AF_UNIX"], deny: ["mkdir", "mkdirat"], errno: 13 }),
        mounts: [
          { type: "tmpfs", target: "/tmp" },
          { type: "ro-bind", source: process.execPath, target: "/b/bun" },
        ],
      });
      expect(r.err).toContain("Permission denied");
      expect(r.out.trim().split("\n")).toEqual(["mkdir=1", "1 13", "2 ok"]);
    });

    test("no_new_privs: a setuid-root binary run by uid 1000 inside does not gain root", async () => {
      const d = hostDir();
      copyFileSync("/usr/bin/id", join(d, "id"));
      chownSync(join(d, "id"), 0, 0);
      chmodSync(join(d, "id"), 0o4755);
      const r = await run("/s/id -u; /s/id -ru", {
        uidMap: "0:0:1,1000:1000:1",
        gidMap: "0:0:1,1000:1000:1",
        uid: 1000,
        gid: 1000,
        mounts: [{ type: "ro-bind", source: d, target: "/s" }],
      });
      expect(r.out.trim().split("\n")).toEqual(["1000", "1000"]);
    });

    test("new session: the command leads its own session (no controlling terminal); without it, it does not", async () => {
      // Field 6 of /proc/self/stat is the session id, here in the sandbox's pid namespace.
      const script = "read -r s < /proc/self/stat; set -- $s; echo $1 $6";
      const own = await run(script);
      const [pid, sid] = own.out.trim().split(" ");
      expect(sid).toBe(pid);
      const shared = await run(script, { newSession: false });
      expect(shared.out.trim().split(" ")[1]).toBe("0"); // the caller's session, outside the namespace
    });

    test("pid 1 is a small init unless asPid1; signals reach the command", async () => {
      const init = await run("echo $$");
      expect(init.out.trim()).toBe("2");
      const own = await run("echo $$", { asPid1: true });
      expect(own.out.trim()).toBe("1");
      const p = sandbox(["/bin/sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done"], {
        stdio: ["ignore", "pipe", "inherit"],
        env: { PATH: "/usr/bin" },
        mounts: SYSTEM,
      });
      const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe("ready\n");
      p.kill("SIGTERM");
      expect(await p.exited).toBe(7);
    });

    test("network: loopback is up and nothing else; shareNet keeps the host's", async () => {
      const r = await run(
        "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/operstate 2>/dev/null; ip -o link show lo 2>/dev/null | grep -c UP",
      );
      expect(r.out.trim().split("\n")[0]).toBe("lo");
      expect(r.out.trim().split("\n")).toHaveLength(2);
      expect(r.out.trim().split("\n")[1]).toBe("1");
      const host = readFileSync("/proc/net/dev", "utf8").trim().split("\n").length;
      const shared = await run("cat /proc/net/dev | wc -l", { shareNet: true });
      expect(Number(shared.out.trim())).toBe(host);
    });

    test("hostname, cwd and env are the command's, and nothing of Bun's environment goes in", async () => {
      process.env.BUN_USERNS_SANDBOX_PROBE = "leak";
      const r = await run("hostname; pwd; env | sort", {
        hostname: "box",
        cwd: "/usr",
        env: { PATH: "/usr/bin", A: "b" },
      });
      delete process.env.BUN_USERNS_SANDBOX_PROBE;
      const lines = r.out.trim().split("\n");
      expect(lines.slice(0, 2)).toEqual(["box", "/usr"]);
      expect(
        lines.slice(2).filter((l) => !l.startsWith("PWD=") && !l.startsWith("SHLVL=") && !l.startsWith("_=")),
      ).toEqual(["A=b", "PATH=/usr/bin"]);
    });

    test("/proc/sys stays read-only even to a command that keeps every capability", async () => {
      // kernel.hostname is the uts namespace's own: its root may write it, but for the read-only mount.
      const r = await run("(echo other > /proc/sys/kernel/hostname) 2>&1 || echo refused; hostname", {
        hostname: "box",
        capabilities: { drop: [] },
      });
      expect(r.out).toContain("Read-only file system");
      expect(r.out.trim().split("\n").slice(-2)).toEqual(["refused", "box"]);
    });

    test("disableNestedUserns: no user namespace can be made inside", async () => {
      const off = await run("unshare -U true; echo $?", { disableNestedUserns: true });
      expect(off.out.trim()).not.toBe("0");
      const on = await run("unshare -U true; echo $?");
      expect(on.out.trim()).toBe("0");
    });

    test("disableNestedUserns holds against a command that keeps CAP_SYS_RESOURCE and can write the limit", async () => {
      // The host's /proc bound in: its sysctl files write the limit of the writer's own user namespace.
      // The command's write is accepted, yet no user namespace can be made: the limit that counts is
      // one user namespace up, where the command holds no capability.
      const script =
        "echo 100 > /hostproc/sys/user/max_user_namespaces && echo written; unshare -U true 2>/dev/null; echo $?";
      const keep = { drop: "ALL" as const, add: ["CAP_SYS_RESOURCE"] };
      const hostProc: SandboxMount[] = [{ type: "bind", source: "/proc", target: "/hostproc" }];
      const off = await run(script, { disableNestedUserns: true, capabilities: keep }, hostProc);
      expect(off.out.trim().split("\n")).toEqual(["written", "1"]);
      // The same command without the option raises the limit of its namespace and makes one.
      const on = await run(script, { capabilities: keep }, hostProc);
      expect(on.out.trim().split("\n")).toEqual(["written", "0"]);
      const asserted = await run("echo started", {
        disableNestedUserns: true,
        assertUsernsDisabled: true,
        capabilities: keep,
      });
      expect(asserted.out).toBe("started\n");
    });

    test("disableNestedUserns: the command runs one user namespace down with every id of the sandbox mapped through", async () => {
      const map = "0:0:1,1000:300000:100";
      const r = await run("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map", {
        disableNestedUserns: true,
        uidMap: map,
        gidMap: map,
        uid: 1050,
        gid: 1060,
      });
      const [uid, gid, ...maps] = r.out.trim().split("\n");
      expect([uid, gid]).toEqual(["1050", "1060"]);
      // Inside's ids map to the same ids one level up (the sandbox's own namespace).
      const ranges = [
        ["0", "0", "1"],
        ["1000", "1000", "100"],
      ];
      expect(maps.map((l) => l.trim().split(/\s+/))).toEqual([...ranges, ...ranges]);
    });
  },
);

describe.skipIf(!isRoot || rootIsInitramfs)(`sandbox leaves nothing on the host (needs uid 0)${PIVOT}`, () => {
  test("a mount point made under a host bind is removed after success; one that existed stays", async () => {
    const d = hostDir();
    mkdirSync(join(d, "kept"));
    const r = await run("test -c /w/new/deep/null && test -c /w/kept/null && echo masked", {
      mounts: [
        { type: "bind", source: d, target: "/w" },
        { type: "ro-bind", source: "/dev/null", target: "/w/new/deep/null" },
        { type: "ro-bind", source: "/dev/null", target: "/w/kept/null" },
      ],
    });
    expect(r.out.trim()).toBe("masked");
    expect(readdirSync(d)).toEqual(["kept"]);
    expect(readdirSync(join(d, "kept"))).toEqual([]);
  });

  test("what a dir entry asked for stays once the sandbox started; the mount point made inside it goes", async () => {
    const d = hostDir();
    const r = await run("test -c /w/asked/deep/null && echo ran", {
      mounts: [
        { type: "bind", source: d, target: "/w" },
        { type: "dir", target: "/w/asked/deep", mode: 0o750 },
        { type: "ro-bind", source: "/dev/null", target: "/w/asked/deep/null" },
      ],
    });
    expect(r.out.trim()).toBe("ran");
    expect(readdirSync(d)).toEqual(["asked"]);
    expect(readdirSync(join(d, "asked"))).toEqual(["deep"]);
    expect(readdirSync(join(d, "asked", "deep"))).toEqual([]);
  });

  test("after a failure later in the plan, what was made is removed and the error names the entry", async () => {
    const d = hostDir();
    let err: unknown;
    try {
      sandbox(["/bin/true"], {
        mounts: [
          { type: "bind", source: d, target: "/w" },
          { type: "dir", target: "/w/made" },
          { type: "ro-bind", source: "/dev/null", target: "/w/made/x" },
          { type: "symlink", target: "/w/made/x", linkTo: "elsewhere" },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsernsError);
    expect((err as Error).message).toContain("mounts[3]");
    expect(readdirSync(d)).toEqual([]);
  });

  test("kill('SIGKILL') ends the sandbox and still cleans the host", async () => {
    const d = hostDir();
    const p = sandbox(["/bin/sh", "-c", "echo up; exec sleep 600"], {
      stdio: ["ignore", "pipe", "inherit"],
      mounts: [...SYSTEM, { type: "bind", source: d, target: "/w" }, { type: "tmpfs", target: "/w/m" }],
    });
    await (p.stdout as ReadableStream<Uint8Array>).getReader().read();
    expect(readdirSync(d)).toEqual(["m"]);
    p.kill("SIGKILL");
    expect(await p.exited).toBe(137);
    expect(readdirSync(d)).toEqual([]);
  });

  test("the exit pipe: only the monitor holds its write end, and our read end is closed after exited, not leaked", async () => {
    const pipesOf = (pid: number | "self") => {
      const out = new Map<string, number>();
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
          if (link.startsWith("pipe:")) out.set(link, Number(fd));
        } catch {}
      }
      return out;
    };
    const before = pipesOf("self");
    const p = sandbox(["/bin/sh", "-c", "echo up; exec sleep 600"], {
      stdio: ["ignore", "pipe", "inherit"],
      mounts: SYSTEM,
    });
    await (p.stdout as ReadableStream<Uint8Array>).getReader().read();
    const ours = [...pipesOf("self").keys()].filter((k) => !before.has(k));
    const monitors = pipesOf(p.pid);
    // Our new pipes: the command's stdout and the exit pipe, whose other end is the monitor's (above 2: the
    // monitor closes its 0-2, the command's stdio, only once it hears the command runs, which "up" can precede).
    const exitPipe = ours.filter((k) => (monitors.get(k) ?? -1) > 2);
    expect(exitPipe.length).toBe(1);
    // Not in the sandbox: neither its first process nor the command (sh exec'd sleep) hold it.
    const inside = [
      p.sandboxPid,
      ...readFileSync(`/proc/${p.sandboxPid}/task/${p.sandboxPid}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    ];
    for (const pid of inside) expect(pipesOf(pid).has(exitPipe[0] as string)).toBe(false);
    p.kill("SIGKILL");
    expect(await p.exited).toBe(137);
    // The exit notice closes our read end once it reads EOF, which the monitor's exit made readable before it was
    // reaped; the poller's timer can settle `exited` a turn of the loop before that read. So: closed without another
    // event from the sandbox (the deadline only bounds a failure: a leaked end never closes).
    const deadline = Date.now() + 10_000;
    while (pipesOf("self").has(exitPipe[0] as string) && Date.now() < deadline) await Bun.sleep(1);
    expect(pipesOf("self").has(exitPipe[0] as string)).toBe(false);
  });

  test("SIGKILL of the caller ends the sandbox (die-with-parent) and the host is cleaned", async () => {
    const d = hostDir();
    const script = join(base, "caller.ts");
    writeFileSync(
      script,
      `import { sandbox } from ${JSON.stringify(join(import.meta.dir, "../src/index.ts"))};
const p = sandbox(["/bin/sh", "-c", "echo $$ > /w/m/pid; exec sleep 600"], {
  mounts: [{ type: "ro-bind", source: "/usr", target: "/usr" }, { type: "symlink", target: "/bin", linkTo: "usr/bin" },
    { type: "symlink", target: "/lib", linkTo: "usr/lib" }, { type: "symlink", target: "/lib64", linkTo: "usr/lib64" },
    { type: "bind", source: ${JSON.stringify(d)}, target: "/w" }, { type: "bind", source: ${JSON.stringify(d)}, target: "/w/m" }],
});
console.log(p.pid);
await p.exited;`,
    );
    const caller = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "inherit" });
    const reader = caller.stdout.getReader();
    const monitor = Number(new TextDecoder().decode((await reader.read()).value).trim());
    expect(monitor).toBeGreaterThan(0);
    // The command is running once it wrote its pid through the bind.
    for (let i = 0; i < 2000 && !existsSync(join(d, "pid")); i++) await Bun.sleep(10);
    expect(existsSync(join(d, "m"))).toBe(true);
    caller.kill("SIGKILL");
    await caller.exited;
    // The monitor ends the sandbox and exits; then the mount point it made is gone.
    for (let i = 0; i < 2000 && existsSync(`/proc/${monitor}`); i++) await Bun.sleep(10);
    expect(existsSync(`/proc/${monitor}`)).toBe(false);
    expect(readdirSync(d).sort()).toEqual(["pid"]);
  });
});

describe.skipIf(!isRoot || rootIsInitramfs)(`a caller that dies during the start (needs uid 0)${PIVOT}`, () => {
  test.each([
    ["with a pid namespace (an init)", ""],
    ["without one (the first process becomes the command)", `namespaces: ["user", "mnt"],`],
  ])(
    "SIGKILL of the caller while the view waits (a lock file's FIFO) leaves no monitor, no first process and no mount point: %s",
    async (_, namespaces) => {
      const d = hostDir();
      Bun.spawnSync(["mkfifo", join(d, "fifo")]);
      const script = join(base, "held-caller.ts");
      writeFileSync(
        script,
        `import { sandbox } from ${JSON.stringify(join(import.meta.dir, "../src/index.ts"))};
sandbox(["/bin/true"], {${namespaces}
  mounts: [{ type: "ro-bind", source: "/usr", target: "/usr" }, { type: "symlink", target: "/bin", linkTo: "usr/bin" },
    { type: "bind", source: ${JSON.stringify(d)}, target: "/w" }, { type: "tmpfs", target: "/w/m" }],
  lockFiles: ["/w/fifo"],
});`,
      );
      const caller = Bun.spawn([process.execPath, script], { stdout: "ignore", stderr: "inherit" });
      const wchan = (pid: number) => {
        try {
          return readFileSync(`/proc/${pid}/wchan`, "utf8");
        } catch {
          return "";
        }
      };
      // The view is built (its mount point made on the host) and the init waits in the FIFO's open.
      let monitor = 0;
      let init = 0;
      for (let i = 0; i < 2000 && !(init > 0 && wchan(init) === "wait_for_partner"); i++) {
        await Bun.sleep(10);
        monitor = childPids(caller.pid).find((c) => wchan(c) !== "" && childPids(c).length > 0) ?? 0;
        init = monitor > 0 ? (childPids(monitor)[0] ?? 0) : 0;
      }
      expect(wchan(init)).toBe("wait_for_partner");
      expect(readdirSync(d).sort()).toEqual(["fifo", "m"]);
      caller.kill("SIGKILL");
      await caller.exited;
      // Both end and the host is cleaned (the deadline only bounds a failure: a held monitor waits for good).
      const gone = (pid: number) =>
        !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z");
      for (let i = 0; i < 1000 && !(gone(monitor) && gone(init)); i++) await Bun.sleep(10);
      const left = [monitor, init].filter((pid) => !gone(pid));
      for (const pid of left) process.kill(pid, "SIGKILL");
      expect(left).toEqual([]);
      expect(readdirSync(d).sort()).toEqual(["fifo"]);
    },
  );
});

describe.skipIf(!isRoot || rootIsInitramfs)(`escape attempts (needs uid 0)${PIVOT}`, () => {
  test("a symlink planted in a bound directory resolves inside the view, not on the host", async () => {
    const d = hostDir();
    symlinkSync("/", join(d, "up"));
    symlinkSync("../../../../../../..", join(d, "dots"));
    const r = await run("test -d /escaped-a && test -d /escaped-b && echo inside", {
      mounts: [
        { type: "bind", source: d, target: "/w" },
        { type: "tmpfs", target: "/w/up/escaped-a" },
        { type: "tmpfs", target: "/w/dots/escaped-b" },
      ],
    });
    expect(r.out.trim()).toBe("inside");
    expect(existsSync("/escaped-a")).toBe(false);
    expect(existsSync("/escaped-b")).toBe(false);
  });

  test("a /proc/self/root link in a destination is refused (no magic links), nothing made", async () => {
    const d = hostDir();
    symlinkSync("/proc/self/root/tmp", join(d, "magic"));
    expect(() =>
      sandbox(["/bin/true"], {
        mounts: [
          { type: "proc", target: "/proc" },
          { type: "bind", source: d, target: "/w" },
          { type: "tmpfs", target: "/w/magic/x" },
        ],
      }),
    ).toThrow(/resolve mounts\[2\]/);
    expect(readdirSync(d)).toEqual(["magic"]);
  });

  test("a file op onto a planted symlink does not write through it", async () => {
    const d = hostDir();
    const victim = join(hostDir(), "victim");
    writeFileSync(victim, "original");
    symlinkSync(victim, join(d, "conf"));
    expect(() =>
      sandbox(["/bin/true"], {
        mounts: [
          { type: "bind", source: d, target: "/w" },
          { type: "file", target: "/w/conf", data: "overwritten" },
        ],
      }),
    ).toThrow(UsernsError);
    expect(readFileSync(victim, "utf8")).toBe("original");
  });

  test("a mount made inside (with CAP_SYS_ADMIN kept) does not propagate to the host", async () => {
    const d = hostDir();
    const r = await run("mount -t tmpfs none /w && touch /w/inside && echo mounted", {
      capabilities: { drop: [] },
      mounts: [{ type: "bind", source: d, target: "/w" }],
    });
    expect(r.out.trim()).toBe("mounted");
    expect(readdirSync(d)).toEqual([]);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(` ${d} `);
  });

  test("the command cannot see or signal the caller: outside its pid namespace", async () => {
    const r = await run(`kill -0 ${process.pid} 2>&1; echo $?; ls /proc | grep -c '^[0-9]'`);
    const lines = r.out.trim().split("\n");
    expect(lines.at(-2)).toBe("1");
    expect(Number(lines.at(-1))).toBeLessThanOrEqual(4); // init, sh, ls, grep
  });
});

describe("hostile specs are refused before anything is made", () => {
  const refuse = (spec: unknown, re: RegExp, argv: unknown = ["/bin/true"]) => {
    let err: unknown;
    try {
      sandbox(argv as string[], spec as SandboxSpec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsernsError);
    expect((err as UsernsError).code).toBe("EINVAL");
    expect((err as Error).message).toMatch(re);
  };
  test("relative, escaping and NUL targets; NUL in argv; unknown types and keys", () => {
    refuse({ mounts: [{ type: "tmpfs", target: "tmp" }] }, /mounts\[0\]\.target must be an absolute path/);
    refuse(
      {
        mounts: [
          { type: "dir", target: "/a" },
          { type: "tmpfs", target: "/a/../../x" },
        ],
      },
      /mounts\[1\]\.target must not contain "\.\."/,
    );
    refuse({ mounts: [{ type: "tmpfs", target: "/a\0b" }] }, /mounts\[0\]\.target contains a NUL/);
    refuse(
      { mounts: [{ type: "bind", source: "rel", target: "/x" }] },
      /mounts\[0\]\.source must be an absolute host path/,
    );
    refuse({ mounts: [{ type: "tmpfs", target: "/x", linkTo: "y" }] }, /mounts\[0\]: "linkTo" does not apply/);
    refuse({ mounts: [{ type: "nfs", target: "/x" }] }, /mounts\[0\]\.type: unknown mount type/);
    refuse({ mounts: [{ type: "overlay", target: "/x" }] }, /sources must be an array/);
    refuse({ bogus: 1 }, /unknown option "bogus"/);
    refuse({}, /NUL/, ["/bin/tr\0ue"]);
  });
  test("conflicting options", () => {
    refuse({ namespaces: ["user", "mnt"], asPid1: true }, /asPid1 needs the "pid" namespace/);
    refuse({ namespaces: ["user", "mnt"], hostname: "x" }, /hostname needs the "uts" namespace/);
    refuse({ namespaces: ["user", "mnt", "net"], shareNet: true }, /shareNet conflicts/);
    refuse({ namespaces: ["user", "pid"] }, /must include "user" and "mnt"/);
    refuse({ dieWithParent: false }, /dieWithParent: false is not supported/);
    refuse({ noNewPrivs: false }, /no_new_privs is always set/);
    refuse(
      { namespaces: ["user", "mnt"], mounts: [{ type: "proc", target: "/proc" }] },
      /proc needs the "pid" namespace/,
    );
    refuse({ seccomp: new Uint8Array(12) }, /struct sock_filter/);
    refuse({ capabilities: { add: ["CAP_NOPE"] } }, /unknown capability/);
  });
  test("a huge list is refused by its length, without reading its entries", () => {
    let reads = 0;
    const huge = new Proxy([] as unknown[], {
      get(t, k) {
        if (k === "length") return 10_000_000;
        if (typeof k === "string" && /^\d+$/.test(k)) reads++;
        return Reflect.get(t, k);
      },
    });
    refuse({ mounts: huge }, /at most 65536/);
    expect(reads).toBe(0);
  });
  test.skipIf(!isRoot || rootIsInitramfs)(
    `each field and entry is read once: a getter answering a safe value then a hostile one${isRoot ? PIVOT : " — skipped: needs uid 0"}`,
    async () => {
      const d = hostDir();
      let reads = 0;
      const entry = {
        type: "bind",
        source: d,
        get target() {
          reads++;
          return reads === 1 ? "/safe" : "/../../escape";
        },
      };
      const r = await run("test -d /safe && echo ok", { mounts: [entry as unknown as SandboxMount] });
      expect(r.out.trim()).toBe("ok");
      expect(reads).toBe(1);
    },
  );
  test("a missing source is refused naming the entry, before anything is made", () => {
    const missing = join(base, "does-not-exist");
    let err: unknown;
    try {
      sandbox(["/bin/true"], {
        mounts: [
          { type: "tmpfs", target: "/t" },
          { type: "ro-bind", source: missing, target: "/m" },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect((err as UsernsError).code).toBe("ENOENT");
    expect((err as Error).message).toContain("mounts[1]");
  });
  test.skipIf(!isRoot || rootIsInitramfs)(
    `a -try entry whose source is missing is skipped${isRoot ? PIVOT : " — skipped: needs uid 0"}`,
    async () => {
      const r = await run("test -e /m || echo skipped", {
        mounts: [{ type: "ro-bind-try", source: join(base, "does-not-exist"), target: "/m" }],
      });
      expect(r.out.trim()).toBe("skipped");
    },
  );
  test.skipIf(!isRoot || rootIsInitramfs)(
    `exec failure: command not found${isRoot ? PIVOT : " — skipped: needs uid 0"}`,
    () => {
      expect(() => sandbox(["/nope"], { mounts: SYSTEM })).toThrow(/nope: command not found/);
    },
  );
});

describe("seccompFilter()", () => {
  test("checks the architecture first and kills a foreign one", () => {
    const prog = seccompFilter({ deny: ["ptrace"] });
    const v = new DataView(prog.buffer);
    // ld [4] (arch); jeq x86_64; ...; jeq aarch64; ...; ret KILL_PROCESS
    expect([v.getUint16(0, true), v.getUint32(4, true)]).toEqual([0x20, 4]);
    expect(v.getUint32(8 + 4, true)).toBe(0xc000003e);
    expect(v.getUint32(24 + 4, true)).toBe(0xc00000b7);
    expect([v.getUint16(40, true), v.getUint32(44, true)]).toEqual([0x06, 0x80000000]);
  });
  test("unknown syscalls and families are refused", () => {
    expect(() => seccompFilter({ deny: ["no_such_call"] })).toThrow(/unknown syscall/);
    expect(() => seccompFilter({ denySocketFamilies: ["AF_NOPE"] })).toThrow(/unknown family/);
    expect(() => seccompFilter({ errno: 0 })).toThrow(/errno/);
  });
});
