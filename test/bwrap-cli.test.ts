// `bun-userns-bwrap`: bubblewrap's command line over sandbox(). Each property
// bubblewrap's own suite checks and this command holds is restated here in
// our words, and the options that suite leaves out are run side by side with
// the system's bwrap (exit status, messages, what the sandbox sees), as root
// and as an unprivileged user.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { seccompFilter } from "../src/sandbox/seccomp.ts";
import { isRoot, rootIsInitramfs } from "./support/proc.ts";

const OURS = join(import.meta.dir, "..", "src", "cli-bwrap.ts");
const BWRAP = Bun.which("bwrap");
const SETPRIV = Bun.which("setpriv");
const PIVOT = rootIsInitramfs ? " — skipped: / is the initial ramfs here, which pivot_root refuses to leave" : "";
const RUNS = !rootIsInitramfs;
/** Bun for the scripts, on PATH for a user without it. */
const BUN = Bun.which("bun") ?? join(import.meta.dir, "..", "node_modules", ".bin", "bun");
const PATH = `${dirname(BUN)}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`;
const NOBODY = 65534;
/** Who runs the commands: root and an unprivileged user where we may switch, else just the caller. */
type Who = "root" | "nobody" | "caller";
const USERS: readonly Who[] = isRoot ? (SETPRIV ? ["root", "nobody"] : ["root"]) : ["caller"];

