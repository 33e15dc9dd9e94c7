/** `bun-userns pin`, `unpin` and `exec --NS=FILE`, run as a user would. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanupBase, mountinfo, scratch, sh } from "./support/mounts.ts";
import { isRoot, nsLink } from "./support/proc.ts";

const CLI = join(import.meta.dir, "..", "src", "cli.ts");
const nsenter = Bun.which("nsenter");
/** iproute2's ip, not busybox's applet (which has no netns). */
const ip = Bun.which("ip") && sh([Bun.which("ip") as string, "netns", "list"]).ok ? Bun.which("ip") : null;
const unshare = Bun.which("unshare");
const mountBin = Bun.which("mount");
const base = isRoot ? scratch("bun-userns-pincli-") : "";
afterAll(() => {
  if (base) cleanupBase(base);
});

function cli(args: string[]) {
  const r = Bun.spawnSync([process.execPath, CLI, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const pinPoints = () =>
  mountinfo()
    .split("\n")
    .filter((l) => l.includes(" nsfs ") && l.includes(base)).length;

describe("bun-userns pin / unpin: usage", () => {
  test("no pins, pid without --target, bad --target, unpin without FILE: usage errors (exit 2)", () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-pincli-usage-"));
    const x = join(dir, "x");
    for (const [args, text] of [
      [["pin"], "say what to pin"],
      [["pin", `--pid=${x}`], "no pid 1 to pin it by"],
      [["pin", "-p", `--net=${x}`], "no pid 1 to pin it by"],
      [["pin", "--target", "abc", `--net=${x}`], "--target takes a pid"],
      [["pin", "--target", "1", "-n", `--net=${x}`], "takes no map or unshare options"],
      [["pin", "--net="], "--net= needs a file"],
      [["pin", "--bogus", `--net=${x}`], "unrecognized option '--bogus'"],
      [["unpin"], "missing FILE"],
    ] as [string[], string][]) {
      const r = cli(args);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.stderr).toContain(text);
    }
    expect(readdirSync(dir)).toEqual([]);
    rmSync(dir, { recursive: true });
    expect(cli(["pin", "--help"]).stdout).toContain("Usage: bun-userns pin");
    expect(cli(["unpin", "--help"]).stdout).toContain("Usage: bun-userns unpin");
  });
});

const cliSkip = !isRoot
  ? " — skipped: needs root"
  : !nsenter || !mountBin
    ? " — skipped: needs util-linux nsenter and mount"
    : "";
describe.skipIf(cliSkip !== "")(`bun-userns pin / unpin / exec --NS=FILE${cliSkip}`, () => {
  test.skipIf(!ip)(
    `pin -n --net=/run/netns/NAME: ip netns exec enters it; unpin removes it${ip ? "" : " — skipped: iproute2's ip (with netns) not installed"}`,
    () => {
      mkdirSync("/run/netns", { recursive: true });
      const name = `bun-userns-cli-${process.pid}`;
      const path = `/run/netns/${name}`;
      const r = cli(["pin", "--net", `--net=${path}`]);
      expect(r).toEqual({ code: 0, stdout: `net ${path}\n`, stderr: "" });
      const inside = sh([ip as string, "netns", "exec", name, "readlink", "/proc/self/ns/net"]);
      expect(inside.ok).toBe(true);
      expect(inside.out).toMatch(/^net:\[\d+\]$/);
      expect(inside.out).not.toBe(nsLink("self", "net"));
      expect(sh([nsenter as string, `--net=${path}`, "readlink", "/proc/self/ns/net"]).out).toBe(inside.out);
      const e = cli(["enter", `--net=${path}`, "--", "readlink", "/proc/self/ns/net"]);
      expect(e.stdout.trim()).toBe(inside.out);
      expect(cli(["unpin", path])).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(existsSync(path)).toBe(false);
    },
  );

  test.skipIf(!unshare)(
    `pin --target PID --json: that process's namespaces; unpin several at once${unshare ? "" : " — skipped: util-linux unshare not installed"}`,
    async () => {
      const dir = join(base, "target");
      mkdirSync(dir);
      const child = Bun.spawn([unshare as string, "--uts", "--ipc", "sleep", "30"], {
        stdio: ["ignore", "ignore", "ignore"],
      });
      try {
        let want = nsLink("self", "uts");
        for (let i = 0; i < 200 && want === nsLink("self", "uts"); i++) {
          await Bun.sleep(5);
          want = nsLink(child.pid, "uts");
        }
        const spec = { uts: join(dir, "uts"), ipc: join(dir, "ipc") };
        const r = cli(["pin", "--target", String(child.pid), `--uts=${spec.uts}`, `--ipc=${spec.ipc}`, "--json"]);
        expect(r.code).toBe(0);
        expect(JSON.parse(r.stdout)).toEqual({ ipc: spec.ipc, uts: spec.uts });
        expect(sh([nsenter as string, `--uts=${spec.uts}`, "readlink", "/proc/self/ns/uts"]).out).toBe(want);
        expect(cli(["unpin", spec.uts, spec.ipc]).code).toBe(0);
        expect(readdirSync(dir)).toEqual([]);
      } finally {
        child.kill("SIGKILL");
        await child.exited;
      }
    },
  );

  test("exec -p --fork --mount-proc --pid=F --net=F --user=F: CMD is pid 1 in the pinned namespaces, which outlive it", () => {
    const dir = join(base, "exec");
    mkdirSync(dir);
    const f = { net: join(dir, "net"), pid: join(dir, "pid"), user: join(dir, "user") };
    const r = cli([
      "exec",
      "-r",
      "-n",
      "-p",
      "--fork",
      "--mount-proc",
      `--net=${f.net}`,
      `--pid=${f.pid}`,
      `--user=${f.user}`,
      "--",
      "sh",
      "-c",
      "echo $$; for l in net pid user; do readlink /proc/self/ns/$l; done",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [pid1, net, pid, user] = r.stdout.trim().split("\n");
    expect(pid1).toBe("1");
    expect(sh([nsenter as string, `--net=${f.net}`, "readlink", "/proc/self/ns/net"]).out).toBe(net as string);
    expect(sh([nsenter as string, `--user=${f.user}`, "readlink", "/proc/self/ns/user"]).out).toBe(user as string);
    // The pid pin is of CMD's own pid namespace (its pid 1 has exited: the kernel keeps it, unusable).
    const p = Bun.spawnSync(
      [
        process.execPath,
        "-e",
        `import { openNamespace } from ${JSON.stringify(join(import.meta.dir, "..", "src", "index.ts"))}; console.log(openNamespace(${JSON.stringify(f.pid)}, "pid").id)`,
      ],
      { stdout: "pipe" },
    );
    expect(p.stdout.toString().trim()).toBe(pid as string);
    expect(cli(["unpin", f.net, f.pid, f.user]).code).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("bad input creates nothing: a missing directory, a mountpoint, --pid=FILE without --fork; unpin of a non-pin is refused", () => {
    const dir = join(base, "bad");
    mkdirSync(join(dir, "tmpfs"), { recursive: true });
    writeFileSync(join(dir, "plain"), "x");
    const before = [pinPoints(), readdirSync(dir).sort()];
    const missing = cli(["pin", "-n", `--net=${join(base, "nope", "net")}`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("does not exist");
    const ex = cli([
      "exec",
      "-r",
      "-n",
      `--net=${join(base, "nope", "net")}`,
      "--",
      "sh",
      "-c",
      `touch ${join(dir, "ran")}`,
    ]);
    expect(ex.code).toBe(1);
    expect(ex.stderr).toContain("does not exist");
    expect(existsSync(join(dir, "ran"))).toBe(false); // the command never ran
    const noP = cli(["exec", "-r", `--pid=${join(dir, "pid")}`, "--", "true"]);
    expect(noP.code).toBe(2);
    expect(noP.stderr).toContain("--pid=FILE pins the pid namespace CMD is pid 1 of: add --fork");
    const first = cli(["pin", "-u", `--uts=${join(dir, "uts")}`]);
    expect(first.code).toBe(0);
    const again = cli(["pin", "-u", `--uts=${join(dir, "uts")}`]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already a mountpoint");
    expect(cli(["unpin", join(dir, "uts")]).code).toBe(0);
    expect(sh([mountBin as string, "-t", "tmpfs", "tmpfs", join(dir, "tmpfs")]).ok).toBe(true);
    for (const p of ["tmpfs", "plain"]) {
      const u = cli(["unpin", join(dir, p)]);
      expect(u.code).toBe(1);
      expect(u.stderr).toContain("not a namespace pin");
    }
    expect(existsSync(join(dir, "plain"))).toBe(true);
    expect(mountinfo()).toContain(` ${join(dir, "tmpfs")} `);
    expect([pinPoints(), readdirSync(dir).sort()]).toEqual(before);
  });
});
