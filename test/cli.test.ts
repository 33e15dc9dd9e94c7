import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync as mkdtemp, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsTypeOf, idmapUnsupported } from "./support/mounts.ts";
import { exists, isRoot, nsLink } from "./support/proc.ts";

/** Every directory this file makes in TMPDIR, removed after its tests however they ended. */
const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
function mkdtempSync(prefix: string): string {
  const dir = mkdtemp(prefix);
  made.push(dir);
  return dir;
}

const CLI = join(import.meta.dir, "..", "src", "cli.ts");
const ROOT_DIR = join(import.meta.dir, "..");

async function cli(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const p = Bun.spawn([process.execPath, CLI, ...args], {
    env: { ...process.env, ...env },
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { stdout, stderr, code };
}

describe("usage", () => {
  test("--version and --help", async () => {
    const pkg = await Bun.file(join(ROOT_DIR, "package.json")).json();
    expect(await cli(["--version"])).toEqual({ stdout: `${pkg.version}\n`, stderr: "", code: 0 });
    for (const args of [["--help"], ["run", "--help"], ["doctor", "--help"], ["parse", "-h"]]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith("Usage: bun-userns");
      expect(r.stdout).toContain("Examples:");
    }
  });

  test("usage errors: stderr, exit 2", async () => {
    const cases: [string[], string][] = [
      [[], "Usage: bun-userns"],
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["run", "--bogus", "--", "true"], "unrecognized option '--bogus'"],
      [["run", "--unshare", "netz", "--", "true"], "unknown namespace"],
      [["run", "--unshare", "user", "--", "true"], "user namespaces are always created by run"],
      [["run", "--map", "0:1000:0", "--", "true"], "size must be at least 1"],
      [["run", "--map"], "--map"],
      [["run", "--map", "0:1000:1"], "run: missing command"],
      [["run", "--setgroups", "maybe", "--", "true"], "--setgroups takes allow or deny"],
      [["run", "--owner", "nobody", "--", "true"], "--owner takes mapping or caller"],
      [["run", "--map", "0:1:1", "--map-users", "0:1:1", "--", "true"], "cannot be combined"],
      [["parse"], "parse: expected one MAP argument, got 0"],
      [["parse", "a", "b"], "got 2"],
      [["doctor", "--path"], "--path"],
      [["doctor", "extra"], "unexpected argument"],
    ];
    for (const [args, text] of cases) {
      const r = await cli(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stdout === "" || args.length === 0).toBe(true);
      expect(args.length === 0 ? r.stdout : r.stderr).toContain(text);
    }
  });
});

describe("parse", () => {
  test("prints the kernel's text, or the exact error with exit 1", async () => {
    expect(await cli(["parse", "0:1000:10,100:2000:5"])).toEqual({
      stdout: "0 1000 10\n100 2000 5\n",
      stderr: "",
      code: 0,
    });
    const bad = await cli(["parse", "0:4294968296:1"]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toBe(
      "bun-userns: invalid mapping 0:4294968296:1, host id 4294968296 is above 4294967294 (the kernel would silently truncate it to 1000)\n",
    );
    const syntax = await cli(["parse", "1e3:0:1"]);
    expect(syntax.stderr).toContain('strconv.Atoi: parsing "1e3": invalid syntax');
  });

  test("--json: one stable document either way", async () => {
    const ok = await cli(["parse", "+5:01000:1", "--json"]);
    expect(JSON.parse(ok.stdout)).toEqual({
      ok: true,
      extents: [{ containerID: 5, hostID: 1000, size: 1 }],
      text: "5 1000 1\n",
    });
    const bad = await cli(["parse", "0:1000:10,5:2000:1", "--json"]);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toEqual({
      ok: false,
      error: {
        message:
          "invalid mappings 0:1000:10 and 5:2000:1 overlap on container ids 5-5 (the kernel refuses overlapping ranges)",
        code: "EINVAL",
        errno: 22,
        step: "parse",
      },
    });
  });
});

describe.skipIf(!isRoot)("run (needs root)", () => {
  test("the issue's example: user and net namespace links of the helper", async () => {
    const r = await cli([
      "run",
      "--map",
      "0:1000:65536",
      "--unshare",
      "mnt,net",
      "--",
      "sh",
      "-c",
      "for l in /proc/$USERNS_PID/ns/user /proc/{pid}/ns/net; do readlink $l; done",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [user, net] = r.stdout.trim().split("\n");
    expect(user).toMatch(/^user:\[\d+\]$/);
    expect(net).toMatch(/^net:\[\d+\]$/);
    expect(user).not.toBe(nsLink("self", "user"));
    expect(net).not.toBe(nsLink("self", "net"));
  });

  test("util-linux style single flags, uid and gid maps read back", async () => {
    const r = await cli([
      "run",
      "--map-users",
      "0:100000:65536",
      "--map-groups",
      "0:200000:1000",
      "-i",
      "--uts",
      "--",
      "sh",
      "-c",
      "cat /proc/{pid}/uid_map /proc/{pid}/gid_map /proc/{pid}/setgroups; for l in /proc/{pid}/ns/ipc /proc/{pid}/ns/uts; do readlink $l; done",
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 3)).toEqual([
      "         0     100000      65536",
      "         0     200000       1000",
      "allow",
    ]);
    expect(lines[3]).not.toBe(nsLink("self", "ipc"));
    expect(lines[4]).not.toBe(nsLink("self", "uts"));
  });

  test("CMD's exit status, and 128+N when a signal kills it", async () => {
    expect((await cli(["run", "--", "sh", "-c", "exit 7"])).code).toBe(7);
    expect((await cli(["run", "--", "sh", "-c", "kill -TERM $$"])).code).toBe(143);
    expect((await cli(["run", "--", "sh", "-c", "kill -KILL $$"])).code).toBe(137);
  });

  test("helper killed while CMD runs: liveness error, exit 1 even though CMD succeeded", async () => {
    const r = await cli(["run", "--", "sh", "-c", "kill -KILL $USERNS_PID; echo still-here"]);
    expect(r.stdout).toBe("still-here\n");
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith("bun-userns: failed to ensure child process is alive: no such process\n");
  });

  test("command not found: 127", async () => {
    const r = await cli(["run", "--", "/nonexistent/cmd"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toBe("bun-userns: /nonexistent/cmd: command not found\n");
  });

  test("a map or a namespace name the library refuses: its reason on stderr, a usage error (exit 2)", async () => {
    const r = await cli(["run", "--map", "0:1000:0", "--", "true"]);
    expect(r).toEqual({
      stdout: "",
      stderr: "bun-userns: run: --map: invalid mapping 0:1000:0, size must be at least 1\nTry 'bun-userns --help'.\n",
      code: 2,
    });
    const ns = await cli(["run", "--unshare", "mnt,bogus", "--", "true"]);
    expect(ns.code).toBe(2);
    expect(ns.stderr).toContain('unknown namespace "bogus"');
  });

  test("--json: one document after CMD's own output", async () => {
    const r = await cli(["run", "--json", "--net", "--", "sh", "-c", "echo {pid} >&2; exit 3"]);
    expect(r.code).toBe(3);
    const doc = JSON.parse(r.stdout);
    expect(doc).toEqual({
      ok: false,
      command: ["sh", "-c", "echo {pid} >&2; exit 3"],
      helperPid: Number(r.stderr.trim()),
      exitCode: 3,
      signal: null,
      status: 3,
      error: null,
    });
    expect(exists(doc.helperPid)).toBe(false);
    const killed = await cli(["run", "--json", "--", "sh", "-c", "kill -9 $USERNS_PID"]);
    expect(killed.code).toBe(1);
    expect(JSON.parse(killed.stdout)).toMatchObject({
      ok: false,
      exitCode: 0,
      status: 1,
      error: { code: "ESRCH", step: "liveness" },
    });
  });

  test("Ctrl-C (SIGINT to the process group): CMD gets it as in a shell, the helper is still reaped", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-userns-sigint-"));
    const child = spawn(
      process.execPath,
      [
        CLI,
        "run",
        "--json",
        "--",
        "sh",
        "-c",
        `echo $USERNS_PID > ${dir}/pid; trap 'exit 42' INT; while :; do sleep 0.05; done`,
      ],
      { detached: true, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout?.on("data", (d) => {
      stdout += d;
    });
    const done = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    let helper = 0;
    for (let i = 0; i < 200 && !helper; i++) {
      await Bun.sleep(20);
      helper = Number((await Bun.file(`${dir}/pid`).exists()) ? (await Bun.file(`${dir}/pid`).text()).trim() : 0);
    }
    expect(helper).toBeGreaterThan(0);
    process.kill(-(child.pid as number), "SIGINT");
    expect(await done).toBe(42);
    expect(JSON.parse(stdout)).toMatchObject({ exitCode: 42, status: 42, error: null });
    expect(exists(helper)).toBe(false);
  });

  test("SIGTERM sent to bun-userns alone is passed on to CMD", async () => {
    // CMD exits 42 on SIGTERM: only forwarding can produce 42 (bun-userns dying of it would be 143).
    const child = spawn(
      process.execPath,
      [CLI, "run", "--", "sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    const done = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve) => child.stdout?.on("data", (d) => String(d).includes("ready") && resolve()));
    child.kill("SIGTERM");
    expect(await done).toBe(42);
  });
});

describe.skipIf(!isRoot)("doctor (needs root)", () => {
  // Where tmpdir's filesystem has no idmapped mounts (tmpfs before 6.3), that one check fails, and only it.
  const idmapOk = idmapUnsupported(fsTypeOf(realpathSync(tmpdir()))) === undefined;
  test(`every check on its own line; exit ${idmapOk ? "0 here" : "1 here: only idmapped_mount fails on tmpdir's filesystem"}`, async () => {
    const r = await cli(["doctor", "--path", tmpdir()]);
    expect(r.code).toBe(idmapOk ? 0 : 1);
    const lines = r.stdout.trim().split("\n");
    expect(lines.filter((l) => l.startsWith("fail")).map((l) => l.split(/\s+/)[1])).toEqual(
      idmapOk ? [] : ["idmapped_mount"],
    );
    for (const name of [
      "kernel",
      "native",
      "pidfd",
      "userns",
      "max_user_namespaces",
      "unprivileged_userns_clone",
      "apparmor",
      "ptrace_scope",
      "seccomp",
      "newuidmap",
      "subid",
      "idmapped_mount",
    ]) {
      expect(lines.some((l) => new RegExp(`^(ok|warn|fail)\\s+${name}\\s`).test(l))).toBe(true);
    }
    expect(lines.at(-1)).toBe(
      idmapOk ? "bun-userns can work here." : "bun-userns cannot work here: see the failed checks above.",
    );
  });

  test("--json is one document; a bad --path fails the run", async () => {
    const r = await cli(["doctor", "--json", "--path", "/nonexistent/dir"]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(false);
    const byName = Object.fromEntries(doc.checks.map((c: { name: string }) => [c.name, c]));
    expect(byName.userns.status).toBe("ok");
    expect(byName.pidfd.status).toBe("ok");
    expect(byName.native.detail).toStartWith("cc ");
    expect(byName.idmapped_mount).toMatchObject({ status: "fail", required: true });
  });
});
