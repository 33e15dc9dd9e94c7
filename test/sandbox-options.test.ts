// sandbox(): argv0, read-only files, stacked seccomp programs, the fds a caller hands in (blockFd,
// usernsBlockFd, syncFd, userns, userns2, pidns), lockFiles, assertUsernsDisabled, and what the handle
// reports (sandboxPid, namespaceIds), each checked from inside the sandbox and on the host.
import { afterAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type SandboxMount,
  type SandboxProcess,
  type SandboxSpec,
  sandbox,
  seccompFilter,
  UsernsError,
} from "../src/index.ts";
import { fifoEnds, isRoot, rootIsInitramfs } from "./support/proc.ts";

const PIVOT = rootIsInitramfs ? " — skipped: / is the initial ramfs here, which pivot_root refuses to leave" : "";
const base = mkdtempSync(join(tmpdir(), "bun-userns-sandbox-opts-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
function hostDir(): string {
  const d = join(base, `d${n++}`);
  mkdirSync(d);
  return d;
}

const SYSTEM: SandboxMount[] = [
  { type: "ro-bind", source: "/usr", target: "/usr" },
  { type: "symlink", target: "/bin", linkTo: "usr/bin" },
  { type: "symlink", target: "/lib", linkTo: "usr/lib" },
  ...(existsSync("/usr/lib64") ? [{ type: "symlink" as const, target: "/lib64", linkTo: "usr/lib64" }] : []),
];

function start(script: string, spec: SandboxSpec = {}, extra: SandboxMount[] = []): SandboxProcess {
  return sandbox(["/bin/sh", "-c", script], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: "/usr/bin:/bin" },
    ...spec,
    mounts: [...SYSTEM, ...extra, ...(spec.mounts ?? [])],
  });
}