let work = "";
beforeAll(() => {
  work = mkdtempSync("/var/tmp/bwrap-cli-");
  chmodSync(work, 0o777);
  // TMPDIR of every run (as root and as nobody): Bun's cc() keeps its headers there, removed with WORK.
  mkdirSync(join(work, ".tmp"), { mode: 0o1777 });
  chmodSync(join(work, ".tmp"), 0o1777);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Ran {
  code: number;
  out: string;
  err: string;
}

/** A shell line (fd redirections as bwrap's users write them), as us or as nobody. */
async function sh(line: string, opts: { as?: Who; cwd?: string; env?: Record<string, string> } = {}) {
  const cmd = ["bash", "-c", line];
  const argv =
    opts.as === "nobody"
      ? [SETPRIV as string, `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...cmd]
      : cmd;
  const p = Bun.spawn(argv, {
    cwd: opts.cwd ?? work,
    env: { PATH, HOME: work, TMPDIR: join(work, ".tmp"), OURS, ...(opts.env ?? {}) },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err } as Ran;
}

const ours = (args: string, opts = {}) => sh(`"$OURS" ${args}`, opts);
const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
const RO_HOST =
  "--ro-bind /usr /usr --ro-bind /etc /etc --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin";
const RUN = "--bind / / --tmpfs /tmp";

describe("bwrap's option language (no sandbox started)", () => {
  test("--help prints the usage line naming the path the command was invoked as, and exits 0", async () => {
    const r = await ours("--help");
    expect(r.code).toBe(0);
    expect(r.out.split("\n")[0]).toBe(`usage: ${OURS} [OPTIONS...] [--] COMMAND [ARGS...]`);
    for (const o of ["--args FD", "--overlay-src SRC", "--json-status-fd FD", "--cap-drop CAP", "--chmod OCTAL PATH"])
      expect(r.out).toContain(`    ${o} `);
  });

  test("no arguments: the usage on stderr, exit 1; --version names the bwrap release followed", async () => {
    const r = await ours("");
    expect([r.code, r.out, r.err.split("\n")[0]]).toEqual([
      1,
      "",
      `usage: ${OURS} [OPTIONS...] [--] COMMAND [ARGS...]`,
    ]);
    const v = await ours("--version");
    expect([v.code, v.out]).toEqual([0, "bubblewrap 0.11.1\n"]);
  });

  test("through the launcher named bun-userns-bwrap, the usage names that path, and the command does not see how", async () => {
    const link = join(work, "bun-userns-bwrap");
    symlinkSync(join(import.meta.dir, "..", "src", "bin", "bun-userns"), link);
    const r = await sh(`${q(link)} --help`);
    expect(r.out.split("\n")[0]).toBe(`usage: ${link} [OPTIONS...] [--] COMMAND [ARGS...]`);
    const env = await sh(`${q(link)} --bind / / env`);
    expect(env.out).toContain("PATH=");
    expect(env.out).not.toContain("BUN_USERNS_BWRAP_NAME");
  });

  test("the same command through bun-userns bwrap", async () => {
    const r = await sh(`bun ${q(join(import.meta.dir, "..", "src", "cli.ts"))} bwrap --help`);
    expect(r.code).toBe(0);
    expect(r.out.split("\n")[0]).toBe("usage: bun-userns bwrap [OPTIONS...] [--] COMMAND [ARGS...]");
  });

  test("a --size that is zero, not a number, empty, negative, spaced, past 2^64 or past SIZE_MAX/2 is refused", async () => {
    for (const size of [
      "0",
      "123bogus",
      "''",
      "-12345678",
      "' -12345678'",
      "18446744073709551616",
      "9223372036854775809",
    ]) {
      const r = await ours(`--size ${size} --tmpfs /tmp/a true`);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^bwrap: --size /);
    }
  });

  test("--perms and --size apply once, to the next option only", async () => {
    expect((await ours("--perms 0640 --perms 0640 --tmpfs /tmp/a true")).err).toBe(
      "bwrap: --perms given twice for the same action\n",
    );
    expect((await ours("--size 1048576 --size 1048576 --tmpfs /tmp/a true")).err).toBe(
      "bwrap: --size given twice for the same action\n",
    );
  });

  test("--overlay-src must be followed by another or by an overlay, which needs enough of them", async () => {
    const msg =
      "bwrap: --overlay-src must be followed by another --overlay-src or one of --overlay, --tmp-overlay, or --ro-overlay\n";
    expect((await ours("--overlay-src /tmp true")).err).toBe(msg);
    expect((await ours("--overlay-src /tmp --chdir / true")).err).toBe(msg);
    expect((await ours("--overlay u w /tmp true")).err).toBe("bwrap: --overlay requires at least one --overlay-src\n");
    expect((await ours("--tmp-overlay /tmp true")).err).toBe(
      "bwrap: --tmp-overlay requires at least one --overlay-src\n",
    );
    expect((await ours("--overlay-src /a --ro-overlay /tmp true")).err).toBe(
      "bwrap: --ro-overlay requires at least two --overlay-src\n",
    );
  });
});

describe.skipIf(!BWRAP)("side by side with the system's bwrap: refusals (skipped: needs bwrap)", () => {
  const CASES = [
    "--frob true",
    "--dir",
    "--bind /",
    "--perms 0644 --bind / / true",
    "--size 100 --dir /x true",
    "--perms 999 --dir /x true",
    "--uid 5 --bind / / true",
    "--hostname x --bind / / true",
    "--as-pid-1 --bind / / true",
    "--bind / / --info-fd x true",
    "--cap-add FOO --bind / / true",
    "--cap-add kill --bind / / true",
    "--setenv A",
    "--bind / / --",
    "--exec-label x true",
    "--bind / / --args 99 true",
    "--bind /source-enoent /dest true",
    "--bind / / --chdir /nonexistent true",
    "--bind / / /nonexistent",
    "--bind / / /",
    "--bind / / sh -c 'exit 7'",
    "--bind / / sh -c 'kill -9 $$'",
  ];
  for (const as of USERS) {
    test(`as ${as}: exit status and stderr match bwrap's for bad options, bad paths and the command's own end`, async () => {
      for (const c of CASES) {
        const theirs = await sh(`${BWRAP} ${c} </dev/null`, { as });
        const mine = await ours(`${c} </dev/null`, { as });
        // The first line: the usage's option list is worded differently.
        const norm = (r: Ran, bin: string) => ({
          case: c,
          code: r.code,
          err: r.err.split("\n")[0]?.replaceAll(bin, "BWRAP"),
        });
        expect(norm(mine, OURS)).toEqual(norm(theirs, BWRAP as string));
      }
    });
  }
});

describe.skipIf(!RUNS)(`sandboxes started by bwrap's command line${PIVOT}`, () => {
  for (const as of USERS) {
    test(`as ${as}: /proc with and without a pid namespace, a new /dev with every expected entry, a private network`, async () => {
      for (const alt of ["", "--unshare-pid", "--unshare-user-try --unshare-pid"]) {
        expect((await ours(`${RUN} ${alt} --proc /proc true`, { as })).code).toBe(0);
        const r = await ours(
          `${RUN} ${alt} --unshare-net --proc /proc --dev /dev sh -c 'ls /dev; grep -c : /proc/net/dev'`,
          { as },
        );
        expect(r.code).toBe(0);
        for (const d of [
          "stdin",
          "stdout",
          "stderr",
          "null",
          "zero",
          "full",
          "random",
          "urandom",
          "tty",
          "fd",
          "core",
          "ptmx",
          "pts",
          "shm",
        ])
          expect(r.out.split("\n")).toContain(d);
        expect(r.out.trim().split("\n").at(-1)).toBe("1"); // lo, alone
      }
    });

    test(`as ${as}: a bind destination reached through a symlink of the view is bound where the link points`, async () => {
      const r = await ours(
        `${RUN} --dir /tmp/dir --symlink dir /tmp/link --bind /etc /tmp/link test -f /tmp/dir/passwd`,
        { as },
      );
      expect(r.code).toBe(0);
    });

    test(`as ${as}: --info-fd and --json-status-fd carry the first process's pid, each new namespace's inode and the exit code`, async () => {
      const r = await ours(
        `--proc /proc ${RUN} --unshare-all --info-fd 42 --json-status-fd 43 -- sh -c 'for n in cgroup ipc mnt net pid uts; do stat -L -c "$n %i" /proc/self/ns/$n; done; exit 42' 42>info-${as}.json 43>status-${as}.json`,
        { as },
      );
      expect(r.code).toBe(42);
      const info = JSON.parse(readFileSync(join(work, `info-${as}.json`), "utf8"));
      const lines = readFileSync(join(work, `status-${as}.json`), "utf8")
        .trim()
        .split("\n");
      expect(JSON.parse(lines[0] as string)).toEqual(info);
      expect(JSON.parse(lines[1] as string)).toEqual({ "exit-code": 42 });
      const seen = Object.fromEntries(
        r.out
          .trim()
          .split("\n")
          .map((l) => [`${l.split(" ")[0]}-namespace`, Number(l.split(" ")[1])]),
      );
      expect(info).toEqual({ "child-pid": info["child-pid"], ...seen });
      expect(info["child-pid"]).toBeGreaterThan(1);
    });

    test(`as ${as}: a command that cannot be run leaves json-status without an exit code`, async () => {
      const r = await ours(`${RUN} --json-status-fd 42 / 42>exec-${as}.json`, { as });
      expect(r.code).toBe(1);
      expect(r.err).toBe("bwrap: execvp /: Permission denied\n");
      expect(readFileSync(join(work, `exec-${as}.json`), "utf8")).not.toContain("exit-code");
    });

    test(`as ${as}: /proc/self/exe as the command is this command again, nested`, async () => {
      const nest = `--unshare-user --uid 0 --gid 0 --cap-add ALL --bind / / --bind /proc /proc`;
      const r = await ours(`${nest} -- /proc/self/exe --unshare-all --bind / / --bind /proc /proc echo hello`, { as });
      expect([r.code, r.out]).toEqual([0, "hello\n"]);
      const v = await ours(
        `${nest} -- /proc/self/exe --unshare-all ${RO_HOST} --proc /proc --dev /dev cat /proc/self/mountinfo`,
        { as },
      );
      expect(v.code).toBe(0);
      expect(v.out.split("\n").map((l) => l.split(" ")[4])).toContain("/usr"); // a mount point of the nested view
    });

    test(`as ${as}: --disable-userns holds even with every capability kept`, async () => {
      expect((await ours("--unshare-user --disable-userns --dev-bind / / -- true", { as })).code).toBe(0);
      const inner = `"$OURS" --unshare-user --dev-bind / / -- true`;
      for (const pre of ["", "--uid 0 --gid 0 --cap-add ALL"]) {
        const r = await ours(
          `--unshare-user ${pre} --disable-userns --dev-bind / / -- sh -c ${q(`echo 100 > /proc/sys/user/max_user_namespaces 2>/dev/null; ${inner}`)}`,
          { as },
        );
        expect(r.code).toBe(1);
      }
    });

    test(`as ${as}: a missing source fails with bwrap's prefix and words`, async () => {
      const r = await ours(`${RUN} --unshare-pid --bind /source-enoent /dest true`, { as });
      expect([r.code, r.err]).toEqual([1, "bwrap: Can't find source path /source-enoent: No such file or directory\n"]);
    });

    test(`as ${as}: --args reads NUL-separated options from each fd in turn`, async () => {
      for (const n of [1, 2, 3]) writeFileSync(join(work, `a${n}`), `--dir\0/tmp/hello/world${n}\0`, { mode: 0o644 });
      const r = await ours(
        `${RUN} --args 3 --args 4 --args 5 sh -c 'test -d /tmp/hello/world1 && test -d /tmp/hello/world2 && test -d /tmp/hello/world3' 3<a1 4<a2 5<a3`,
        { as },
      );
      expect(r.code).toBe(0);
    });

    test(`as ${as}: after "--" every word is the command, even one that looks like an option`, async () => {
      mkdirSync(join(work, "bin"), { recursive: true });
      writeFileSync(join(work, "bin", "--odd-name--"), "#!/bin/sh\necho odd\n", { mode: 0o755 });
      expect((await ours(`${RUN} -- sh -c 'echo hi'`, { as })).out).toBe("hi\n");
      expect((await ours(`${RUN} -- --odd-name--`, { as, env: { PATH: `${work}/bin:${PATH}` } })).out).toBe("odd\n");
      const r = await ours(`${RUN} -- --dev-bind /dev /dev sh -c 'echo ran'`, { as });
      expect([r.code, r.out]).toEqual([1, ""]);
    });

    test(`as ${as}: the host's /tmp through a bind of /, of /tmp, onto /mnt, and another directory on /tmp`, async () => {
      const f = mkdtempSync("/tmp/bwrap-cli-");
      chmodSync(f, 0o755);
      writeFileSync(join(f, "x"), "hello\n");
      chmodSync(join(f, "x"), 0o644);
      try {
        expect((await ours(`--bind / / cat ${f}/x`, { as })).out).toBe("hello\n");
        expect((await ours(`--bind / / --bind /tmp /tmp cat ${f}/x`, { as })).out).toBe("hello\n");
        expect((await ours(`--bind / / --bind /tmp /mnt cat /mnt/${f.slice(5)}/x`, { as })).out).toBe("hello\n");
        writeFileSync(join(work, "in"), "here\n", { mode: 0o644 });
        expect(
          (
            await ours(
              `--bind / / --bind ${work} /tmp sh -c 'cat /tmp/in; ls -d /tmp/oldroot /tmp/newroot 2>&1 | wc -l'`,
              { as },
            )
          ).out,
        ).toBe("here\n2\n");
        expect((await ours(`${RUN} --bind ${work} /tmp/here cat /tmp/here/in`, { as })).out).toBe("here\n");
      } finally {
        rmSync(f, { recursive: true });
      }
    });

    test(`as ${as}: modes of made directories, parents, tmpfs and files follow --perms as bwrap's do`, async () => {
      const d = mkdtempSync(join(work, "modes-"));
      chmodSync(d, 0o777);
      mkdirSync(join(d, "existed"), { mode: 0o754 });
      chmodSync(join(d, "existed"), 0o754);
      const r = await ours(
        [
          "--bind / /",
          `--perms 1741 --dir ${d}/set`,
          `--perms 0741 --dir ${d}/existed`,
          `--dir ${d}/plain`,
          `--dir ${d}/chmodded --chmod 1755 ${d}/chmodded`,
          ...["0644", "0750", "0710", "0600", "0705", "0000"].map((p) => `--perms ${p} --dir ${d}/p${p}/dir`),
          "true",
        ].join(" "),
        { as },
      );
      expect(r.code).toBe(0);
      const mode = (p: string) => (statSync(join(d, p)).mode & 0o7777).toString(8);
      expect([mode("set"), mode("existed"), mode("plain"), mode("chmodded")]).toEqual(["1741", "754", "755", "1755"]);
      expect(["0644", "0750", "0710", "0600", "0705", "0000"].map((p) => mode(`p${p}`))).toEqual([
        "755",
        "750",
        "750",
        "700",
        "705",
        "700",
      ]);
      const m = (a: string) => ours(`${RUN} ${a} < /dev/null`, { as }).then((x) => x.out.trim());
      expect(await m(`--perms 01777 --tmpfs ${d} stat -c %a ${d}`)).toBe("1777");
      expect(await m(`--tmpfs ${d} stat -c %a ${d}`)).toBe("755");
      // The filesystem's size as blocks times block size (stat -f: coreutils' and busybox's alike).
      const [blocks, bsize] = (await m(`--size 1048576 --perms 01777 --tmpfs ${d} stat -f -c '%b %S' ${d}`)).split(" ");
      expect(Number(blocks) * Number(bsize)).toBe(1048576);
      expect(await m("--file 0 /tmp/file stat -c %a /tmp/file")).toBe("666");
      expect(await m("--perms 0640 --file 0 /tmp/file stat -c %a /tmp/file")).toBe("640");
      expect(await m("--bind-data 0 /tmp/file stat -c %a /tmp/file")).toBe("600");
    });

    test(`as ${as}: --setenv, --unsetenv and --clearenv edit the environment the command gets, PWD included`, async () => {
      expect(
        (await ours(`${RUN} --setenv FOO bar sh -c 'echo "$FOO$BAR"'`, { as, env: { FOO: "wrong", BAR: "baz" } })).out,
      ).toBe("barbaz\n");
      expect(
        (await ours(`${RUN} --unsetenv FOO sh -c 'echo "$FOO$BAR"'`, { as, env: { FOO: "wrong", BAR: "baz" } })).out,
      ).toBe("baz\n");
      expect((await ours(`${RUN} --clearenv /usr/bin/env`, { as, env: { FOO: "wrong" } })).out).toBe(`PWD=${work}\n`);
    });

    test(`as ${as}: --bind-fd binds the directory an fd holds; a repeated --chdir warns, with --level-prefix's level`, async () => {
      writeFileSync(join(work, "file-data"), "foobar\n", { mode: 0o644 });
      expect((await ours(`--bind / / --bind-fd 100 /tmp cat /tmp/file-data 100< .`, { as })).out).toBe("foobar\n");
      expect((await ours(`${RUN} --chdir / --chdir / true`, { as })).err).toBe(
        "bwrap: Only the last --chdir option will take effect\n",
      );
      expect((await ours(`${RUN} --level-prefix --chdir / --chdir / true`, { as })).err).toBe(
        "<4>bwrap: Only the last --chdir option will take effect\n",
      );
    });

    test(`as ${as}: capabilities: none for a non-root caller, the caller's set for root, less what --cap-drop names`, async () => {
      const caps = async (a: string) =>
        (await ours(`${RUN} ${a} --unshare-pid grep CapEff /proc/self/status`, { as })).out.trim();
      if (as !== "root") {
        expect(await caps("")).toBe("CapEff:\t0000000000000000");
        expect(await caps("--as-pid-1")).toBe("CapEff:\t0000000000000000");
      } else {
        const own = readFileSync("/proc/self/status", "utf8")
          .split("\n")
          .find((l) => l.startsWith("CapEff:"));
        expect(await caps("")).toBe(own as string);
        expect(await caps("--cap-drop ALL")).toBe("CapEff:\t0000000000000000");
        const kill = BigInt(`0x${(own as string).slice(8)}`) & ~(1n << 5n);
        expect(await caps("--cap-drop CAP_KILL")).toBe(`CapEff:\t${kill.toString(16).padStart(16, "0")}`);
      }
    });

    test(`as ${as}: --as-pid-1 runs the command as pid 1; a symlink is made once, and a conflicting one refused`, async () => {
      expect((await ours(`${RUN} --unshare-pid --as-pid-1 sh -c 'echo $$'`, { as })).out).toBe("1\n");
      const link = join(work, `link-${as}`);
      const mk = (to: string) => ours(`--ro-bind / / --bind ${work} ${work} --symlink ${to} ${link} true`, { as });
      expect((await mk("/dev/null")).code).toBe(0);
      expect((await mk("/dev/null")).code).toBe(0);
      const r = await mk("/dev/full");
      expect([r.code, r.err]).toEqual([1, `bwrap: Can't make symlink at ${link}: existing destination is /dev/null\n`]);
    });
  }
});

describe.skipIf(!RUNS || !BWRAP)(
  `side by side with the system's bwrap, sandboxes started${PIVOT || " (skipped: needs bwrap)"}`,
  () => {
    test("--args FD with hundreds of mounts gives the same view", async () => {
      const args = Array.from({ length: 400 }, (_, i) => `--dir\0/tmp/d/${i}\0--symlink\0/d${i}\0/tmp/l/${i}\0`).join(
        "",
      );
      writeFileSync(join(work, "many"), `--bind\0/\0/\0--tmpfs\0/tmp\0${args}`);
      const see = "sh -c 'ls /tmp/d | sort -n | md5sum; ls /tmp/l | wc -l; readlink /tmp/l/399'";
      const mine = await ours(`--args 3 ${see} 3<many`);
      const theirs = await sh(`${BWRAP} --args 3 ${see} 3<many`);
      expect(mine).toEqual(theirs);
      expect(mine.out.split("\n")[1]).toBe("400");
    });

    test("--info-fd and --json-status-fd have the same keys, in the same layout", async () => {
      for (const ns of ["", "--unshare-all", "--unshare-pid --unshare-ipc"]) {
        const shape = (s: string) => s.replace(/\d+/g, "N");
        const mine = await ours(`${RUN} ${ns} --info-fd 3 --json-status-fd 4 sh -c 'exit 3' 3>i1 4>j1`);
        const theirs = await sh(`${BWRAP} ${RUN} ${ns} --info-fd 3 --json-status-fd 4 sh -c 'exit 3' 3>i2 4>j2`);
        expect(mine.code).toBe(theirs.code);
        for (const [a, b] of [
          ["i1", "i2"],
          ["j1", "j2"],
        ] as const)
          expect(shape(readFileSync(join(work, a), "utf8"))).toBe(shape(readFileSync(join(work, b), "utf8")));
      }
    });

    test("--sync-fd: the other end sees the end of the file once the sandbox has ended, not before", async () => {
      for (const bin of [`"$OURS"`, BWRAP as string]) {
        const r = await sh(
          `exec 3> >(cat > /dev/null; echo eof >> order); ${bin} ${RUN} --sync-fd 3 sh -c 'sleep 0.2; echo ran >> order'; exec 3>&-; wait; sleep 0.2; cat order; rm order`,
        );
        expect(r.out).toBe("ran\neof\n");
      }
    });
  },
);

/** Is PID gone: no such process, or a zombie (dead, waiting for a reaper that may be slow)? */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8")
      .replace(/^.*\) /s, "")
      .startsWith("Z");
  } catch {
    return true;
  }
}

