// passFds: fds of the caller's that a command keeps at their own numbers
// (spawnInside and sandbox), and the CLI commands that pass on the fds they
// were given, as unshare, nsenter and bwrap do. Bun marks every fd it
// inherits close-on-exec, so without these a command gets nothing past 2.
import { afterAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { sandbox, spawnInside, startHelper, UsernsError } from "../src/index.ts";
import { thrown } from "./support/errors.ts";
import { isRoot, rootIsInitramfs } from "./support/proc.ts";

const work = mkdtempSync(join(tmpdir(), "bun-userns-pass-fds-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const data = join(work, "data");
writeFileSync(data, "the data\n");
const LAUNCHER = join(import.meta.dir, "..", "src", "bin", "bun-userns");
const BUN_DIR = dirname(Bun.which("bun") ?? join(import.meta.dir, "..", "node_modules", ".bin", "bun"));
const PATH = `${BUN_DIR}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`;
// Every fd past 2 the shell holds, then the data read through fd FD.
const LIST = `fds=; for f in /proc/self/fd/*; do n=\${f##*/}; [ "$n" -gt 2 ] && [ -e "$f" ] && fds="$fds $n"; done; echo $fds`;

async function output(p: { stdout: unknown; exited: Promise<number> }): Promise<[string, number]> {
  return [await new Response(p.stdout as ReadableStream<Uint8Array>).text(), await p.exited];
}

describe("passFds: bad input is refused before anything starts", () => {
  const cases: [string, unknown][] = [
    ["not an array", 5],
    ["a stdio fd", [2]],
    ["a fraction", [3.5]],
    ["a string", ["7"]],
    ["past 2^31-1", [2 ** 31]],
  ];
  for (const [what, passFds] of cases) {
    test(`${what}: spawnInside and sandbox() say which entry and why`, () => {
      for (const call of [
        () => spawnInside(process.pid, ["true"], { namespaces: [], passFds } as never),
        () => sandbox(["true"], { passFds } as never),
      ]) {
        const err = thrown(call);
        expect(err).toBeInstanceOf(UsernsError);
        expect((err as UsernsError).code).toBe("EINVAL");
        expect((err as UsernsError).message).toContain("passFds");
      }
    });
  }

  test("an fd that is not open: EBADF from fstat, naming it", () => {
    const fd = openSync(data, "r");
    closeSync(fd);
    for (const call of [
      () => spawnInside(process.pid, ["true"], { namespaces: [], passFds: [fd] }),
      () => sandbox(["true"], { passFds: [fd] }),
    ]) {
      const err = thrown(call);
      expect(err).toBeInstanceOf(UsernsError);
      expect({ ...(err as UsernsError) }).toMatchObject({ code: "EBADF", syscall: "fstat", step: "options" });
      expect((err as UsernsError).message).toContain(`${fd} is not an open file descriptor`);
    }
  });

  test("sandbox(): an fd another option waits on or holds cannot also be passed", () => {
    const fd = openSync(data, "r");
    try {
      for (const key of ["syncFd", "blockFd"]) {
        expect(() => sandbox(["true"], { passFds: [fd], [key]: fd })).toThrow(
          `passFds names fd ${fd}, which ${key} also names`,
        );
      }
    } finally {
      closeSync(fd);
    }
  });

  test("a passed fd closed by code the call runs (its signal's throwIfAborted) is refused, never handed on as one the start opened", () => {
    // The first fds the call would open next take that number: the helper's pidfd, the registry's memfd.
    for (const call of ["spawnInside", "sandbox"] as const) {
      const fd = openSync(data, "r");
      const signal = new AbortController().signal;
      Object.defineProperty(signal, "throwIfAborted", { value: () => closeSync(fd) });
      const err = thrown(() =>
        call === "sandbox"
          ? sandbox(["true"], { passFds: [fd], signal })
          : spawnInside(process.pid, ["true"], { namespaces: [], passFds: [fd], signal }),
      );
      expect({ call, err: err instanceof UsernsError ? { ...err } : err }).toMatchObject({
        call,
        err: { code: "EBADF", syscall: "fstat", step: "options" },
      });
      expect((err as UsernsError).message).toContain(`${fd} is not an open file descriptor`);
    }
  });

  test("a Proxy list is read once: what was checked is what is passed", () => {
    const fd = openSync(data, "r");
    try {
      let reads = 0;
      const list = new Proxy([fd], {
        get(t, k, r) {
          if (k === "0") reads++;
          // A second read would see stdin.
          return k === "0" && reads > 1 ? 0 : Reflect.get(t, k, r);
        },
      });
      const p = spawnInside(process.pid, ["true"], { namespaces: [], passFds: list });
      return p.exited.then((code) => {
        expect(code).toBe(0);
        expect(reads).toBe(1);
      });
    } finally {
      closeSync(fd);
    }
  });
});

describe.skipIf(!isRoot)(
  `spawnInside passes exactly the fds named (needs uid 0)${isRoot ? "" : " — skipped: needs uid 0"}`,
  () => {
    test("in a helper's namespaces: the fd at its number, readable, nothing else past 2; ours keeps close-on-exec", async () => {
      const a = openSync(data, "r");
      const b = openSync(data, "r");
      const h = startHelper("0:0:1", "0:0:1", 0);
      try {
        const p = spawnInside(h, ["sh", "-c", `${LIST}; cat /proc/self/fd/${b}`], {
          passFds: [b],
          stdio: ["ignore", "pipe", "inherit"],
        });
        const [out, code] = await output(p);
        expect(code).toBe(0);
        expect(out).toBe(`${b}\nthe data\n`);
        // Close-on-exec was cleared in the command's table alone.
        expect(readFileSync(`/proc/self/fdinfo/${b}`, "utf8")).toMatch(/flags:\s*0*2\d{6}\n/);
      } finally {
        h.release();
        closeSync(a);
        closeSync(b);
      }
    });

    test("a repeated fd is passed once; none named: nothing past 2", async () => {
      const a = openSync(data, "r");
      try {
        const once = spawnInside(process.pid, ["sh", "-c", LIST], {
          namespaces: [],
          passFds: [a, a],
          stdio: ["ignore", "pipe", "inherit"],
        });
        expect(await output(once)).toEqual([`${a}\n`, 0]);
        const none = spawnInside(process.pid, ["sh", "-c", LIST], {
          namespaces: [],
          stdio: ["ignore", "pipe", "inherit"],
        });
        expect(await output(none)).toEqual(["\n", 0]);
      } finally {
        closeSync(a);
      }
    });
  },
);

const PIVOT = rootIsInitramfs ? " — skipped: / is the initial ramfs here, which pivot_root refuses to leave" : "";
describe.skipIf(!isRoot || rootIsInitramfs)(
  `sandbox() passFds (needs uid 0)${isRoot ? PIVOT : " — skipped: needs uid 0"}`,
  () => {
    const PROBE = join(import.meta.dir, "fixtures", "pass-fds-probe.ts");
    const expectProbe = (out: string) => {
      const seen = JSON.parse(out.trim()) as Record<string, unknown>;
      // The command holds both at their numbers, reads the file; only it holds the FIFO's write end.
      expect(seen).toMatchObject({ read: "the data", holders: ["sleep"], code: 137 });
      const named = [seen.file, seen.w, ...(seen.kept === undefined ? [] : [seen.kept])];
      expect(seen.listed).toBe(named.sort((x, y) => Number(x) - Number(y)).join(" "));
    };

    test("with an init: the command has them; the monitor and the init hold none once it runs", () => {
      const r = Bun.spawnSync([process.execPath, PROBE, data], { stdout: "pipe", stderr: "pipe" });
      expect(r.stderr.toString()).toBe("");
      expectProbe(r.stdout.toString());
    });

    test("as pid 1 (asPid1): the same", () => {
      const r = Bun.spawnSync([process.execPath, PROBE, data], {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, AS_PID1: "1" },
      });
      expect(r.stderr.toString()).toBe("");
      expectProbe(r.stdout.toString());
    });

    for (const early of ["blockFd", "usernsBlockFd"])
      for (const asPid1 of [false, true])
        test(`${asPid1 ? "as pid 1" : "with an init"}, the start reported before the command runs (${early}): the monitor and the init hold none once it runs either`, () => {
          const r = Bun.spawnSync([process.execPath, PROBE, data], {
            stdout: "pipe",
            stderr: "pipe",
            env: { ...process.env, EARLY: early, ...(asPid1 ? { AS_PID1: "1" } : {}) },
          });
          expect(r.stderr.toString()).toBe("");
          expectProbe(r.stdout.toString());
        });

    const NOEXEC = existsSync("/proc/sys/vm/memfd_noexec") ? "" : " (needs vm.memfd_noexec: kernel 6.3 or later)";
    test.skipIf(NOEXEC !== "")(`with the monitor a fork of Bun (vm.memfd_noexec=2): the same${NOEXEC}`, () => {
      // A pid namespace of its own: the setting is per pid namespace, the host's is untouched.
      const script = `echo 2 > /proc/sys/vm/memfd_noexec && exec ${process.execPath} ${PROBE} ${data}`;
      const r = Bun.spawnSync(["unshare", "-p", "-f", "--mount-proc", "sh", "-c", script], {
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(r.stderr.toString()).toBe("");
      expectProbe(r.stdout.toString());
    });
  },
);

describe.skipIf(!isRoot)(
  `the CLI passes on the fds it was given (needs uid 0)${isRoot ? "" : " — skipped: needs uid 0"}`,
  () => {
    /** LINE run by bash with fd 7 open on the data file and fd 9 on /dev/null (or FDS); its stdout. */
    const sh = (line: string, env: Record<string, string> = {}, fds = `7<${data} 9>/dev/null`) => {
      const r = Bun.spawnSync(["bash", "-c", `${line} ${fds}`], {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, PATH, ...env },
      });
      return { out: r.stdout.toString(), err: r.stderr.toString(), code: r.exitCode };
    };
    const SHOW = `'${LIST}; cat /proc/self/fd/7; echo $(env | grep -c BUN_USERNS_INHERITED)'`;
    const UNSHARE = Bun.which("unshare");
    const NSENTER = Bun.which("nsenter");
    const BWRAP = Bun.which("bwrap");

    test.skipIf(!UNSHARE)(
      `exec: the same fds as util-linux unshare's command${UNSHARE ? "" : " (needs unshare)"}`,
      () => {
        const ours = sh(`${LAUNCHER} exec -r -n -- sh -c ${SHOW}`);
        const theirs = sh(`unshare -r -n -- sh -c ${SHOW}`);
        expect(ours).toEqual(theirs);
        expect(ours.out).toStartWith("7 9\nthe data\n0\n");
      },
    );

    test.skipIf(!NSENTER)(`enter: the same fds as nsenter's command${NSENTER ? "" : " (needs nsenter)"}`, () => {
      const ours = sh(`${LAUNCHER} enter -t $$ -- sh -c ${SHOW}`);
      const theirs = sh(`nsenter -t $$ -- sh -c ${SHOW}`);
      expect(ours).toEqual(theirs);
      expect(ours.out).toStartWith("7 9\nthe data\n0\n");
    });

    test("run: the callback command gets them too", () => {
      expect(sh(`${LAUNCHER} run -r -- sh -c ${SHOW}`)).toMatchObject({ out: "7 9\nthe data\n0\n", code: 0 });
    });

    test("once the command runs, the CLI holds none of the fds it passed: a pipe end the command closes reads EOF at once, as with unshare, nsenter and bwrap", () => {
      // The command closes fd 7 (a pipe), then waits for its reader to say it saw EOF: held anywhere else, it never does.
      const eof = (cmd: string) => {
        const line = `${cmd} sh -c 'exec 7>&-; cat "$D/f" > "$D/out"' 7>&1 >/dev/null | { cat >/dev/null; echo eof > "$D/f"; }`;
        return sh(
          [
            "exec 9</dev/null; export D=$(mktemp -d); mkfifo $D/f",
            `timeout 20 sh -c '${line.replaceAll("'", "'\\''")}'`,
            "cat $D/out; rm -r $D",
          ].join("\n"),
          {},
          "",
        );
      };
      const cases: [string, string | undefined][] = [
        [`${LAUNCHER} exec -r --`, UNSHARE ? "unshare -r --" : undefined],
        [`${LAUNCHER} enter -t $$ -m --`, NSENTER ? "nsenter -t $$ -m --" : undefined],
        [`${LAUNCHER} run -r --`, undefined],
        ...["", "--block-fd 9", "--unshare-pid --as-pid-1"].map((o): [string, string | undefined] => [
          `${LAUNCHER} bwrap --bind / / ${o}`,
          BWRAP && !rootIsInitramfs ? `${BWRAP} --bind / / ${o}` : undefined,
        ]),
      ];
      for (const [ours, theirs] of cases) {
        if (ours.includes(" bwrap ") && rootIsInitramfs) continue;
        expect({ ours, ...eof(ours) }).toEqual({ ours, out: "eof\n", err: "", code: 0 });
        if (theirs) expect({ theirs, ...eof(theirs) }).toEqual({ theirs, out: "eof\n", err: "", code: 0 });
      }
    });

    test("a list made for another process is ignored, and never reaches the command's environment", () => {
      const r = sh(`${LAUNCHER} exec -r -- sh -c ${SHOW}`, { BUN_USERNS_INHERITED_FDS: "1: 7 9" });
      expect(r.out).toBe("7 9\nthe data\n0\n"); // the launcher's own list, made for this process
      const direct = sh(
        `${process.execPath} ${join(import.meta.dir, "..", "src", "cli.ts")} exec -r -- sh -c ${SHOW}`,
        {
          BUN_USERNS_INHERITED_FDS: "1: 7 9",
        },
      );
      // Without the launcher: no list of its own, the stale one ignored, nothing past 2, the variable gone.
      expect(direct.out).toBe("\n0\n");
    });

    test.skipIf(!BWRAP || rootIsInitramfs)(
      `bun-userns-bwrap: the fds it was given reach the command, but those an option reads, waits on or writes, as with bwrap${BWRAP ? PIVOT : " (needs bwrap)"}`,
      () => {
        const bin = join(work, "bin");
        if (!existsSync(bin)) {
          Bun.spawnSync(["mkdir", "-p", bin]);
          symlinkSync(LAUNCHER, join(bin, "bun-userns-bwrap"));
        }
        writeFileSync(join(work, "args"), "--setenv\0A\0B\0");
        for (const opts of [
          "",
          "--block-fd 9",
          "--sync-fd 9",
          "--unshare-pid --as-pid-1 --sync-fd 9",
          "--info-fd 9",
          "--json-status-fd 9",
          `--args 7`,
          "--file 7 /tmp/f",
          "--bind-data 7 /tmp/f",
          "--ro-bind-fd 7 /mnt",
        ]) {
          // fd 7: the data, the --args file or a directory to bind; fd 9: readable for --block-fd, else /dev/null.
          const seven = opts.includes("args") ? join(work, "args") : opts.includes("bind-fd") ? work : data;
          const fds = `7<${seven} ${opts.includes("block-fd") ? `9<${data}` : "9>/dev/null"}`;
          const line = (b: string) => `${b} --bind / / --tmpfs /tmp ${opts} sh -c '${LIST}'`;
          const ours = sh(line(join(bin, "bun-userns-bwrap")), {}, fds);
          const theirs = sh(line(BWRAP as string), {}, fds);
          expect({ opts, ...ours }).toEqual({ opts, ...theirs });
        }
      },
    );

    test.skipIf(!BWRAP || !UNSHARE || rootIsInitramfs)(
      `bun-userns-bwrap: --userns's and --pidns's fds stay the command's, as with bwrap${BWRAP && UNSHARE ? PIVOT : " (needs bwrap and unshare)"}`,
      async () => {
        const bin = join(work, "bin-ns");
        Bun.spawnSync(["mkdir", "-p", bin]);
        symlinkSync(LAUNCHER, join(bin, "bun-userns-bwrap"));
        // A process in a user namespace of its own (and a pid namespace below it), whose namespace files we open.
        const holder = Bun.spawn(["unshare", "-U", "-r", "-p", "--fork", "sleep", "60"], {
          stdio: ["ignore", "ignore", "ignore"],
        });
        try {
          let pid = 0;
          for (let i = 0; i < 200 && pid === 0; i++) {
            await Bun.sleep(10);
            const kids = readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, "utf8").trim();
            const child = Number(kids.split(" ")[0] || 0);
            // The fork has exec'd sleep once its comm says so.
            if (child && readFileSync(`/proc/${child}/comm`, "utf8").trim() === "sleep") pid = child;
          }
          expect(pid).toBeGreaterThan(0);
          for (const [opts, fds] of [
            ["--userns 7", `7</proc/${pid}/ns/user 9>/dev/null`],
            ["--pidns 7", `7</proc/${pid}/ns/pid 9>/dev/null`],
          ] as const) {
            const line = (b: string) => `${b} --bind / / --tmpfs /tmp ${opts} sh -c '${LIST}'`;
            const ours = sh(line(join(bin, "bun-userns-bwrap")), {}, fds);
            const theirs = sh(line(BWRAP as string), {}, fds);
            expect({ opts, ...ours }).toEqual({ opts, ...theirs });
            expect({ opts, out: ours.out }).toEqual({ opts, out: "7 9\n" });
          }
        } finally {
          holder.kill("SIGKILL");
          await holder.exited;
        }
      },
    );
  },
);
