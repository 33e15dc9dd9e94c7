// The sandbox's monitor: an image of its own (our code and the request), not
// a copy of Bun's memory; a fork of Bun when no image can run; and sealed
// against the sandbox's processes either way.
import { describe, expect, test } from "bun:test";
import {
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SandboxMount, sandbox } from "../src/index.ts";
import { childPids, fifoEnds, isRoot, rootIsInitramfs } from "./support/proc.ts";

const PIVOT = rootIsInitramfs ? " — skipped: / is the initial ramfs here, which pivot_root refuses to leave" : "";
const SKIP = !isRoot ? " (needs uid 0)" : PIVOT;
const FIXTURE = join(import.meta.dir, "fixtures", "sandbox-monitor.ts");
const NATIVE = join(import.meta.dir, "..", "native");
const SYSTEM: SandboxMount[] = [
  { type: "ro-bind", source: "/usr", target: "/usr" },
  { type: "symlink", target: "/bin", linkTo: "usr/bin" },
  { type: "symlink", target: "/lib", linkTo: "usr/lib" },
  ...(existsSync("/usr/lib64") ? [{ type: "symlink" as const, target: "/lib64", linkTo: "usr/lib64" }] : []),
  { type: "proc", target: "/proc" },
];

interface Seen {
  code: number;
  execMapped: boolean;
  imageMapped: boolean;
  children: number;
}
const GCC = Bun.which("gcc") ?? Bun.which("cc");

