/**
 * `bun-userns enter ARGS -- CMD` against util-linux `nsenter ARGS CMD` on
 * this machine, into the same target processes: what CMD observes must be
 * the same (see support/dropin.ts). Then util-linux's own test case for
 * nsenter, re-expressed.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUN_USERNS, hasUtilLinux, observed, ourLinks, probe, run } from "./support/dropin.ts";
import { cleanupBase, sh } from "./support/mounts.ts";
import { descendants, isRoot } from "./support/proc.ts";

const READY = isRoot && hasUtilLinux;
const WHY = "(needs root and util-linux nsenter)";

/** A target: a process in namespaces of its own, started by util-linux unshare, in DIR. */
async function target(
  args: string[],
  dir: string,
): Promise<{ proc: Subprocess<"ignore", "pipe", "inherit">; pid: number }> {
  const proc = Bun.spawn(["unshare", ...args, "sh", "-c", "echo $$; exec sleep 120"], {
    cwd: dir,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  reader.releaseLock();
  // With -p -f the shell is a child of unshare: its pid here is the one to enter.
  const inner = Number(first.trim());
  const pid = inner === 1 ? (descendants(proc.pid)[0] as number) : proc.pid;
  return { proc, pid };
}

describe.skipIf(!READY)(`enter side by side with util-linux nsenter ${WHY}`, () => {
  const base = READY ? mkdtempSync(join(tmpdir(), "dropin-nsenter-")) : "";
  const refs = READY ? ourLinks() : [];
  const probeCmd = () => ["sh", probe(), ...refs];
  if (READY) probe(); // before the targets copy our mounts: the probe is there for them too
  const cwd = join(base, "target-cwd");
  if (READY) mkdirSync(cwd);
  const started: Subprocess[] = [];
  afterAll(() => {
    for (const p of started) p.kill("SIGKILL");
    if (READY) cleanupBase(base);
  });

  async function both(args: string[], cmd: string[]) {
    const theirs = await run(["nsenter", ...args, ...cmd]);
    const ours = await run([...BUN_USERNS, "enter", ...args, "--", ...cmd]);
    return { theirs, ours };
  }

  test("into a process with its own mount, uts, ipc, net, cgroup, pid and time namespaces", async () => {
    const t = await target(["-m", "-u", "-i", "-n", "-C", "-p", "-f", "--mount-proc", "-T"], cwd);
    started.push(t.proc);
    const pid = String(t.pid);
    const CASES: string[][] = [
      ["-t", pid, "-a"],
      ["--target", pid, "--all"],
      ["-t", pid, "-m", "-u", "-n"],
      ["-t", pid, "--mount", "--uts", "--net", "--ipc", "--cgroup"],
      ["-t", pid, "-p"],
      ["-t", pid, "-p", "-F"],
      ["-t", pid, "-T"],
      ["-t", pid, "-i", "-C"],
      ["-t", pid],
      ["-t", pid, "-n", "-S", "1000", "-G", "1000"],
      ["-t", pid, "-m", "-S", "0"],
      ["-t", pid, "-w"],
      ["-t", pid, "-m", "-w"],
      ["-t", pid, "-r", "-w"],
      ["-t", pid, "-m", "-W", "/tmp"],
      ["-t", pid, "--wdns=/usr", "-m"],
    ];
    for (const args of CASES) {
      const { theirs, ours } = await both(args, probeCmd());
      expect({ args, code: theirs.code }).toEqual({ args, code: 0 });
      expect({ args, ...observed(ours) }).toEqual({ args, ...observed(theirs) });
    }
    // nsenter's short namespace options take an attached file: -mun is --mount=un, which does not exist.
    const cluster = await both(["-t", pid, "-mun"], ["true"]);
    expect([cluster.ours.code, cluster.theirs.code]).toEqual([1, 1]);
  });

  test("-r without -w: CMD starts at / of the root (nsenter keeps the old directory, outside it: an intended difference)", async () => {
    const t = await target(["-m"], cwd);
    started.push(t.proc);
    const { theirs, ours } = await both(["-t", String(t.pid), "-r"], probeCmd());
    const { cwd: theirCwd, ...theirRest } = observed(theirs);
    const { cwd: ourCwd, ...ourRest } = observed(ours);
    expect(ourRest).toEqual(theirRest);
    expect([theirCwd, ourCwd]).toEqual([process.cwd(), "/"]);
  });

  test("into a process with its own user namespace (root there), and its mount and net namespaces", async () => {
    const t = await target(["-r", "-m", "-n"], cwd);
    started.push(t.proc);
    const pid = String(t.pid);
    const CASES: string[][] = [
      ["-t", pid, "-U", "-m", "-n"],
      ["-t", pid, "-a"],
      ["-t", pid, "-U"],
      ["-t", pid, "-U", "--preserve-credentials"],
      ["-t", pid, "-U", "-S", "0", "-G", "0"],
      ["-t", pid, "-U", "-n", "-w"],
    ];
    for (const args of CASES) {
      const { theirs, ours } = await both(args, probeCmd());
      expect({ args, code: theirs.code }).toEqual({ args, code: 0 });
      expect({ args, ...observed(ours) }).toEqual({ args, ...observed(theirs) });
    }
  });

  test("--NS=FILE and -nFILE: the namespace pinned in a file", async () => {
    const t = await target(["-n", "-u"], cwd);
    started.push(t.proc);
    const files = { net: join(base, "net"), uts: join(base, "uts") };
    for (const [k, f] of Object.entries(files)) {
      writeFileSync(f, "");
      expect(sh(["mount", "--bind", `/proc/${t.pid}/ns/${k}`, f]).ok).toBe(true);
    }
    for (const args of [[`--net=${files.net}`], [`--net=${files.net}`, `--uts=${files.uts}`], [`-n${files.net}`]]) {
      const { theirs, ours } = await both(args, probeCmd());
      expect({ args, code: theirs.code }).toEqual({ args, code: 0 });
      expect({ args, ...observed(ours) }).toEqual({ args, ...observed(theirs) });
    }
    for (const f of Object.values(files)) sh(["umount", f]);
  });

  test("exit status and death by a signal, as nsenter", async () => {
    const pid = String(process.pid);
    for (const cmd of [["sh", "-c", "exit 7"], ["sh", "-c", "kill -TERM $$"], ["no-such-command-dropin"], ["/tmp"]]) {
      const { theirs, ours } = await both(["-t", pid], cmd);
      expect({ cmd, code: ours.code, signal: ours.signal }).toEqual({ cmd, code: theirs.code, signal: theirs.signal });
    }
  });

  test("usage: --all without --target, namespaces without a target, -Z without SELinux: refused (2)", async () => {
    for (const args of [["-a"], ["-n"], ["-t", "1", "-Z"], ["--bogus"]]) {
      const r = await run([...BUN_USERNS, "enter", ...args, "--", "true"]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
    }
    const pkg = await Bun.file(join(import.meta.dir, "..", "package.json")).json();
    expect((await run([...BUN_USERNS, "enter", "-t", "1", "-V"])).stdout).toBe(`${pkg.version}\n`);
  });

  // What util-linux 2.40-2.41 added to nsenter, where Debian's 2.38 lacks it: tested against its documentation.
  test("newer nsenter: -e takes PID's environment, -S/-G follow its ids, --keep-caps keeps an entered user namespace's capabilities", async () => {
    const spawnTarget = async (args: string[]) => {
      const p = Bun.spawn(["unshare", ...args, "sh", "-c", "echo $$; exec sleep 120"], {
        cwd,
        env: { ...process.env, DROPIN_TARGET_ONLY: "from-target" },
        stdout: "pipe",
        stderr: "inherit",
      });
      started.push(p);
      const reader = p.stdout.getReader();
      await reader.read();
      reader.releaseLock();
      return String(p.pid);
    };
    const asOther = await spawnTarget(["-S", "4321", "-G", "4321"]);
    const env = await run([
      ...BUN_USERNS,
      "enter",
      "-t",
      asOther,
      "-e",
      "--",
      "sh",
      "-c",
      `echo \${DROPIN_TARGET_ONLY:-none}`,
    ]);
    expect(env.stdout).toBe("from-target\n");
    const ids = await run([
      ...BUN_USERNS,
      "enter",
      "-t",
      asOther,
      "-S",
      "follow",
      "-G",
      "follow",
      "--",
      "sh",
      "-c",
      "echo $(id -u):$(id -g)",
    ]);
    expect(ids.stdout).toBe("4321:4321\n");
    // Entering a user namespace with our ids kept (unmapped there): capabilities go at exec, unless kept.
    const unmapped = await spawnTarget(["-U"]);
    const caps = async (extra: string[]) =>
      (
        await run([
          ...BUN_USERNS,
          "enter",
          "-t",
          unmapped,
          "-U",
          "--preserve-credentials",
          ...extra,
          "--",
          "grep",
          "CapEff",
          "/proc/self/status",
        ])
      ).stdout
        .trim()
        .split(/\s+/)[1];
    expect(await caps([])).toBe("0000000000000000");
    expect(await caps(["--keep-caps"])).not.toBe("0000000000000000");
  });

  // util-linux's own nsenter case (tests/ts/nsenter/enter-via-socket) enters the net namespace of a socket's
  // owner through the socket (nsenter -N, util-linux 2.41); bun-userns enter has no such option. What it
  // checks underneath, entering a process's net namespace and seeing its interfaces, holds:
  test("util-linux's enter-via-socket case, underneath: CMD sees the target's network namespace", async () => {
    const t = await target(["-n"], cwd);
    started.push(t.proc);
    const r = await run([...BUN_USERNS, "enter", "-t", String(t.pid), "-n", "--", "sh", "-c", "ls /sys/class/net"]);
    const theirs = await run(["nsenter", "-t", String(t.pid), "-n", "sh", "-c", "ls /sys/class/net"]);
    expect(r.stdout).toBe(theirs.stdout);
  });
});