/** Pids of the live processes whose argv is exactly ARGV. */
function running(argv: readonly string[]): number[] {
  const want = `${argv.join("\0")}\0`;
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, "utf8") === want && !gone(Number(d));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Until COND holds; a generous bound turns a hang into a failure (never a timing assertion). */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (const end = Date.now() + 20_000; !cond(); await Bun.sleep(20))
    if (Date.now() > end) throw new Error(`still waiting: ${what}`);
}

describe.skipIf(!RUNS || !BWRAP)(
  `side by side with the system's bwrap, --die-with-parent${PIVOT || (BWRAP ? "" : " (skipped: needs bwrap)")}`,
  () => {
    // A parent (bash) runs the command in the background and prints its pid; then the parent is SIGKILLed.
    // blocked: the command's --info-fd is a pipe already full, so the command is stuck writing it (bwrap: before its
    // sandbox's command runs; ours: after): its parent's end must reach it there too, and the sandbox with it.
    for (const blocked of [false, true])
      test(`the command${blocked ? ", blocked writing --info-fd to a full pipe," : ""} and its sandbox's command die with its parent`, async () => {
        const fifo = join(work, `full-${blocked}`);
        Bun.spawnSync(["mkfifo", fifo]);
        const { O_RDWR, O_NONBLOCK } = constants;
        const hold = openSync(fifo, O_RDWR | O_NONBLOCK);
        try {
          // Fill the pipe: the next blocking write waits for a reader that never reads.
          try {
            for (;;) writeSync(hold, new Uint8Array(4096));
          } catch {}
          for (const [bin, i] of [
            [OURS, 1],
            [BWRAP as string, 2],
          ] as const) {
            const marker = ["sleep", `${600 + i}.${process.pid}${blocked ? 1 : 0}`];
            const argv = [
              bin,
              ...RUN.split(" "),
              "--die-with-parent",
              ...(blocked ? ["--info-fd", "3"] : []),
              ...marker,
            ];
            const parent = Bun.spawn(["bash", "-c", `"$@" 3>${q(fifo)} & echo $!; wait`, "bash", ...argv], {
              env: { PATH },
              stdout: "pipe",
              stderr: "ignore",
            });
            const reader = parent.stdout.getReader();
            const pid = Number(new TextDecoder().decode((await reader.read()).value).trim());
            reader.releaseLock();
            if (blocked)
              await until(`${bin} blocked writing`, () =>
                /pipe_write$/.test(readFileSync(`/proc/${pid}/wchan`, "utf8")),
              );
            else await until(`${bin}'s command`, () => running(marker).length > 0);
            try {
              parent.kill("SIGKILL");
              await parent.exited;
              await until(`${bin} gone`, () => gone(pid));
              await until(`${bin}'s command gone`, () => running(marker).length === 0);
            } finally {
              // bwrap's own sandbox process, cut off before its command, waits forever for the go it never gets;
              // after a failure, whatever is left.
              for (const left of [...running(argv), ...running(marker), ...(gone(pid) ? [] : [pid])])
                process.kill(left, "SIGKILL");
            }
          }
        } finally {
          closeSync(hold);
          rmSync(fifo);
        }
      });
  },
);