async function finish(p: SandboxProcess) {
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

const run = (script: string, spec: SandboxSpec = {}, extra: SandboxMount[] = []) => finish(start(script, spec, extra));

/** A FIFO's two blocking ends (test/support/proc.ts). */
const fifo = () => fifoEnds(base);

/** overlayfs in this kernel (a module not loaded shows no entry). */
const OVERLAY = readFileSync("/proc/filesystems", "utf8").includes("\toverlay\n");
const OVERLAY_WHY = OVERLAY ? "" : " — skipped: no overlayfs in this kernel (/proc/filesystems)";
/** An upper layer on tmpfs needs user xattrs there (Linux 6.6), and the test's directories may be on tmpfs. */
const [kmaj = 0, kmin = 0] = (readFileSync("/proc/sys/kernel/osrelease", "utf8").match(/^(\d+)\.(\d+)/) ?? [])
  .slice(1)
  .map(Number);
const TMPFS_XATTR = kmaj > 6 || (kmaj === 6 && kmin >= 6);
const TMPFS_WHY = TMPFS_XATTR ? "" : " — skipped: tmpfs has user xattrs from Linux 6.6, an upper layer needs them";
/** The host upper directories are made under TMPDIR: on tmpfs, the same rule. */
const UPPER_OK = TMPFS_XATTR || statfsSync(base).type !== 0x01021994;
const UPPER_WHY = UPPER_OK ? "" : TMPFS_WHY.replace("tmpfs has", "TMPDIR is a tmpfs, which has");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A process of another program holding namespaces (util-linux unshare), its pid. */
async function holder(args: string[]): Promise<{ pid: number; end: () => Promise<void> }> {
  const p = Bun.spawn(["unshare", ...args, "sh", "-c", "echo $$; exec sleep 60"], { stdout: "pipe" });
  await p.stdout.getReader().read(); // its namespaces are made
  return {
    pid: p.pid, // unshare's pid: the shell itself, or (--fork) its parent
    end: async () => {
      p.kill(9);
      await p.exited;
    },
  };
}

describe.skipIf(!isRoot || rootIsInitramfs)(`sandbox options as root (needs uid 0)${PIVOT}`, () => {
  /** Two layers (a in both, b only in the bottom one), an upper and a work directory. */
  function layers() {
    const d = hostDir();
    for (const x of ["l1", "l2", "up", "wk"]) mkdirSync(join(d, x));
    writeFileSync(join(d, "l1", "a"), "bottom-a");
    writeFileSync(join(d, "l1", "b"), "bottom-b");
    writeFileSync(join(d, "l2", "a"), "top-a");
    return { d, sources: [join(d, "l1"), join(d, "l2")], upper: join(d, "up"), work: join(d, "wk") };
  }
  const tree = (d: string) => Bun.spawnSync(["find", d, "-printf", "%P %s\n"]).stdout.toString().split("\n").sort();

  test.skipIf(!OVERLAY)(
    `overlay: the last source is the top layer; writes land in upper, the layers are untouched${OVERLAY_WHY}${UPPER_WHY}`,
    async () => {
      const L = layers();
      const before = [tree(join(L.d, "l1")), tree(join(L.d, "l2"))];
      const r = await run("cat /o/a /o/b; echo; echo new > /o/c; echo changed > /o/b; ls /o | tr '\\n' ' '", {}, [
        { type: "overlay", sources: L.sources, upper: L.upper, work: L.work, target: "/o" },
      ]);
      expect(r).toEqual({ out: "top-abottom-b\na b c ", err: "", code: 0 });
      expect(readFileSync(join(L.upper, "c"), "utf8")).toBe("new\n");
      expect(readFileSync(join(L.upper, "b"), "utf8")).toBe("changed\n");
      expect([tree(join(L.d, "l1")), tree(join(L.d, "l2"))]).toEqual(before);
    },
  );

  test.skipIf(!OVERLAY || !TMPFS_XATTR)(
    `tmp-overlay: writes go to a tmpfs that vanishes; ro-overlay is read-only; the host is unchanged${OVERLAY_WHY}${TMPFS_WHY}`,
    async () => {
      const L = layers();
      const before = tree(L.d);
      const t = await run("echo new > /o/c && cat /o/c; cat /o/a", {}, [
        { type: "tmp-overlay", sources: L.sources, target: "/o" },
      ]);
      expect(t).toEqual({ out: "new\ntop-a", err: "", code: 0 });
      const ro = await run("echo new > /o/c || echo refused; cat /o/b", {}, [
        { type: "ro-overlay", sources: L.sources, target: "/o" },
      ]);
      expect(ro.out).toBe("refused\nbottom-b");
      expect(ro.err).toContain("Read-only file system");
      expect(tree(L.d)).toEqual(before);
    },
  );

  const BWRAP11 = "/work/ref/bwrap-build/bwrap";
  test.skipIf(!existsSync(BWRAP11) || !OVERLAY || !TMPFS_XATTR)(
    `overlay forms read the same files as bwrap 0.11's --overlay-src/--overlay/--tmp-overlay/--ro-overlay (needs ${BWRAP11})`,
    async () => {
      const script = "cat /o/a /o/b; echo w > /o/c 2>/dev/null && echo wrote || echo refused";
      for (const kind of ["overlay", "tmp-overlay", "ro-overlay"] as const) {
        const ours = layers();
        const theirs = layers();
        const srcArgs = theirs.sources.flatMap((s) => ["--overlay-src", s]);
        const form =
          kind === "overlay"
            ? ["--overlay", theirs.upper, theirs.work, "/o"]
            : [kind === "tmp-overlay" ? "--tmp-overlay" : "--ro-overlay", "/o"];
        const b = Bun.spawnSync([
          BWRAP11,
          "--unshare-user",
          "--ro-bind",
          "/usr",
          "/usr",
          "--symlink",
          "usr/bin",
          "/bin",
          "--symlink",
          "usr/lib",
          "/lib",
          ...(existsSync("/usr/lib64") ? ["--symlink", "usr/lib64", "/lib64"] : []),
          ...srcArgs,
          ...form,
          "/bin/sh",
          "-c",
          script,
        ]);
        const entry: SandboxMount =
          kind === "overlay"
            ? { type: "overlay", sources: ours.sources, upper: ours.upper, work: ours.work, target: "/o" }
            : { type: kind, sources: ours.sources, target: "/o" };
        const r = await run(script, {}, [entry]);
        expect(r.out).toBe(b.stdout.toString());
        expect(readdirSync(ours.upper)).toEqual(readdirSync(theirs.upper));
      }
    },
  );

  test.skipIf(!OVERLAY)(
    `an overlay source through another uid's symlink is refused, and nothing is mounted or made${OVERLAY_WHY}`,
    async () => {
      const L = layers();
      const link = join(L.d, "link");
      Bun.spawnSync(["ln", "-s", L.sources[0] as string, link]);
      Bun.spawnSync(["chown", "-h", "1000:1000", link]);
      Bun.spawnSync(["chmod", "0777", L.d]);
      const host = hostDir();
      expect(() =>
        start("true", {}, [
          { type: "bind", source: host, target: "/h" },
          { type: "ro-overlay", sources: [link, L.sources[1] as string], target: "/h/o" },
        ]),
      ).toThrow(expect.objectContaining({ step: "source", code: "ELOOP" }));
      expect(readdirSync(host)).toEqual([]);
    },
  );

  test.skipIf(!existsSync("/usr/bin/bash"))(
    "argv0 is the command's argv[0]; the file executed is argv[0] as given (needs /usr/bin/bash: a multi-call busybox goes by its argv[0])",
    async () => {
      const p = sandbox(["/usr/bin/bash", "-c", 'echo "$0"; tr "\\0" " " < /proc/$$/cmdline'], {
        argv0: "kitty",
        mounts: [...SYSTEM, { type: "proc", target: "/proc" }],
        stdio: ["ignore", "pipe", "pipe"],
      });
      const r = await finish(p);
      expect(r.code).toBe(0);
      expect(r.out).toBe('kitty\nkitty -c echo "$0"; tr "\\0" " " < /proc/$$/cmdline ');
    },
  );

  test("a readOnly file cannot be written even by root holding every capability; a plain one can", async () => {
    const spec: SandboxSpec = { capabilities: { drop: [] }, uid: 0, gid: 0 };
    const ro = await run("echo x > /f; cat /f; stat -c %a /f", spec, [
      { type: "file", target: "/f", data: "data\n", mode: 0o666, readOnly: true },
    ]);
    expect(ro.out).toBe("data\n666\n");
    expect(ro.err).toContain("Read-only file system");
    const rw = await run("echo x > /f; cat /f", spec, [{ type: "file", target: "/f", data: "data\n", mode: 0o666 }]);
    expect(rw.out).toBe("x\n");
  });

  test("seccomp programs given as a list are all applied", async () => {
    const r = await run("mkdir /tmp/a 2>&1 || echo mkdir-refused; ln -s x /tmp/l 2>&1 || echo link-refused; echo ok", {
      seccomp: [
        seccompFilter({ deny: ["mkdir", "mkdirat"], errno: 13 }),
        seccompFilter({ deny: ["symlink", "symlinkat"], errno: 30 }),
      ],
      mounts: [{ type: "tmpfs", target: "/tmp" }],
    });
    expect(r.out).toContain("Permission denied"); // EACCES from the first program
    expect(r.out).toContain("Read-only file system"); // EROFS from the second
    expect(r.out).toContain("mkdir-refused\n");
    expect(r.out).toContain("link-refused\n");
    expect(r.out.endsWith("ok\n")).toBe(true);
  });

  test("assertUsernsDisabled: refused where a user namespace can still be made; starts with disableNestedUserns", async () => {
    let caught: unknown;
    try {
      start("true", { assertUsernsDisabled: true });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UsernsError);
    expect((caught as UsernsError).step).toBe("userns_enabled");
    const r = await run("echo started", { assertUsernsDisabled: true, disableNestedUserns: true });
    expect(r).toEqual({ out: "started\n", err: "", code: 0 });
  });

  test("blockFd: sandbox() returns, and the command runs only once the fd is readable (a byte, or EOF)", async () => {
    for (const how of ["byte", "eof"] as const) {
      const dir = hostDir();
      const { r, w } = fifo();
      const p = start(
        "cat /w/note",
        { blockFd: r, ...(how === "eof" ? { namespaces: ["user", "mnt"] as const } : {}) },
        [{ type: "bind", source: dir, target: "/w" }],
      );
      closeSync(r);
      await sleep(300); // time enough for an unblocked command to have run and failed
      writeFileSync(join(dir, "note"), "written after the start\n");
      if (how === "byte") writeSync(w, "x");
      closeSync(w);
      expect(await finish(p)).toEqual({ out: "written after the start\n", err: "", code: 0 });
    }
  });

  test("usernsBlockFd: the namespaces exist and are reported; the view is built only once the fd is readable", async () => {
    const dir = hostDir();
    const { r, w } = fifo();
    const p = start("test -d /w/made && echo built", { usernsBlockFd: r }, [
      { type: "bind", source: dir, target: "/w" },
      { type: "tmpfs", target: "/w/made" }, // its mount point is made on the host
    ]);
    closeSync(r);
    expect(statSync(`/proc/${p.sandboxPid}/ns/mnt`).ino).toBe(p.namespaceIds.mnt);
    await sleep(300);
    expect(existsSync(join(dir, "made"))).toBe(false); // the view waits
    writeSync(w, "x");
    closeSync(w);
    expect(await finish(p)).toEqual({ out: "built\n", err: "", code: 0 });
    expect(readdirSync(dir)).toEqual([]); // and what it made on the host is gone
  });

  test.skipIf(!isRoot)(
    `usernsBlockFd with uidMap and gidMap "none": the caller writes the maps while the sandbox waits, and the command has the ids they give${isRoot ? "" : " — skipped: needs root (the sandbox's first process has /proc files only root may write: its memory is a sealed copy of Bun's)"}`,
    async () => {
      const { r, w } = fifo();
      const p = start(
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map",
        { usernsBlockFd: r, uidMap: "none", gidMap: "none" },
        [{ type: "proc", target: "/proc" }],
      );
      closeSync(r);
      for (const map of ["uid_map", "gid_map"]) writeFileSync(`/proc/${p.sandboxPid}/${map}`, "1000 0 1\n");
      writeSync(w, "x");
      closeSync(w);
      const got = await finish(p);
      const [uid, gid, ...maps] = got.out.trim().split("\n");
      expect({ uid, gid, maps: maps.map((l) => l.trim().split(/\s+/)), err: got.err, code: got.code }).toEqual({
        uid: "1000",
        gid: "1000",
        maps: [
          ["1000", "0", "1"],
          ["1000", "0", "1"],
        ],
        err: "",
        code: 0,
      });
    },
  );

  test("the command holds none of the caller's fds but usernsBlockFd, and syncFd with asPid1 (bwrap's rule)", async () => {
    const pipes = [fifo(), fifo(), fifo()];
    const [block, ublock, sync] = pipes as [
      { r: number; w: number },
      { r: number; w: number },
      { r: number; w: number },
    ];
    for (const [spec, open] of [
      [{ blockFd: block.r, syncFd: sync.w }, []],
      [{ usernsBlockFd: ublock.r, syncFd: sync.w }, [ublock.r]],
      [{ syncFd: sync.w, asPid1: true }, [sync.w]],
    ] as [SandboxSpec, number[]][]) {
      const fds = [block.r, ublock.r, sync.w];
      const p = start(`for fd in ${fds.join(" ")}; do test -e /proc/self/fd/$fd && echo $fd; done; true`, spec, [
        { type: "proc", target: "/proc" },
      ]);
      if (spec.blockFd !== undefined) writeSync(block.w, "x");
      if (spec.usernsBlockFd !== undefined) writeSync(ublock.w, "x");
      expect({ spec: Object.keys(spec), ...(await finish(p)) }).toEqual({
        spec: Object.keys(spec),
        out: open.map((fd) => `${fd}\n`).join(""),
        err: "",
        code: 0,
      });
    }
    for (const { r, w } of pipes) {
      closeSync(r);
      closeSync(w);
    }
  });

  test("syncFd is held open while the sandbox runs, and its reader sees EOF once it is over", async () => {
    const { r, w } = fifo();
    const p = sandbox(["/bin/sh", "-c", "echo up; read x"], {
      syncFd: w,
      mounts: SYSTEM,
      env: { PATH: "/usr/bin" },
      stdio: ["pipe", "pipe", "inherit"],
    });
    const pipeName = readlinkSync(`/proc/self/fd/${w}`);
    closeSync(w);
    const out = p.stdout?.getReader();
    expect(new TextDecoder().decode((await out?.read())?.value)).toBe("up\n");
    const held = readdirSync(`/proc/${p.pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${p.pid}/fd/${fd}`);
      } catch {
        return "";
      }
    });
    expect(held).toContain(pipeName);
    const stdin = p.stdin?.getWriter();
    await stdin?.write(new TextEncoder().encode("\n"));
    await stdin?.close();
    expect(await p.exited).toBe(0);
    expect(readSync(r, Buffer.alloc(8))).toBe(0); // EOF: no writer left
    closeSync(r);
  });

  test("lockFiles: a read lock on each path is held while the sandbox runs, and released at its end", async () => {
    const dir = hostDir();
    writeFileSync(join(dir, "lock"), "");
    const ino = statSync(join(dir, "lock")).ino;
    const locked = () =>
      readFileSync("/proc/locks", "utf8")
        .split("\n")
        .some((l) => / READ /.test(l) && l.split(/\s+/).some((f) => f.endsWith(`:${ino}`)));
    const p = sandbox(["/bin/sh", "-c", "echo up; read x"], {
      lockFiles: ["/w/lock"],
      mounts: [...SYSTEM, { type: "bind", source: dir, target: "/w" }],
      env: { PATH: "/usr/bin" },
      stdio: ["pipe", "pipe", "inherit"],
    });
    const out = p.stdout?.getReader();
    expect(new TextDecoder().decode((await out?.read())?.value)).toBe("up\n");
    expect(locked()).toBe(true);
    const stdin = p.stdin?.getWriter();
    await stdin?.write(new TextEncoder().encode("\n"));
    await stdin?.close();
    expect(await p.exited).toBe(0);
    expect(locked()).toBe(false);
  });

  test("a missing lock file fails the start, naming the step, with nothing left", async () => {
    const dir = hostDir();
    expect(() =>
      start("true", { lockFiles: ["/w/none"] }, [
        { type: "bind", source: dir, target: "/w" },
        { type: "dir", target: "/w/sub" },
      ]),
    ).toThrow(expect.objectContaining({ step: "lock", code: "ENOENT" }));
    expect(readdirSync(dir)).toEqual([]);
  });

  test("the handle reports the sandbox's first process and its namespaces' ids, as seen inside", async () => {
    const p = start(
      "stat -L -c '%n %i' /proc/self/ns/cgroup /proc/self/ns/ipc /proc/self/ns/mnt /proc/self/ns/net /proc/self/ns/pid /proc/self/ns/uts; read x",
      {
        stdio: ["pipe", "pipe", "pipe"],
        mounts: [{ type: "proc", target: "/proc" }],
      },
    );
    const ids = p.namespaceIds;
    // The first process is pid 1 of the sandbox's pid namespace; its namespaces are the ones reported.
    const status = readFileSync(`/proc/${p.sandboxPid}/status`, "utf8");
    expect(/^NSpid:.*\s1$/m.test(status)).toBe(true);
    for (const ns of ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"] as const)
      expect(statSync(`/proc/${p.sandboxPid}/ns/${ns}`).ino).toBe(ids[ns]);
    const stdin = p.stdin?.getWriter();
    await stdin?.close();
    const r = await finish(p);
    for (const line of r.out.trim().split("\n")) {
      const [path, ino] = line.split(" ") as [string, string];
      expect(Number(ino)).toBe(ids[path.split("/").pop() as keyof typeof ids]);
    }
    expect(ids.net).not.toBe(statSync("/proc/self/ns/net").ino);
  });

  test("userns: the sandbox runs in the user namespace given, with its maps; userns2 is entered after setup", async () => {
    const outer = await holder(["--user", "--map-user=7", "--map-group=7"]);
    try {
      const fdA = openSync(`/proc/${outer.pid}/ns/user`, "r");
      const a = statSync(`/proc/${outer.pid}/ns/user`).ino;
      const r = await run("id -u; cat /proc/self/uid_map; stat -L -c %i /proc/self/ns/user", { userns: fdA }, [
        { type: "proc", target: "/proc" },
      ]);
      expect(r.code).toBe(0);
      const [uid, map, ino] = r.out.trim().split("\n") as [string, string, string];
      expect(uid).toBe("7");
      expect(map.trim().split(/\s+/)).toEqual(["7", "0", "1"]);
      expect(Number(ino)).toBe(a);
      // A namespace below A, made from inside it.
      const inner = Bun.spawn(
        [
          "nsenter",
          "-t",
          String(outer.pid),
          "-U",
          "--preserve-credentials",
          "--",
          "unshare",
          "--user",
          "--map-user=9",
          "sh",
          "-c",
          "echo $$; exec sleep 60",
        ],
        { stdout: "pipe" },
      );
      const innerPid = Number(new TextDecoder().decode((await inner.stdout.getReader().read()).value).trim());
      const fdB = openSync(`/proc/${innerPid}/ns/user`, "r");
      const b = statSync(`/proc/${innerPid}/ns/user`).ino;
      const p = start("id -u; stat -L -c %i /proc/self/ns/user", { userns: fdA, userns2: fdB }, [
        { type: "proc", target: "/proc" },
      ]);
      const r2 = await finish(p);
      inner.kill(9);
      await inner.exited;
      closeSync(fdA);
      closeSync(fdB);
      expect(r2.err).toBe("");
      expect(r2.out.trim().split("\n")).toEqual(["9", String(b)]);
      expect(p.namespaceIds.user).toBe(a); // the view was built in A
    } finally {
      await outer.end();
    }
  });

  test("pidns: the sandbox goes into the pid namespace given", async () => {
    const h = await holder(["--pid", "--fork"]);
    try {
      const child = Number(readFileSync(`/proc/${h.pid}/task/${h.pid}/children`, "utf8").trim().split(" ")[0]);
      const given = statSync(`/proc/${child}/ns/pid`).ino;
      const fd = openSync(`/proc/${child}/ns/pid`, "r");
      const p = start("read x || true", {
        pidns: fd,
        namespaces: ["user", "mnt"],
        stdio: ["pipe", "ignore", "ignore"],
      });
      expect(p.namespaceIds.pid).toBe(given);
      const nspid = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${p.sandboxPid}/status`, "utf8"))?.[1]?.split(/\s+/);
      expect(nspid?.length).toBe(2); // ours, and the one given
      await p.stdin?.getWriter().close();
      expect(await p.exited).toBe(0);
      closeSync(fd);
    } finally {
      await h.end();
    }
  });

  test('pidns with "pid": a pid namespace of its own, made below the one given, with an init as its pid 1', async () => {
    const h = await holder(["--pid", "--fork"]);
    try {
      const child = Number(readFileSync(`/proc/${h.pid}/task/${h.pid}/children`, "utf8").trim().split(" ")[0]);
      const given = statSync(`/proc/${child}/ns/pid`).ino;
      const fd = openSync(`/proc/${child}/ns/pid`, "r");
      const p = start(
        "echo $$; read x || true",
        {
          pidns: fd,
          namespaces: ["user", "mnt", "pid"],
          stdio: ["pipe", "pipe", "pipe"],
        },
        [{ type: "proc", target: "/proc" }],
      );
      closeSync(fd);
      // The sandbox's first process is pid 1 of a namespace of its own, two levels below ours.
      expect(p.namespaceIds.pid).not.toBe(given);
      const nspid = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${p.sandboxPid}/status`, "utf8"))?.[1]?.split(/\s+/);
      expect(nspid?.length).toBe(3); // ours, the one given, its own
      expect(nspid?.at(-1)).toBe("1");
      // That namespace's parent is the one given (NS_GET_PARENT, as lsns shows it).
      const parent = Bun.spawnSync(["lsns", "-n", "-t", "pid", "-o", "NS,PNS", "-p", String(p.sandboxPid)]);
      expect(parent.stdout.toString().trim().split(/\s+/)).toEqual([String(p.namespaceIds.pid), String(given)]);
      await p.stdin?.getWriter().close();
      const r = await finish(p);
      expect(r.out.trim()).toBe("2"); // the command is pid 2 under our init
      expect(r.code).toBe(0);
      // asPid1: the command itself is that pid 1.
      const fd1 = openSync(`/proc/${child}/ns/pid`, "r");
      const own = await run("echo $$; exit 3", { pidns: fd1, namespaces: ["user", "mnt", "pid"], asPid1: true }, [
        { type: "proc", target: "/proc" },
      ]);
      closeSync(fd1);
      expect(own).toEqual({ out: "1\n", err: "", code: 3 });
    } finally {
      await h.end();
    }
  });
});

