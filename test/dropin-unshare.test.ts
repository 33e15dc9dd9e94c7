/**
 * `bun-userns exec ARGS -- CMD` against util-linux `unshare ARGS CMD` on
 * this machine: for each shared invocation, what CMD observes must be the
 * same (see support/dropin.ts). Then util-linux's own test cases for
 * unshare, re-expressed against our command.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN_USERNS, hasUtilLinux, observed, ourLinks, probe, run } from "./support/dropin.ts";
import { cleanupBase, sh } from "./support/mounts.ts";
import { descendants, isRoot, nsLink, until } from "./support/proc.ts";

const READY = isRoot && hasUtilLinux;
const WHY = "(needs root and util-linux unshare)";

/** unshare ARGS CMD and bun-userns exec ARGS -- CMD, with the same environment. */
async function both(args: string[], cmd: string[], o: Parameters<typeof run>[1] = {}) {
  const theirs = await run(["unshare", ...args, ...cmd], o);
  const ours = await run([...BUN_USERNS, "exec", ...args, "--", ...cmd], o);
  return { theirs, ours };
}

/**
 * Whether the probe runs (exec'd: comm "sh", its path in argv) as PID or a descendant, in a mount namespace
 * other than ours: both tools set the propagation before that exec.
 */
function cmdStarted(pid: number): boolean {
  return [pid, ...descendants(pid)].some((p) => {
    try {
      return (
        readFileSync(`/proc/${p}/comm`, "utf8") === "sh\n" &&
        readFileSync(`/proc/${p}/cmdline`, "utf8").includes(probe()) &&
        nsLink(p, "mnt") !== nsLink("self", "mnt")
      );
    } catch {
      return false; // gone meanwhile
    }
  });
}