const UNSHARE = Bun.which("unshare");
const [KMAJ = 0, KMIN = 0] = (process.versions.linux ?? readFileSync("/proc/sys/kernel/osrelease", "utf8"))
  .split(".")
  .map(Number);
/** An overlay's writable layer on a tmpfs needs user xattrs there (Linux 6.6); /var/tmp may be a tmpfs. */
const TMPFS_XATTR = KMAJ > 6 || (KMAJ === 6 && KMIN >= 6);

describe.skipIf(!RUNS)(`options over sandbox()'s own fields${PIVOT}`, () => {
  for (const as of USERS) {
    test(`as ${as}: --argv0 is the command's argv[0], the file run is still the one named`, async () => {
      const r = await ours(`${RUN} --argv0 not-a-shell sh -c 'echo $0'`, { as });
      expect([r.code, r.out]).toEqual([0, "not-a-shell\n"]);
      expect((await ours(`${RUN} --argv0 a --argv0 b true`, { as })).err).toBe("bwrap: --argv0 used multiple times\n");
    });

    test(`as ${as}: --ro-overlay stacks the sources, the last on top, and refuses writes`, async () => {
      const d = mkdtempSync(join(work, "ovl-"));
      for (const [layer, file, text] of [
        ["low", "a", "low"],
        ["low", "b", "low"],
        ["high", "b", "high"],
      ] as const) {
        mkdirSync(join(d, layer), { recursive: true });
        writeFileSync(join(d, layer, file), text);
      }
      for (const p of [d, join(d, "low"), join(d, "high")]) chmodSync(p, 0o755);
      const r = await ours(
        `${RUN} --overlay-src ${d}/low --overlay-src ${d}/high --ro-overlay /tmp/o sh -c 'cat /tmp/o/a /tmp/o/b; touch /tmp/o/c 2>&- || echo refused'`,
        { as },
      );
      expect([r.code, r.out]).toEqual([0, "lowhighrefused\n"]);
      chmodSync(d, 0o777);
    });

    test.skipIf(!TMPFS_XATTR)(
      `as ${as}: --tmp-overlay and --overlay take writes, into a tmpfs that goes or into RWSRC${TMPFS_XATTR ? "" : " — skipped: needs Linux 6.6 (user xattrs on tmpfs)"}`,
      async () => {
        const d = mkdtempSync(join(work, "ovw-"));
        for (const k of ["low", "up", "wk"]) mkdirSync(join(d, k));
        writeFileSync(join(d, "low", "a"), "low");
        chmodSync(d, 0o777);
        for (const k of ["low", "up", "wk"]) chmodSync(join(d, k), 0o777);
        const t = await ours(
          `${RUN} --overlay-src ${d}/low --tmp-overlay /tmp/o sh -c 'echo new > /tmp/o/n && cat /tmp/o/a /tmp/o/n'`,
          {
            as,
          },
        );
        expect([t.code, t.out, readFileSync(join(d, "low", "a"), "utf8")]).toEqual([0, "lownew\n", "low"]);
        expect(existsSync(join(d, "low", "n"))).toBe(false);
        const w = await ours(
          `${RUN} --overlay-src ${d}/low --overlay ${d}/up ${d}/wk /tmp/o sh -c 'echo up > /tmp/o/b && cat /tmp/o/a /tmp/o/b'`,
          { as },
        );
        expect([w.code, w.out, readFileSync(join(d, "up", "b"), "utf8")]).toEqual([0, "lowup\n", "up\n"]);
        expect(existsSync(join(d, "low", "b"))).toBe(false);
      },
    );
  }
});