describe("hostile or conflicting options are refused before anything is made", () => {
  const refuse = (spec: unknown, re: RegExp) => {
    expect(() => sandbox(["true"], spec as SandboxSpec)).toThrow(re);
  };
  test("fds, argv0, lockFiles, seccomp lists, userns with maps", () => {
    refuse({ blockFd: -1 }, /blockFd must be a file descriptor/);
    refuse({ syncFd: 1.5 }, /syncFd must be a file descriptor/);
    refuse({ userns: "3" }, /userns must be a file descriptor/);
    refuse({ blockFd: 2 ** 30 }, /blockFd: 1073741824 is not an open file descriptor/);
    refuse({ argv0: "a\0b" }, /argv0 contains a NUL byte/);
    refuse({ lockFiles: ["rel"] }, /lockFiles\[0\] must be an absolute path/);
    refuse({ lockFiles: "/x" }, /lockFiles must be an array/);
    refuse({ seccomp: [new Uint8Array(8), new Uint8Array(3)] }, /seccomp\[1\] must be 1-4096 struct sock_filter/);
    refuse({ seccomp: [] as Uint8Array[], userns: 0, uidMap: "0:0:1" }, /userns conflicts with uidMap/);
    refuse({ assertUsernsDisabled: 1 }, /assertUsernsDisabled must be a boolean/);
    refuse({ uidMap: "none" }, /uidMap and gidMap "none" need usernsBlockFd/);
    refuse({ gidMap: "none", blockFd: 0 }, /uidMap and gidMap "none" need usernsBlockFd/);
  });
  test("overlay entries: sources, upper and work are absolute host paths that exist; ro-overlay takes two layers", () => {
    const d = hostDir();
    refuse({ mounts: [{ type: "overlay", target: "/x" }] }, /sources must be an array/);
    refuse({ mounts: [{ type: "ro-overlay", sources: [d], target: "/x" }] }, /ro-overlay takes 2-500 layers, got 1/);
    refuse({ mounts: [{ type: "tmp-overlay", sources: [], target: "/x" }] }, /tmp-overlay takes 1-500 layers/);
    refuse(
      { mounts: [{ type: "overlay", sources: [d], upper: "up", work: d, target: "/x" }] },
      /upper must be an absolute host path/,
    );
    refuse({ mounts: [{ type: "overlay", sources: [d], work: d, target: "/x" }] }, /upper must be a string/);
    refuse({ mounts: [{ type: "tmp-overlay", sources: [d], upper: d, target: "/x" }] }, /"upper" does not apply/);
    refuse(
      { mounts: [{ type: "overlay", sources: [d], upper: `${d}/none`, work: d, target: "/x" }] },
      /can't find source path/,
    );
    refuse({ mounts: [{ type: "file", target: "/f", data: "", readOnly: "yes" }] }, /readOnly must be a boolean/);
    expect(readdirSync(d)).toEqual([]);
  });
});