/** The fixture run here with ENV: what it saw (it wrote nothing to stderr). */
const fixtureSeen = (env: Record<string, string> = {}): Seen => {
  const r = Bun.spawnSync([process.execPath, FIXTURE], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  expect(r.stderr.toString()).toBe("");
  return JSON.parse(r.stdout.toString().trim()) as Seen;
};
const OWN_IMAGE: Seen = { code: 143, execMapped: false, imageMapped: true, children: 0 };

describe.skipIf(SKIP !== "")(`the sandbox's monitor${SKIP}`, () => {
  test("holds no copy of Bun's memory: its mappings are its own image's, none of Bun's", async () => {
    const p = sandbox(["/bin/sh", "-c", "echo up; exec sleep 600"], {
      stdio: ["ignore", "pipe", "inherit"],
      mounts: SYSTEM,
    });
    await (p.stdout as ReadableStream<Uint8Array>).getReader().read();
    const maps = readFileSync(`/proc/${p.pid}/maps`, "utf8");
    const rss = Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"))?.[1]);
    const own = Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
    p.kill("SIGKILL");
    expect(await p.exited).toBe(137);
    const exe = realpathSync(process.execPath);
    expect(maps.split("\n").filter((l) => l.endsWith(` ${exe}`))).toEqual([]);
    expect(maps).toContain("/memfd:bun-userns-monitor (deleted)");
    // What it has resident is its image, a small part of this process's.
    expect(rss).toBeLessThan(own / 4);
  });

  const NOEXEC = existsSync("/proc/sys/vm/memfd_noexec") ? "" : " (needs vm.memfd_noexec: kernel 6.3 or later)";
  test.skipIf(NOEXEC !== "")(
    `under vm.memfd_noexec=2 (no memfd may run) the monitor is a fork of Bun and the sandbox still runs${NOEXEC}`,
    () => {
      // A pid namespace of its own: the setting is per pid namespace, the host's is untouched.
      const script = `echo 2 > /proc/sys/vm/memfd_noexec && exec ${process.execPath} ${FIXTURE}`;
      const r = Bun.spawnSync(["unshare", "-p", "-f", "--mount-proc", "sh", "-c", script], {
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(r.stderr.toString()).toBe("");
      const seen = JSON.parse(r.stdout.toString().trim()) as Seen;
      expect(seen).toEqual({ code: 143, execMapped: true, imageMapped: false, children: 0 });
    },
  );

  test.skipIf(NOEXEC !== "")(
    `under vm.memfd_noexec=2, disableNestedUserns (whose namespace's maker must run the park program) is refused at its step with a hint naming the setting${NOEXEC}`,
    () => {
      const code = `
        import { sandbox } from ${JSON.stringify(join(import.meta.dir, "..", "src", "index.ts"))};
        try {
          await sandbox(["/bin/true"], { disableNestedUserns: true, mounts: ${JSON.stringify(SYSTEM.filter((m) => m.type !== "proc"))} }).exited;
          console.log("started");
        } catch (e) {
          console.log(JSON.stringify({ code: e.code, step: e.step, hint: e.hint }));
        }`;
      const script = `echo 2 > /proc/sys/vm/memfd_noexec && exec ${process.execPath} -e '${code}'`;
      const r = Bun.spawnSync(["unshare", "-p", "-f", "--mount-proc", "sh", "-c", script], {
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(r.stderr.toString()).toBe("");
      const seen = JSON.parse(r.stdout.toString().trim()) as { code: string; step: string; hint: string };
      expect([seen.code, seen.step]).toEqual(["EACCES", "nested_userns"]);
      expect(seen.hint).toStartWith("vm.memfd_noexec is 2");
    },
  );

  test.skipIf(!GCC)(
    `an exec of the image refused after it was built (execveat denied by seccomp): the monitor dead before its image ran is reaped, a fork runs the sandbox${GCC ? "" : " (needs gcc)"}`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), "bun-userns-monitor-"));
      try {
        const deny = join(dir, "seccomp-deny");
        const b = Bun.spawnSync([
          GCC as string,
          "-O2",
          "-o",
          deny,
          join(import.meta.dir, "fixtures", "seccomp-deny.c"),
        ]);
        expect(b.stderr.toString()).toBe("");
        const execveat = process.arch === "arm64" ? "281" : "322";
        const r = Bun.spawnSync([deny, execveat, "1", "--", process.execPath, FIXTURE], {
          stdout: "pipe",
          stderr: "pipe",
        });
        expect(r.stderr.toString()).toBe("");
        const seen = JSON.parse(r.stdout.toString().trim()) as Seen;
        expect(seen).toEqual({ code: 143, execMapped: true, imageMapped: false, children: 0 });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  /** Runs FN with a gcc build of native/ (docs/api.md's build line), removed after. */
  const withGccLibrary = (fn: (so: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-lib-"));
    try {
      const so = join(dir, "libuserns.so");
      const flags = ["-O2", "-Wall", "-Werror", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-fPIC"];
      const b = Bun.spawnSync([GCC as string, ...flags, "-shared", "-o", so, join(NATIVE, "userns.c")]);
      expect(b.stderr.toString()).toBe("");
      fn(so);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test.skipIf(!GCC)(
    `with a gcc library (BUN_USERNS_LIB) the monitor is its own image too${GCC ? "" : " (needs gcc)"}`,
    () => withGccLibrary((so) => expect(fixtureSeen({ BUN_USERNS_LIB: so })).toEqual(OWN_IMAGE)),
  );

  const SETARCH = Bun.which("setarch");
  test.skipIf(!GCC || !SETARCH)(
    `without address randomisation (setarch -R), where a gcc library lies just below the stack's fixed top, the monitor is still its own image${GCC && SETARCH ? "" : " (needs gcc and setarch)"}`,
    () =>
      withGccLibrary((so) => {
        const r = Bun.spawnSync([SETARCH as string, "-R", process.execPath, FIXTURE], {
          stdout: "pipe",
          stderr: "pipe",
          env: { ...process.env, BUN_USERNS_LIB: so },
        });
        expect(r.stderr.toString()).toBe("");
        expect(JSON.parse(r.stdout.toString().trim())).toEqual(OWN_IMAGE);
      }),
  );

  test("the same fixture without the setting sees the monitor's own image (the fallback test's control)", () => {
    expect(fixtureSeen()).toEqual(OWN_IMAGE);
  });

  test("a heap the application left full of non-zero bytes before the first sandbox() still gives the monitor its own image", () => {
    // TinyCC's memory for our code is unzeroed heap: past the GOT's last entry lie whatever bytes were there.
    expect(fixtureSeen({ DIRTY_HEAP: "1" })).toEqual(OWN_IMAGE);
  });

  test("a command named by /proc/self/exe runs Bun, as bwrap's runs bwrap (that command's monitor is a fork)", async () => {
    const p = sandbox(["/proc/self/exe", "-e", "console.log('bun', typeof Bun)"], {
      stdio: ["ignore", "pipe", "pipe"],
      mounts: SYSTEM,
    });
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect([code, out]).toEqual([0, "bun object\n"]);
  });
});

describe.skipIf(SKIP !== "")(`descriptors across threads${SKIP}`, () => {
  test("a sandbox started on another thread holds none of ours while its start runs: closing the write end of a running command's stdin is its EOF", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-held-"));
    const fifo = join(dir, "fifo");
    Bun.spawnSync(["mkfifo", fifo]);
    const worker = new Worker(join(import.meta.dir, "fixtures", "held-sandbox-worker.ts"));
    const messages: unknown[] = [];
    let heard: () => void = () => {};
    worker.onmessage = (e) => {
      messages.push(e.data);
      heard();
    };
    const next = () => new Promise<void>((res) => (heard = res));
    // The command waits for EOF on its stdin: a pipe whose write end only Bun's table holds (ours, by number).
    const ends = fifoEnds(dir);
    let w = ends.w;
    const r = ends.r;
    const p = sandbox(["/bin/sh", "-c", "cat; echo eof"], {
      stdio: [r, "pipe", "inherit"],
      mounts: SYSTEM,
    });
    closeSync(r);
    let held = false;
    try {
      const started = next();
      worker.postMessage({ dir });
      await started;
      // The Worker's start is held once its view waits in the FIFO's open (a reader there, no writer).
      const deadline = Date.now() + 20_000;
      // Held: a process of that start (a child of one of our children: the monitor's first process) waits there.
      const waiting = () =>
        childPids(process.pid)
          .flatMap((pid) => childPids(pid))
          .some((pid) => {
            try {
              return readFileSync(`/proc/${pid}/wchan`, "utf8") === "wait_for_partner";
            } catch {
              return false;
            }
          });
      while (!waiting() && Date.now() < deadline) await Bun.sleep(5);
      held = waiting();
      expect(held).toBe(true);
      closeSync(w);
      w = -1;
      // EOF reaches the command while the other start is still held (the deadline only bounds a failure).
      const out = await Promise.race([new Response(p.stdout).text(), Bun.sleep(5_000).then(() => "no eof")]);
      expect(out).toBe("eof\n");
      expect(await p.exited).toBe(0);
    } finally {
      if (w >= 0) closeSync(w);
      p.kill("SIGKILL");
      await p.exited;
      // Release the held start: a writer opens (and closes) the FIFO.
      const done = next();
      if (held) closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      await Promise.race([done, Bun.sleep(10_000)]);
      worker.terminate();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(SKIP !== "")(`the monitor and the init against the sandbox's root${SKIP}`, () => {
  // A command of another host uid holding every capability of the sandbox's
  // user namespace (CAP_SYS_PTRACE there among them), where the monitor and
  // the init live. Their mm is sealed (non-dumpable) and belongs to the
  // caller's user namespace, so neither /proc/PID/mem nor ptrace reaches it.
  const spec = (ns: "pid" | "nopid") => ({
    uid: 1000,
    gid: 1000,
    uidMap: "0:0:1,1000:1000:1",
    gidMap: "0:0:1,1000:1000:1",
    capabilities: { drop: [] as string[] },
    namespaces: ns === "pid" ? (["user", "mnt", "pid"] as const) : (["user", "mnt"] as const),
    stdio: ["ignore", "pipe", "pipe"] as const,
    // Without a pid namespace the host's /proc shows the monitor (the command's parent).
    mounts:
      ns === "pid"
        ? SYSTEM
        : [...SYSTEM.filter((m) => m.type !== "proc"), { type: "bind" as const, source: "/proc", target: "/proc" }],
  });
  // "denied" if the open of mem fails, "opened" if it succeeds; maps likewise.
  const probe = (pid: string) =>
    `for f in mem maps; do if (exec 3</proc/${pid}/$f) 2>/dev/null; then echo "$f opened"; else echo "$f denied"; fi; done; ` +
    `grep -q '^CapEff:.*ffffffff' /proc/self/status && echo caps`;

  test("the monitor's memory (the command's parent, no pid namespace) cannot be opened", async () => {
    const p = sandbox(["/bin/sh", "-c", probe("$PPID")], spec("nopid"));
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect([code, out]).toEqual([0, "mem denied\nmaps denied\ncaps\n"]);
  });

  test("the init's memory (pid 1, sharing the monitor's) cannot be opened", async () => {
    const p = sandbox(["/bin/sh", "-c", probe("1")], spec("pid"));
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect([code, out]).toEqual([0, "mem denied\nmaps denied\ncaps\n"]);
  });

  // What of theirs a prober reaches: each line a success (nothing but "checked" when all is closed).
  const reach = (pids: string) =>
    `for p in ${pids}; do for f in mem environ exe; do (exec 3</proc/$p/$f) 2>/dev/null && echo "$p $f opened"; done; ` +
    `readlink /proc/$p/exe >/dev/null 2>&1 && echo "$p exe read"; ` +
    // map_files: its entries open the mapped image itself (CAP_SYS_ADMIN only); listing their names (address ranges)
    // is left to the kernel: Linux 6.1 lets the same host uid list them, 6.18 does not.
    `for m in /proc/$p/map_files/*; do (exec 3<$m) 2>/dev/null && echo "$m opened"; done; ` +
    `for d in /proc/$p/fd/*; do readlink $d >/dev/null 2>&1 && echo "$d read"; (exec 3<$d) 2>/dev/null && echo "$d opened"; done; ` +
    "done; echo checked";
  const NSENTER = Bun.which("nsenter") && Bun.which("setpriv") ? "" : " (needs util-linux nsenter and setpriv)";

  test.skipIf(NSENTER !== "")(
    `before the command's exec (blockFd) and after it, the monitor's, the init's and the command's memory, image (exe, map_files) and fds are closed to a process entered into the sandbox and to another host uid${NSENTER}`,
    async () => {
      const { r, w } = fifoEnds(tmpdir());
      const p = sandbox(["/bin/sh", "-c", "echo ran; exec sleep 600"], { ...spec("pid"), blockFd: r });
      closeSync(r);
      try {
        const inside = () =>
          Bun.spawnSync(["nsenter", "-t", String(p.sandboxPid), "-U", "-m", "-p", "/bin/sh", "-c", reach("1 2")], {
            stdout: "pipe",
          }).stdout.toString();
        const hostPids = () =>
          [
            p.pid,
            p.sandboxPid,
            ...readFileSync(`/proc/${p.sandboxPid}/task/${p.sandboxPid}/children`, "utf8").trim().split(/\s+/),
          ].join(" ");
        const entered = (pids: string) =>
          Bun.spawnSync(["nsenter", "-t", String(p.sandboxPid), "-U", "/bin/sh", "-c", reach(pids)], {
            stdout: "pipe",
          }).stdout.toString();
        const foreign = (pids: string) =>
          Bun.spawnSync(
            ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/bin/sh", "-c", reach(pids)],
            { stdout: "pipe" },
          ).stdout.toString();
        // Before the exec: the command (pid 2) is our code still, waiting on blockFd in the monitor's image.
        const before = hostPids();
        expect(before.split(" ").length).toBe(3);
        expect(readFileSync(`/proc/${before.split(" ")[2]}/cmdline`, "utf8")).toBe("bun-userns-monitor\0");
        expect([inside(), entered(before), foreign(before)]).toEqual(["checked\n", "checked\n", "checked\n"]);
        writeSync(w, "x");
        const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
        expect(new TextDecoder().decode((await reader.read()).value)).toBe("ran\n");
        // After: the command is sleep (its own mm, uid 1000 inside: not ours to defend), the init and monitor remain.
        const after = `${p.pid} ${p.sandboxPid}`;
        expect([inside().replace(/^2 .*\n|^\/proc\/2\/.*\n/gm, ""), entered(after), foreign(after)]).toEqual([
          "checked\n",
          "checked\n",
          "checked\n",
        ]);
        reader.releaseLock();
      } finally {
        closeSync(w);
        p.kill("SIGKILL");
        await p.exited;
      }
    },
  );

  test.skipIf(!existsSync("/usr/bin/strace"))("ptrace attach to the init fails (needs strace)", async () => {
    const p = sandbox(["/bin/sh", "-c", "strace -p 1 -e trace=none 2>&1 | head -1; echo done"], spec("pid"));
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(code).toBe(0);
    expect(out).toContain("Operation not permitted");
  });
});
