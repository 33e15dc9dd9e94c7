/** `bun-userns exec` and `bun-userns enter`, run as a user would. */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scratch } from "./support/mounts.ts";
import { isRoot, nsLink } from "./support/proc.ts";

const CLI = join(import.meta.dir, "..", "src", "cli.ts");

function start(args: string[]) {
  return Bun.spawn([process.execPath, CLI, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
}

async function cli(args: string[]) {
  const p = start(args);
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { stdout, stderr, code };
}

const hasMount = Bun.which("mount") !== null;

describe("bun-userns exec", () => {
  test.skipIf(!isRoot)(`-r -n: CMD is uid 0 in a net namespace other than ours (needs root)`, async () => {
    const r = await cli(["exec", "-r", "-n", "--", "sh", "-c", "id -u; readlink /proc/self/ns/net"]);
    expect(r.code).toBe(0);
    const [uid, net] = r.stdout.trim().split("\n");
    expect(uid).toBe("0");
    expect(net).toMatch(/^net:\[\d+\]$/);
    expect(net).not.toBe(nsLink("self", "net"));
  });

  test.skipIf(!isRoot || !hasMount)(
    `--map 0:1000:65536 -m: a tmpfs mounted inside leaves nothing in our mount namespace (needs root and a mount binary)`,
    async () => {
      const dir = scratch("bun-userns-exec-mnt-"); // reachable by the namespace's root, host uid 1000
      try {
        const r = await cli([
          "exec",
          "--map",
          "0:1000:65536",
          "-m",
          "--",
          "sh",
          "-c",
          `mount -t tmpfs x ${dir} && touch ${dir}/f && ls ${dir}`,
        ]);
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe("f\n");
        expect(r.code).toBe(0);
        expect(existsSync(join(dir, "f"))).toBe(false);
        // Only DIR could have changed: other processes on this host mount elsewhere meanwhile.
        const points = readFileSync("/proc/self/mountinfo", "utf8")
          .split("\n")
          .map((l) => l.split(" ")[4]);
        expect(points).not.toContain(dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test.skipIf(!isRoot)(`-p --fork --mount-proc: CMD is pid 1 (needs root)`, async () => {
    const r = await cli([
      "exec",
      "-r",
      "-p",
      "--fork",
      "--mount-proc",
      "--",
      "sh",
      "-c",
      "set -- /proc/[0-9]*; echo $$ $#", // pid 1, and alone in the fresh /proc
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("1 1\n");
  });

  test.skipIf(!isRoot)(
    `exit status as a shell: 7 passes through, 127 not found, 126 not executable, 128+N (needs root)`,
    async () => {
      expect((await cli(["exec", "-r", "--", "sh", "-c", "exit 7"])).code).toBe(7);
      const nf = await cli(["exec", "-r", "-n", "--", "no-such-command-xyz"]);
      expect(nf.code).toBe(127);
      expect(nf.stderr).toContain("no-such-command-xyz: command not found");
      expect((await cli(["exec", "-r", "--", "/etc/passwd"])).code).toBe(126);
      expect((await cli(["exec", "-r", "--", "sh", "-c", "kill -KILL $$"])).code).toBe(137);
    },
  );

  test.skipIf(!isRoot)(`SIGTERM to bun-userns reaches CMD (needs root)`, async () => {
    const p = start([
      "exec",
      "-r",
      "-n",
      "--",
      "sh",
      "-c",
      "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done",
    ]);
    const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    p.kill("SIGTERM");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain("got-term");
    expect(await p.exited).toBe(42);
  });

  test("bad input: unknown namespace, --pid=FILE without --fork, missing command: usage errors, nothing run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-exec-bad-"));
    try {
      // CMD would leave this file: its absence shows CMD never ran.
      const marker = join(dir, "ran");
      const cmd = ["--", "sh", "-c", `: > ${marker}`];
      const u = await cli(["exec", "--unshare", "netz", ...cmd]);
      expect(u.code).toBe(2);
      expect(u.stderr).toContain('unknown namespace "netz"');
      const pin = await cli(["exec", "-r", `--pid=${join(dir, "pin")}`, ...cmd]);
      expect(pin.code).toBe(2);
      expect(pin.stderr).toContain("--pid=FILE pins the pid namespace CMD is pid 1 of: add --fork");
      expect(existsSync(join(dir, "pin"))).toBe(false);
      expect((await cli(["exec", "-r"])).code).toBe(2);
      expect((await cli(["exec", "--propagation", "weird", ...cmd])).code).toBe(2);
      expect(existsSync(marker)).toBe(false);
      expect((await cli(["exec", "--help"])).stdout).toContain("Usage: bun-userns exec");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bun-userns enter", () => {
  test.skipIf(!isRoot)(`--target PID enters its namespaces; --net=FILE enters a file (needs root)`, async () => {
    const target = start(["exec", "-r", "-n", "-u", "--", "sh", "-c", "hostname inside-x; echo ready; exec sleep 30"]);
    try {
      await enterChecks(target);
    } finally {
      // A failed check must not leave the CLI (and its sleep) to later tests.
      target.kill("SIGTERM");
      await target.exited;
    }
  });

  async function enterChecks(target: ReturnType<typeof start>): Promise<void> {
    const reader = (target.stdout as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    // The command: the CLI's child that is not its helper (which the CLI may still be reaping)
    const cliPid = target.pid;
    const kids = readFileSync(`/proc/${cliPid}/task/${cliPid}/children`, "utf8").trim().split(/\s+/);
    const comm = (pid: string) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      } catch {
        return ""; // the helper, reaped meanwhile
      }
    };
    // (sh, or what it exec'd for its last command: busybox's does)
    const cmd = Number(kids.find((k) => comm(k) !== "" && !comm(k).startsWith("bun-userns:")));
    expect(cmd).toBeGreaterThan(0);
    const r = await cli([
      "enter",
      "--target",
      String(cmd),
      "--all",
      "--",
      "sh",
      "-c",
      "hostname; readlink /proc/self/ns/net",
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`inside-x\n${nsLink(cmd, "net")}\n`);
    expect(r.code).toBe(0);
    const f = await cli(["enter", `--net=/proc/${cmd}/ns/net`, "--", "readlink", "/proc/self/ns/net"]);
    expect(f.stdout).toBe(`${nsLink(cmd, "net")}\n`);
    const u = await cli(["enter", "--target", String(cmd), "--user", "--uts", "--", "hostname"]);
    expect(u.stdout).toBe("inside-x\n");
  }

  test("bad input: bad pid, namespaces without --target, no command", async () => {
    expect((await cli(["enter", "--target", "abc", "--all", "--", "true"])).code).toBe(2);
    expect((await cli(["enter", "--net", "--", "true"])).code).toBe(2);
    expect((await cli(["enter", "--target", "1", "--all"])).code).toBe(2);
    const gone = await cli(["enter", "--target", "2147483", "--all", "--", "true"]);
    expect(gone.code).toBe(1);
  });
});