describe.skipIf(!RUNS || !BWRAP)(
  `side by side with the system's bwrap, the options 0.8 has${PIVOT || (BWRAP ? "" : " (skipped: needs bwrap)")}`,
  () => {
    /** The same shell line with our command and with bwrap ($B in LINE), as AS. */
    const both = async (line: string, as: Who) => {
      const mine = await sh(line.replaceAll("$B", '"$OURS"'), { as });
      const theirs = await sh(line.replaceAll("$B", BWRAP as string), { as });
      return { mine, theirs };
    };

    for (const as of USERS)
      test(`as ${as}: --userns-block-fd leaves the maps to the caller, who writes them into child-pid's /proc files from --info-fd`, async () => {
        for (const inside of ["0", "1000"]) {
          // The ids, the maps, and whether --userns-block-fd's and --info-fd's fds are still open in the command.
          const show =
            "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; ls /proc/self/fd/5 /proc/self/fd/6 2>&1 | grep -c 'No such'";
          const { mine, theirs } = await both(
            [
              `d=$(mktemp -d); mkfifo $d/info $d/block`,
              `$B ${RUN} --proc /proc --unshare-user --info-fd 6 --userns-block-fd 5 sh -c ${q(show)} 6>$d/info 5<$d/block &`,
              `exec 8<$d/info 7>$d/block`,
              `pid=$(sed -n 's/.*"child-pid": \\([0-9]*\\).*/\\1/p' <&8)`,
              `echo "${inside} $(id -u) 1" > /proc/$pid/uid_map; echo deny > /proc/$pid/setgroups; echo "${inside} $(id -g) 1" > /proc/$pid/gid_map`,
              "echo go >&7; exec 7>&- 8<&-",
              "wait $!; echo $?; rm -r $d",
            ].join("\n"),
            as,
          );
          expect(mine).toEqual(theirs);
          expect(mine.out.split("\n").slice(0, 2)).toEqual([inside, inside]);
        }
      });

    // Not for root: root's /proc files are root's either way.
    for (const as of USERS.filter((u) => u !== "root"))
      test(`as ${as}: with --userns-block-fd the sandbox's init is the caller's to write only while it waits: sealed again after`, async () => {
        // Owner of the init's /proc/PID/environ: the caller's uid while it waits for the maps, root's once sealed.
        const mine = await sh(
          [
            `d=$(mktemp -d); mkfifo $d/info $d/block`,
            `$B ${RUN} --unshare-pid --unshare-user --info-fd 6 --userns-block-fd 5 sleep 1 6>$d/info 5<$d/block &`,
            `exec 8<$d/info 7>$d/block`,
            `pid=$(sed -n 's/.*"child-pid": \\([0-9]*\\).*/\\1/p' <&8)`,
            `stat -c %u /proc/$pid/environ`,
            `echo "0 $(id -u) 1" > /proc/$pid/uid_map; echo deny > /proc/$pid/setgroups; echo "0 $(id -g) 1" > /proc/$pid/gid_map`,
            "echo go >&7; exec 7>&- 8<&-",
            // The init seals itself before it builds the view; the command (sleep) is running by then.
            'while [ "$(stat -c %u /proc/$pid/environ)" != 0 ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done',
            "stat -c %u /proc/$pid/environ; wait $!; echo $?; rm -r $d",
          ]
            .join("\n")
            .replaceAll("$B", '"$OURS"'),
          { as },
        );
        const uid = as === "nobody" ? "65534" : String(process.getuid?.());
        expect(mine.out).toBe(`${uid}\n0\n0\n`);
      });

    // The dumpable window is nobody's: only root can watch it from other uids and other user namespaces.
    test.skipIf(!USERS.includes("nobody"))(
      `as nobody: while the sandbox waits on --userns-block-fd (dumpable), only the caller's uid in the caller's own user namespace reaches its first process: not that uid in a user namespace of its own or in another sandbox, not another uid${USERS.includes("nobody") ? "" : " (skipped: needs root and setpriv)"}`,
      async () => {
        const d = mkdtempSync(join(work, "window-"));
        chmodSync(d, 0o777);
        for (const f of ["info", "block", "go"]) Bun.spawnSync(["mkfifo", "-m", "666", join(d, f)]);
        // What of the process a prober reaches: each line a success, "checked" at the end.
        const reach = (pid: string) =>
          `for f in mem environ exe fd/0 fd/1; do (exec 3</proc/${pid}/$f) 2>/dev/null && echo "$f opened"; done; ` +
          `readlink /proc/${pid}/exe >/dev/null 2>&1 && echo "exe read"; ` +
          `for m in /proc/${pid}/map_files/*; do (exec 3<$m) 2>/dev/null && echo "map_files opened"; break; done; ` +
          "echo checked";
        const caller = sh(
          [
            `$B ${RUN} --unshare-pid --unshare-user --info-fd 6 --userns-block-fd 5 true 6>${d}/info 5<${d}/block &`,
            `exec 8<${d}/info 7>${d}/block`,
            `pid=$(sed -n 's/.*"child-pid": \\([0-9]*\\).*/\\1/p' <&8)`,
            `echo $pid > ${d}/pid.tmp && mv ${d}/pid.tmp ${d}/pid`,
            // The caller itself, while it waits: the window is real (its stdout, a pipe of root's, is root's to open).
            `sh -c ${q(reach("$0"))} $pid`,
            `read go <${d}/go`,
            `echo "0 $(id -u) 1" > /proc/$pid/uid_map; echo deny > /proc/$pid/setgroups; echo "0 $(id -g) 1" > /proc/$pid/gid_map`,
            "echo go >&7; exec 7>&- 8<&-",
            "wait $!; echo $?",
          ]
            .join("\n")
            .replaceAll("$B", '"$OURS"'),
          { as: "nobody" },
        );
        try {
          const pidFile = join(d, "pid");
          for (let i = 0; i < 1000 && !existsSync(pidFile); i++) await Bun.sleep(10);
          const pid = readFileSync(pidFile, "utf8").trim();
          const probe = reach(pid);
          const otherUid = [SETPRIV as string, "--reuid=65533", "--regid=65533", "--clear-groups", "sh", "-c", probe];
          expect({
            ownUserns: (await sh(`unshare -U -r sh -c ${q(probe)}`, { as: "nobody" })).out,
            otherSandbox: (await sh(`"$OURS" --bind / / --unshare-user --uid 0 sh -c ${q(probe)}`, { as: "nobody" }))
              .out,
            otherUid: Bun.spawnSync(otherUid).stdout.toString(),
          }).toEqual({ ownUserns: "checked\n", otherSandbox: "checked\n", otherUid: "checked\n" });
        } finally {
          writeFileSync(join(d, "go"), "go\n");
        }
        const done = await caller;
        expect(done.out).toBe("mem opened\nenviron opened\nexe opened\nfd/0 opened\nexe read\nchecked\n0\n");
        rmSync(d, { recursive: true, force: true });
      },
    );

    for (const as of USERS) {
      test(`as ${as}: the capability sets the command gets (effective, permitted, inheritable, bounding, ambient)`, async () => {
        for (const opt of [
          "",
          "--as-pid-1",
          "--disable-userns",
          "--cap-drop ALL",
          "--cap-drop CAP_KILL",
          "--uid 0 --cap-add CAP_KILL",
        ]) {
          const { mine, theirs } = await both(
            `$B ${RUN} --unshare-user --unshare-pid ${opt} grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status`,
            as,
          );
          expect({ opt, ...mine }).toEqual({ opt, ...theirs });
        }
      });

      test(`as ${as}: --ro-bind-data: the bytes of FD, mode 0600 or --perms, not writable`, async () => {
        writeFileSync(join(work, "data"), "some bytes\n");
        for (const perms of ["", "--perms 0444"]) {
          const { mine, theirs } = await both(
            `$B ${RUN} --uid 0 --unshare-user ${perms} --ro-bind-data 5 /tmp/d sh -c 'cat /tmp/d; stat -c %a /tmp/d; (echo x > /tmp/d) 2>&- || echo refused' 5<data`,
            as,
          );
          expect(mine).toEqual(theirs);
          expect(mine.out).toBe(`some bytes\n${perms ? "444" : "600"}\nrefused\n`);
        }
      });

      test(`as ${as}: --lock-file holds a read lock on the whole file while the sandbox runs, and only then`, async () => {
        const f = join(work, `lock-${as}`);
        writeFileSync(f, "");
        chmodSync(f, 0o666);
        const ino = statSync(f).ino;
        // /proc/locks: "N: KIND ADVISORY READ|WRITE PID MAJ:MIN:INODE START END".
        const look = `awk '$6 ~ /:${ino}$/ {print $4, $7, $8}' /proc/locks`;
        const { mine, theirs } = await both(`$B ${RUN} --lock-file ${f} sh -c ${q(look)}; ${look}`, as);
        expect(mine).toEqual(theirs);
        expect(mine.out).toBe("READ 0 EOF\n");
      });

      test(`as ${as}: --block-fd holds the command until FD is readable`, async () => {
        const m = join(work, `block-${as}`);
        const { mine, theirs } = await both(
          `$B ${RUN} --block-fd 5 test -e ${m} 5< <(sleep 0.3; touch ${m}; echo x); echo $?; rm ${m}`,
          as,
        );
        expect(mine).toEqual(theirs);
        expect(mine.out).toBe("0\n");
      });

      test(`as ${as}: which fd an option names is still open in the command, option by option`, async () => {
        writeFileSync(join(work, "one"), "x");
        writeFileSync(join(work, "more-args"), "--setenv\0A\0B\0");
        writeFileSync(join(work, "no-mkdir.bpf"), seccompFilter({ deny: ["mkdir", "mkdirat"] }));
        const lock = join(work, `fd-lock-${as}`);
        writeFileSync(lock, "");
        chmodSync(lock, 0o666);
        // Is fd 5 open in the command, and how many of its fds are the lock file?
        const look = q(`test -e /proc/self/fd/5 && echo open || echo closed; ls -l /proc/self/fd | grep -c ${lock}`);
        for (const [opts, fd5, open] of [
          ["--block-fd 5", "5<one", "closed"],
          ["--sync-fd 5", "5>/dev/null", "closed"],
          ["--unshare-pid --sync-fd 5", "5>/dev/null", "closed"],
          ["--unshare-pid --as-pid-1 --sync-fd 5", "5>/dev/null", "open"],
          ["--info-fd 5", "5>/dev/null", "closed"],
          ["--json-status-fd 5", "5>/dev/null", "closed"],
          ["--args 5", "5<more-args", "closed"],
          ["--seccomp 5", "5<no-mkdir.bpf", "closed"],
          ["--add-seccomp-fd 5", "5<no-mkdir.bpf", "closed"],
          ["--file 5 /tmp/f", "5<one", "closed"],
          ["--bind-data 5 /tmp/f", "5<one", "closed"],
          ["--ro-bind-data 5 /tmp/f", "5<one", "closed"],
          [`--lock-file ${lock}`, "", "closed"],
          [`--unshare-pid --lock-file ${lock}`, "", "closed"],
        ]) {
          const { mine, theirs } = await both(`$B ${RUN} ${opts} sh -c ${look} ${fd5}`, as);
          expect({ opts, ...mine }).toEqual({ opts, ...theirs });
          expect({ opts, out: mine.out }).toEqual({ opts, out: `${open}\n0\n` });
        }
      });

      test(`as ${as}: --assert-userns-disabled passes with --disable-userns and fails without`, async () => {
        for (const opt of ["--unshare-user --disable-userns", "--unshare-user"]) {
          const { mine, theirs } = await both(`$B ${RUN} ${opt} --assert-userns-disabled true`, as);
          expect(mine).toEqual(theirs);
        }
      });

      test(`as ${as}: repeated --add-seccomp-fd stacks every program`, async () => {
        writeFileSync(join(work, "no-mkdir.bpf"), seccompFilter({ deny: ["mkdir", "mkdirat"] }));
        writeFileSync(join(work, "no-symlink.bpf"), seccompFilter({ deny: ["symlink", "symlinkat"] }));
        const { mine, theirs } = await both(
          `$B ${RUN} --add-seccomp-fd 5 --add-seccomp-fd 6 sh -c 'mkdir /tmp/a 2>&-; echo $?; ln -s x /tmp/b 2>&-; echo $?; touch /tmp/c; echo $?' 5<no-mkdir.bpf 6<no-symlink.bpf`,
          as,
        );
        expect(mine).toEqual(theirs);
        expect(mine.out).toBe("1\n1\n0\n");
      });

      test.skipIf(!UNSHARE)(
        `as ${as}: --userns FD and --pidns FD put the command in those namespaces; --info-fd as bwrap's${UNSHARE ? "" : " — skipped: needs util-linux unshare"}`,
        async () => {
          // A holder: a process in a new user (and pid) namespace, ready once it printed. unshare --fork ignores
          // SIGTERM while it waits: SIGKILL it, and --kill-child takes the child with it.
          const hold = (ns: string) =>
            `coproc H { exec unshare ${ns} sh -c 'echo ready; exec sleep 60'; }; read -r _ <&"\${H[0]}"; P=$H_PID`;
          const ids = "id -u; readlink /proc/self/ns/pid";
          // [holder, options, what the command shows]: as root without --userns bwrap makes no user namespace
          // (this command always does), so only the pid namespace is shown then.
          const cases =
            as === "root"
              ? [
                  [hold("-Ur"), "--userns 7 7</proc/$P/ns/user", `${ids}; readlink /proc/self/ns/user`],
                  [hold("-p --fork --kill-child"), "--pidns 8 8</proc/$P/ns/pid_for_children", ids],
                ]
              : [
                  [
                    hold("-Ur -p --fork --kill-child"),
                    "--userns 7 --pidns 8 7</proc/$P/ns/user 8</proc/$P/ns/pid_for_children",
                    `${ids}; readlink /proc/self/ns/user`,
                  ],
                ];
          for (const [h, opts, show] of cases) {
            const line = `${h}; readlink /proc/$P/ns/user /proc/$P/ns/pid_for_children; $B ${RUN} --info-fd 9 ${opts} sh -c ${q(show as string)} 9>info-$$; echo $?; sed 's/[0-9]\\+/N/g' info-$$; rm info-$$; kill -9 $P`;
            // Each run has a holder of its own (the first two lines): its namespaces are named as such.
            const held = (r: Ran) => {
              const [user = "", pid = "", ...rest] = r.out.split("\n");
              const text = rest.join("\n").replaceAll(user, "HELD-USER").replaceAll(pid, "HELD-PID");
              return { opts, code: r.code, err: r.err, out: text };
            };
            const { mine, theirs } = await both(line, as);
            expect(held(mine)).toEqual(held(theirs));
            const seen = held(mine).out.split("\n");
            expect(seen.slice(1, 2)).toEqual(["HELD-PID"]);
            if (show !== ids) expect(seen[2]).toBe("HELD-USER");
          }
        },
      );
    }
  },
);

describe.skipIf(!RUNS)(`nothing left on the host${PIVOT}`, () => {
  test("a mount point made under a host bind goes when the sandbox ends; one that existed stays", async () => {
    const d = mkdtempSync(join(work, "host-"));
    writeFileSync(join(d, "existed"), "");
    const r = await ours(
      `${RUN} --bind ${d} /w --ro-bind /dev/null /w/masked --ro-bind /dev/null /w/existed --tmpfs /w/sub/dir sh -c 'ls /w'`,
    );
    expect(r.out).toBe("existed\nmasked\nsub\n");
    expect(existsSync(join(d, "masked")) || existsSync(join(d, "sub"))).toBe(false);
    expect(existsSync(join(d, "existed"))).toBe(true);
  });
});