describe.skipIf(!READY)(`exec side by side with util-linux unshare ${WHY}`, () => {
  const base = READY ? mkdtempSync(join(tmpdir(), "dropin-unshare-")) : "";
  // A scratch mount made shared: CMD reports its propagation fields, and whether a mount made under it later
  // reaches CMD. Both tools see the same mount.
  const shared = join(base, "shared");
  const later = join(shared, "later");
  if (READY) {
    mkdirSync(shared);
    expect(sh(["mount", "-t", "tmpfs", "dropin-shared", shared]).ok).toBe(true);
    expect(sh(["mount", "--make-shared", shared]).ok).toBe(true);
    mkdirSync(later);
  }
  // subordinate ids for root, seen by both tools through bind mounts in a mount namespace of their own
  const subid = join(base, "subid");
  if (READY) writeFileSync(subid, "root:200000:65536\n");
  afterAll(() => {
    if (READY) cleanupBase(base);
  });
  const refs = READY ? ourLinks() : [];
  const probeCmd = () => ["sh", probe(), ...refs];

  /** The invocations: each runs the probe as CMD under both tools. */
  const CASES: [string, string[]][] = [
    ["-r (map root: setgroups deny)", ["-r"]],
    ["--map-root-user", ["--map-root-user"]],
    ["-c (map current user)", ["-c"]],
    ["-U (no maps)", ["-U"]],
    ["-U -m", ["-U", "-m"]],
    ["-m as root (no user namespace)", ["-m"]],
    ["-n", ["-n"]],
    ["-u -i -C", ["-u", "-i", "-C"]],
    ["--uts --ipc --cgroup", ["--uts", "--ipc", "--cgroup"]],
    ["-p -f --mount-proc", ["-p", "-f", "--mount-proc"]],
    ["--pid --fork --mount-proc", ["--pid", "--fork", "--mount-proc"]],
    ["-T", ["-T"]],
    ["-T --boottime 86400 --monotonic 1000", ["-T", "--boottime", "86400", "--monotonic", "1000"]],
    ["-m --propagation private", ["-m", "--propagation", "private"]],
    ["-m --propagation slave", ["-m", "--propagation", "slave"]],
    ["-m --propagation shared", ["-m", "--propagation", "shared"]],
    ["-m --propagation unchanged", ["-m", "--propagation", "unchanged"]],
    ["-r -m --propagation slave", ["-r", "-m", "--propagation", "slave"]],
    ["-r -m --propagation shared", ["-r", "-m", "--propagation", "shared"]],
    ["-r -m --propagation unchanged", ["-r", "-m", "--propagation", "unchanged"]],
    ["-U --setgroups deny", ["-U", "--setgroups", "deny"]],
    ["-U --setgroups allow", ["-U", "--setgroups", "allow"]],
    ["--map-user=0 --map-group=0", ["--map-user=0", "--map-group=0"]],
    ["--map-user=1234", ["--map-user=1234"]],
    ["--map-user=root --map-group=root (names)", ["--map-user=root", "--map-group=root"]],
    ["-S 1000 -G 1000 (no user namespace)", ["-S", "1000", "-G", "1000"]],
    ["-r -S 0", ["-r", "-S", "0"]],
    ["-U --keep-caps", ["-U", "--keep-caps"]],
    ["-w /tmp", ["-w", "/tmp"]],
    ["--wd=/usr", ["--wd=/usr"]],
    ["-m --mount-proc=DIR (a proc elsewhere)", ["-m", `--mount-proc=${join(base, "proc")}`]],
    ["-f", ["-f"]],
    ["--kill-child", ["--kill-child"]],
    ["--kill-child=TERM", ["--kill-child=TERM"]],
    ["-mnu (a cluster)", ["-mnu"]],
    ["--prop slave -m (an abbreviation)", ["--prop", "slave", "-m"]],
  ];

  test.each(CASES)("%s", async (_name, args) => {
    if (args.some((a) => a.startsWith("--mount-proc="))) mkdirSync(join(base, "proc"), { recursive: true });
    const { theirs, ours } = await both(args, probeCmd(), { env: { SHARED: shared } });
    expect(theirs.code).toBe(0); // the probe ran under util-linux: the comparison means something
    expect(observed(ours)).toEqual(observed(theirs));
  });

  // util-linux writes ranges through newuidmap even as root, which reads /etc/subuid: both tools run where
  // /etc/subuid and /etc/subgid are our scratch file.
  const withSubids = (argv: string[]) => [
    "unshare",
    "-m",
    "--propagation",
    "unchanged",
    "sh",
    "-c",
    `mount --bind ${subid} /etc/subuid && mount --bind ${subid} /etc/subgid && exec "$@"`,
    "sh",
    ...argv,
  ];
  const MAP_CASES: [string, string[]][] = [
    [
      "--map-users=200000,0,65536 --map-groups=200000,0,65536 (outer,inner,count)",
      ["--map-users=200000,0,65536", "--map-groups=200000,0,65536"],
    ],
    ["--map-users=auto --map-groups=auto", ["--map-users=auto", "--map-groups=auto"]],
    ["--map-auto", ["--map-auto"]],
  ];
  test.each(MAP_CASES)("%s", async (_name, args) => {
    // By its path: the sh in between may be a busybox that prefers its own unshare applet.
    const theirs = await run(withSubids([Bun.which("unshare") as string, ...args, ...probeCmd()]));
    const ours = await run(withSubids([...BUN_USERNS, "exec", ...args, "--", ...probeCmd()]));
    expect(theirs.code).toBe(0);
    expect(observed(ours)).toEqual(observed(theirs));
  });

  test("-p without --fork: CMD stays in our pid namespace, its first child is pid 1 of the new one", async () => {
    // "; exit $?": the inner sh is forked by every shell (busybox and bash exec a last command instead).
    const cmd = ["sh", "-c", 'echo $$; sh -c "echo \\$\\$"; exit $?'];
    const { theirs, ours } = await both(["-p"], cmd);
    const shape = (out: string) => out.split("\n").map((l) => (l === "1" || l === "" ? l : "not-1"));
    expect(shape(theirs.stdout)).toEqual(["not-1", "1", ""]);
    expect([shape(ours.stdout), ours.code]).toEqual([shape(theirs.stdout), theirs.code]);
  });

  // What util-linux after 2.38 does (its documentation and source), where Debian's 2.38 differs.
  test("newer util-linux: --map-users takes inner:outer:count too, and repeated ranges add up (2.38 keeps the last)", async () => {
    const r = await run(
      withSubids([
        ...BUN_USERNS,
        "exec",
        "--map-users=200000,1,1000",
        "--map-users",
        "2000:201000:10",
        "--map-groups=200000,0,10",
        "--",
        ...probeCmd(),
      ]),
    );
    expect(observed(r).uid_map).toBe("1 200000 1000;2000 201000 10;");
  });

  test("newer util-linux: --map-users=all / --map-groups=all map every id we have as itself; --map-subids our ranges as themselves", async () => {
    const all = await run([...BUN_USERNS, "exec", "--map-users=all", "--map-groups=all", "--", ...probeCmd()]);
    const ours = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/);
    expect(observed(all).uid_map).toBe(`${ours[0]} ${ours[0]} ${ours[2]};`);
    const sub = await run(withSubids([...BUN_USERNS, "exec", "--map-subids", "--", ...probeCmd()]));
    expect([observed(sub).uid_map, observed(sub).gid_map]).toEqual(["200000 200000 65536;", "200000 200000 65536;"]);
  });

  test("newer util-linux: a forked CMD killed by SIGKILL takes the tool with it (2.38 exits 1 instead)", async () => {
    const r = await run([...BUN_USERNS, "exec", "-f", "--", "sh", "-c", "kill -KILL $$"]);
    expect(r.signal).toBe("SIGKILL");
  });

  test("a mount made under a shared mount after start reaches CMD under slave, shared and unchanged, never private", async () => {
    for (const prop of ["private", "slave", "shared", "unchanged"]) {
      for (const user of [[], ["-r"]]) {
        const seen: string[] = [];
        for (const tool of [["unshare"], [...BUN_USERNS, "exec"]]) {
          const argv = [
            ...tool,
            ...user,
            "-m",
            "--propagation",
            prop,
            ...(tool[0] === "unshare" ? [] : ["--"]),
            ...probeCmd(),
          ];
          const r = await run(argv, {
            env: { SHARED: shared, LATER: later },
            input: "go\n",
            during: async (pid) => {
              // CMD waits for our line: the mount is made once it runs in its mount namespace (the propagation
              // then set), however slowly the tool starts (a fixed sleep was too short under emulation).
              expect(await until(() => cmdStarted(pid))).toBe(true);
              sh(["mount", "-t", "tmpfs", "dropin-later", later]);
            },
          });
          sh(["umount", later]);
          seen.push(observed(r).later as string);
        }
        expect({ prop, user, seen: seen[1] }).toEqual({ prop, user, seen: seen[0] });
        expect(seen[0]).toBe(prop === "private" ? "unseen" : "seen");
      }
    }
  });

  test("as root without -U, CMD reads another uid's 0600 file, as unshare -m lets it", async () => {
    const f = join(base, "secret");
    writeFileSync(f, "s3cret\n", { mode: 0o600 });
    sh(["chown", "12345:12345", f]);
    const { theirs, ours } = await both(["-m"], ["cat", f]);
    expect([ours.stdout, ours.code]).toEqual([theirs.stdout, theirs.code]);
    expect(theirs.stdout).toBe("s3cret\n");
  });

  test("-R DIR -w DIR: the root, then the directory inside it", async () => {
    const cmd = ["/bin/sh", "-c", "pwd; stat -c %i /; test -x /bin/sh && echo has-sh"];
    const { theirs, ours } = await both(["-R", "/usr", "-w", "/bin"], cmd);
    expect(theirs.code).toBe(0);
    expect(ours.stdout).toBe(theirs.stdout);
    const noWd = await both(["--root=/usr"], ["/bin/sh", "-c", "pwd"]);
    expect(noWd.ours.stdout).toBe(noWd.theirs.stdout);
  });

  test("--NS=FILE pins: each file holds the namespace CMD was in, after CMD is gone", async () => {
    for (const tool of ["unshare", "exec"] as const) {
      const dir = join(base, `pins-${tool}`);
      mkdirSync(dir);
      const files = { net: join(dir, "net"), uts: join(dir, "uts"), ipc: join(dir, "ipc") };
      for (const f of Object.values(files)) writeFileSync(f, "");
      const args = [`--net=${files.net}`, `--uts=${files.uts}`, `--ipc=${files.ipc}`];
      // One link per readlink: busybox's takes one.
      const cmd = ["sh", "-c", "for k in net uts ipc; do readlink /proc/self/ns/$k || exit; done"];
      const r = await run(
        tool === "unshare" ? ["unshare", ...args, ...cmd] : [...BUN_USERNS, "exec", ...args, "--", ...cmd],
      );
      expect(r.code).toBe(0);
      const inFiles = Object.entries(files).map(
        ([k, f]) => sh(["nsenter", `--${k}=${f}`, "readlink", `/proc/self/ns/${k}`]).out,
      );
      expect({ tool, inFiles }).toEqual({ tool, inFiles: r.stdout.trim().split("\n") });
      for (const f of Object.values(files)) sh(["umount", f]);
    }
  });

  test("exit status: 7 passes through; 127 not found; 126 not executable; 126 a directory", async () => {
    const plain = join(base, "plain");
    writeFileSync(plain, "x");
    chmodSync(plain, 0o644);
    for (const cmd of [["sh", "-c", "exit 7"], ["no-such-command-dropin"], [plain], ["/tmp"]]) {
      const { theirs, ours } = await both(["-n"], cmd);
      expect({ cmd, code: ours.code, signal: ours.signal }).toEqual({ cmd, code: theirs.code, signal: theirs.signal });
    }
  });

  test("CMD dying of SIGKILL or SIGTERM: the tool dies of the same signal", async () => {
    for (const sig of ["KILL", "TERM", "INT"]) {
      for (const fork of sig === "KILL" ? [[]] : [[], ["-f"]]) {
        const { theirs, ours } = await both(["-n", ...fork], ["sh", "-c", `kill -${sig} $$`]);
        expect({ sig, fork, signal: ours.signal, code: ours.code }).toEqual({
          sig,
          fork,
          signal: theirs.signal,
          code: theirs.code,
        });
        expect(theirs.signal).toBe(`SIG${sig}`);
      }
    }
  });

  test("--kill-child=TERM: when the tool is killed, CMD gets SIGTERM", async () => {
    for (const tool of ["unshare", "exec"] as const) {
      const mark = join(base, `killed-${tool}`);
      // Written aside and renamed: the mark exists only once its content does.
      const cmd = [
        "sh",
        "-c",
        `trap 'echo TERM > ${mark}.w; mv ${mark}.w ${mark}; exit 0' TERM; echo up; while :; do sleep 0.05; done`,
      ];
      const argv =
        tool === "unshare"
          ? ["unshare", "--kill-child=TERM", ...cmd]
          : [...BUN_USERNS, "exec", "--kill-child=TERM", "--", ...cmd];
      const p = Bun.spawn(argv, { stdout: "pipe", stderr: "ignore" });
      const reader = p.stdout.getReader();
      await reader.read(); // "up": CMD runs and traps TERM
      p.kill("SIGKILL");
      await p.exited;
      await until(() => existsSync(mark));
      expect({ tool, got: readFileSync(mark, "utf8") }).toEqual({ tool, got: "TERM\n" });
    }
  });

  test("SIGUSR1, SIGUSR2, SIGQUIT, SIGHUP sent to the tool reach CMD", async () => {
    for (const sig of ["SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGHUP"] as const) {
      const short = sig.slice(3);
      const got: string[] = [];
      for (const tool of [
        ["unshare", "-n"],
        [...BUN_USERNS, "exec", "-n", "--"],
      ]) {
        const cmd = ["sh", "-c", `trap 'echo got-${short}; exit 3' ${short}; echo up; while :; do sleep 0.05; done`];
        const p = Bun.spawn([...tool, ...cmd], { stdout: "pipe", stderr: "ignore" });
        const reader = p.stdout.getReader();
        await reader.read();
        p.kill(sig);
        let text = "";
        for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
        await p.exited;
        got.push(`${text.trim()} ${p.exitCode}`);
      }
      expect({ sig, ours: got[1] }).toEqual({ sig, ours: got[0] });
      expect(got[0]).toBe(`got-${short} 3`);
    }
  });

  // util-linux's own cases for unshare (tests/ts/unshare), in our words.
  test("util-linux's env cases: --clear-env leaves CMD no variables; --whitelist-env keeps only those named", async () => {
    const env = { DROPIN_ONE: "one", DROPIN_TWO: "two" };
    const cleared = await run(
      [...BUN_USERNS, "exec", "--clear-env", "--", "/bin/sh", "-c", `echo "\${DROPIN_ONE:-CLEARED}"`],
      { env },
    );
    expect(cleared.stdout).toBe("CLEARED\n");
    const kept = await run(
      [
        ...BUN_USERNS,
        "exec",
        "--whitelist-env",
        "DROPIN_ONE",
        "--",
        "/bin/sh",
        "-c",
        `echo "\${DROPIN_ONE}\${DROPIN_TWO:-}"`,
      ],
      { env },
    );
    expect(kept.stdout).toBe("one\n");
  });

  test("util-linux's forward-signals cases: with --forward-signals, SIGTERM and SIGINT reach the forked CMD; with --kill-child too, the tool ends with it", async () => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      for (const extra of [[], ["--kill-child"]]) {
        const short = sig.slice(3);
        const p = Bun.spawn(
          [
            ...BUN_USERNS,
            "exec",
            "--forward-signals",
            ...extra,
            "--",
            "sh",
            "-c",
            `trap 'echo got-${short}; exit 0' ${short}; echo up; while :; do sleep 0.05; done`,
          ],
          { stdout: "pipe", stderr: "ignore" },
        );
        const reader = p.stdout.getReader();
        await reader.read();
        p.kill(sig);
        const rest = await reader.read();
        expect(new TextDecoder().decode(rest.value)).toBe(`got-${short}\n`);
        expect(await p.exited).toBe(0);
      }
    }
  });

  test("-V anywhere before CMD prints the version; usage errors exit 2", async () => {
    const pkg = await Bun.file(join(import.meta.dir, "..", "package.json")).json();
    for (const args of [["-V"], ["-n", "-V"], ["--version", "-m"]]) {
      const r = await run([...BUN_USERNS, "exec", ...args, "--", "false"]);
      expect({ args, out: r.stdout, code: r.code }).toEqual({ args, out: `${pkg.version}\n`, code: 0 });
    }
    for (const args of [
      ["--bogus"],
      ["--propagation", "sideways"],
      ["--map-users", "1,2"],
      ["--kill-child=NOPE"],
      ["-S", "x"],
    ]) {
      expect({ args, code: (await run([...BUN_USERNS, "exec", ...args, "--", "true"])).code }).toEqual({
        args,
        code: 2,
      });
    }
  });
});
