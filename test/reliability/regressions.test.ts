// Regressions of the helper cycle under hostile conditions: each case failed on the code before its fix.
// The seccomp filters, the C driver and the mismatching .so builds are built
// here with gcc into a temporary directory; without gcc those cases skip.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as helperCodec from "../../src/core/helper-codec.ts";
import * as api from "../../src/index.ts";
import {
  type CallbackContext,
  startHelper,
  unshareAfterEnterUserns,
  unshareAfterEnterUsernsSync,
} from "../../src/index.ts";
import { rejection } from "../support/errors.ts";
import { childPids, helperChildren, isRoot } from "../support/proc.ts";

const ROOT = join(import.meta.dir, "..", "..");
const fixture = (name: string) => join(ROOT, "test", "fixtures", name);
const PROBE = fixture("regression-probe.ts");
const CLI = join(ROOT, "src", "cli.ts");
const gcc = Bun.which("gcc");
const unshare = Bun.which("unshare");
const strace = Bun.which("strace");

const tmp = mkdtempSync(join(tmpdir(), "bun-userns-regressions-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The own-id map any caller may write: 0 → this process's euid / egid. */
const OWN_UID = `0:${process.geteuid?.() ?? 0}:1`;
const OWN_GID = `0:${process.getegid?.() ?? 0}:1`;

/** Syscall numbers (x86_64's, or the arm64 generic table's) and errnos the filters use. */
const SYS =
  process.arch === "arm64"
    ? ({ clone: 220, ptrace: 117, capset: 91, prctl: 167, close_range: 436 } as const)
    : ({ clone: 56, ptrace: 101, capset: 126, prctl: 157, close_range: 436 } as const);
const PR_GET_PDEATHSIG = 2;
const CLONE_NEWUSER = 0x10000000;
const EPERM = 1;
const ENOSYS = 38;
/** ENOTRECOVERABLE: an errno nothing here produces by itself, so seeing it means "got as far as clone". */
const MARK = 131;
/** Helper clones (CLONE_NEWUSER set) fail with MARK; Bun's own threads are untouched. */
const DENY_USERNS_CLONE = [`${SYS.clone}:${CLONE_NEWUSER}/${CLONE_NEWUSER}`, String(MARK)];

async function run(cmd: string[], env: Record<string, string | undefined> = {}) {
  const p = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code, pid: p.pid };
}

/** The probe's JSON line (the last line of its stdout). */
function result(r: { out: string; err: string }) {
  const line = r.out.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`probe printed no JSON: ${JSON.stringify(r.out)} stderr ${JSON.stringify(r.err)}`);
  }
}

const built = new Map<string, string>();
/** gcc SRC into the temporary directory, once; the path of the result. */
function build(name: string, src: string, flags: string[] = []): string {
  const cached = built.get(name);
  if (cached) return cached;
  const out = join(tmp, name);
  const r = Bun.spawnSync([gcc as string, "-O2", "-Wall", "-Werror", ...flags, "-o", out, src]);
  if (r.exitCode !== 0) throw new Error(`gcc ${src} failed: ${r.stderr.toString()}`);
  built.set(name, out);
  return out;
}

/** seccomp-deny RULES -- argv: run argv with those syscalls failing. */
function denied(rules: string[], argv: string[]): string[] {
  return [build("seccomp-deny", fixture("seccomp-deny.c")), ...rules, "--", ...argv];
}

const bun = (...args: string[]) => [process.execPath, ...args];

describe.skipIf(!isRoot || !unshare)("a failed start arms no timer (needs root and util-linux unshare)", () => {
  test("three start failures with { timeout: 4000 } leave nothing armed; the process exits on its own", async () => {
    // Root of a fresh user namespace in which host uid 1000 is not mapped:
    // the uid_map write is refused, after validation, in the kernel.
    const r = await run([unshare as string, "-U", "-r", ...bun(PROBE, "timer", "0:1000:1")]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    const out = JSON.parse(lines[0] as string);
    expect(out.errors).toHaveLength(3);
    for (const e of out.errors) expect(e).toMatchObject({ name: "UsernsError", step: "uid_map", code: "EPERM" });
    expect(out.pending).toBe(0); // old code: 3 timers still armed
    expect(out.armed).toBe(0); // armed only once a helper exists
    expect(out.children).toBe(0);
    // The unref'd sentinel fires only if something (a leaked timeout) keeps the loop alive.
    expect(lines).toHaveLength(1);
  });
});

describe("no unvalidated way to create a helper", () => {
  test("the package exports no Helper value (only the type)", () => {
    expect("Helper" in api).toBe(false);
    expect(Object.keys(api)).not.toContain("Helper");
  });

  test.skipIf(!isRoot)("a helper's constructor cannot be called from outside (needs root)", () => {
    const before = helperChildren().length;
    const h = startHelper(OWN_UID, OWN_GID, 0);
    try {
      const Ctor = h.constructor as unknown as new (...args: unknown[]) => unknown;
      expect(() => new Ctor(Symbol("forged"), 2147483647, -1, undefined)).toThrow(TypeError);
      expect(() => new Ctor(2147483647, -1, undefined)).toThrow(TypeError);
      expect((Ctor as unknown as Record<string, unknown>).spawn).toBeUndefined();
    } finally {
      h.release();
    }
    expect(helperChildren().length).toBe(before);
  });

  test("helperCodec.spawn refuses a map text longer than its buffer before any clone", () => {
    const before = childPids().length;
    const spec = {
      flags: 0,
      ownerUid: -1,
      setgroups: "deny" as const,
      uidText: "0 0 1\n",
      gidText: "0 0 1\n",
      park: "seal" as const,
    };
    const big = helperCodec.spawn({ ...spec, uidText: "0 0 1\n".repeat(1000) });
    // step "none": refused before clone (a clone that failed reports "clone", a map write "uid_map").
    expect(big).toEqual({ ok: false, errno: 22, step: "none" });
    expect(helperCodec.spawn({ ...spec, gidText: "0 0 1\n".repeat(1000) })).toEqual({
      ok: false,
      errno: 22,
      step: "none",
    });
    expect(childPids().length).toBe(before);
  });

  describe.skipIf(!gcc)("with clone(CLONE_NEWUSER) denied by seccomp, so any clone shows (needs gcc)", () => {
    test("helperCodec.spawn with 6000-byte uid or gid text, or 4096 bytes, never reaches clone", async () => {
      const r = await run(denied(DENY_USERNS_CLONE, bun(PROBE, "bounds")));
      expect(r.err).toBe("");
      const out = result(r);
      // The control proves the filter catches the helper's clone.
      expect(out.control).toEqual({ ok: false, errno: MARK, step: "clone" });
      expect(out.bigUid).toEqual({ ok: false, errno: 22, step: "none" });
      expect(out.bigGid).toEqual({ ok: false, errno: 22, step: "none" });
      expect(out.atLimit).toEqual({ ok: false, errno: 22, step: "none" });
      expect(out.children).toBe(0);
    });

    test("the C's own bound: bun_userns_clone with uid_len 5000 returns -EINVAL and clones nothing", async () => {
      const driver = build("clone-bounds", fixture("clone-bounds.c"));
      const r = await run(denied(DENY_USERNS_CLONE, [driver]));
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const out = result(r);
      expect(out.control).toMatchObject({ rc: -MARK, err: MARK });
      // An empty text (0 bytes) is a map left unwritten ("none"): it reaches clone like the control.
      expect(out.uid0).toMatchObject({ rc: -MARK, err: MARK });
      for (const name of ["uid5000", "gid5000", "uid4096", "uidNegative"]) {
        expect({ name, ...out[name] }).toMatchObject({ name, rc: -22, err: 22 });
      }
    });
  });
});

/** The pid an fd's /proc/self/fdinfo names (pidfds only). */
function fdinfoPid(fd: number): number {
  return Number(/^Pid:\s*(-?\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1]);
}

describe.skipIf(!isRoot)("the callback is told when the call gives up on it (needs root)", () => {
  test("abort during an async callback: ctx.signal aborts with the reason; ctx.pidfd is the helper's pidfd", async () => {
    const ac = new AbortController();
    const reason = new Error("caller gave up");
    const seen: {
      pid?: number;
      ctx?: CallbackContext;
      link?: string;
      fdPid?: number;
      isChild?: boolean;
      abortedAtStart?: boolean;
      events: unknown[];
    } = { events: [] };
    let finish = () => {};
    const stillRunning = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const call = unshareAfterEnterUserns(
      OWN_UID,
      OWN_GID,
      0,
      async (pid, ctx) => {
        seen.pid = pid;
        seen.ctx = ctx;
        seen.link = readlinkSync(`/proc/self/fd/${ctx.pidfd}`);
        seen.fdPid = fdinfoPid(ctx.pidfd);
        seen.isChild = helperChildren().includes(pid);
        seen.abortedAtStart = ctx.signal.aborted;
        ctx.signal.addEventListener("abort", () => seen.events.push(ctx.signal.reason));
        setImmediate(() => ac.abort(reason));
        await stillRunning; // the callback outlives the abort
      },
      { signal: ac.signal },
    );
    const err = await rejection(call);
    expect(err).toBe(reason);
    expect(seen.link).toBe("anon_inode:[pidfd]");
    expect(seen.fdPid).toBe(seen.pid as number);
    expect(seen.isChild).toBe(true);
    expect(seen.abortedAtStart).toBe(false);
    expect(seen.ctx?.signal.aborted).toBe(true);
    expect(seen.ctx?.signal.reason).toBe(reason);
    expect(seen.events).toEqual([reason]);
    // Killed and reaped right after: no longer our child.
    expect(helperChildren()).not.toContain(seen.pid as number);
    finish();
  });

  test("timeout during an async callback: ctx.signal aborts with the same TimeoutError the call rejects with", async () => {
    let ctxSeen: CallbackContext | undefined;
    const call = unshareAfterEnterUserns(
      OWN_UID,
      OWN_GID,
      0,
      async (_pid, ctx) => {
        ctxSeen = ctx;
        // Runs until told to stop.
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      },
      { timeout: 20 },
    );
    const err = await rejection(call);
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe("TimeoutError");
    expect(ctxSeen?.signal.aborted).toBe(true);
    expect(ctxSeen?.signal.reason).toBe(err);
  });

  test("the sync callback gets the same context: a live pidfd on the helper, a signal not aborted", () => {
    let link = "";
    let fdPid = 0;
    let pidSeen = 0;
    let aborted: boolean | undefined;
    unshareAfterEnterUsernsSync(OWN_UID, OWN_GID, 0, (pid, ctx) => {
      pidSeen = pid;
      link = readlinkSync(`/proc/self/fd/${ctx.pidfd}`);
      fdPid = fdinfoPid(ctx.pidfd);
      aborted = ctx.signal.aborted;
    });
    expect(link).toBe("anon_inode:[pidfd]");
    expect(fdPid).toBe(pidSeen);
    expect(aborted).toBe(false);
  });
});

/** A sync call's start failure in a probe process (as root, default options). */
async function startFailure(cmd: string[]) {
  const r = await run(cmd);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  const out = result(r);
  expect(out.children).toBe(0);
  return { error: out.error, pid: r.pid };
}

describe.skipIf(!isRoot)("each failing step reports its own syscall and a hint that fits (needs root)", () => {
  test.skipIf(!strace)(
    "under strace -f the ptrace step's hint names the tracer's TracerPid, not Yama (needs strace: apt-get install strace)",
    async () => {
      const { error, pid } = await startFailure([
        strace as string,
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        "trace=none",
        ...bun(PROBE, "start", OWN_UID),
      ]);
      expect(error).toMatchObject({
        message: "failed to start noop process for unshare: ptrace: operation not permitted",
        code: "EPERM",
        step: "ptrace",
        syscall: "ptrace",
      });
      expect(error.hint).toContain(`TracerPid ${pid}`); // strace itself is the tracer
      expect(error.hint).not.toMatch(/yama/i);
    },
    30000,
  );

  describe.skipIf(!gcc)("under seccomp filters (needs gcc)", () => {
    test("ptrace denied (EPERM) by seccomp: the hint names seccomp, not Yama", async () => {
      const { error } = await startFailure(denied([String(SYS.ptrace), String(EPERM)], bun(PROBE, "start", OWN_UID)));
      expect(error).toMatchObject({ code: "EPERM", step: "ptrace", syscall: "ptrace" });
      expect(error.hint).toContain("seccomp");
      expect(error.hint).not.toMatch(/yama/i);
    });

    test('capset denied, as root with the default owner mapping: step "capset", syscall "capset"', async () => {
      const { error } = await startFailure(
        denied([String(SYS.capset), String(EPERM)], bun(PROBE, "start", "0:1000:1")),
      );
      expect(error).toMatchObject({
        message: "failed to start noop process for unshare: capset: operation not permitted",
        code: "EPERM",
        step: "capset",
        syscall: "capset",
      });
      expect(error.hint).toContain("seccomp");
    });

    test('prctl(PR_GET_PDEATHSIG) denied: step "prctl", syscall "prctl"', async () => {
      const { error } = await startFailure(
        denied([`${SYS.prctl}:${PR_GET_PDEATHSIG}`, String(EPERM)], bun(PROBE, "start", "0:1000:1")),
      );
      expect(error).toMatchObject({
        message: "failed to start noop process for unshare: prctl: operation not permitted",
        code: "EPERM",
        step: "prctl",
        syscall: "prctl",
      });
    });
  });

  test.skipIf(!unshare)(
    "ENOSPC at user.max_user_namespaces = 1: the hint says user namespaces are freed asynchronously (needs util-linux unshare)",
    async () => {
      // The limit is set in a private user namespace (each has its own
      // user.max_user_namespaces, checked up the chain): the host's sysctl,
      // which other processes rely on, is never touched.
      const { error } = await startFailure([
        unshare as string,
        "-U",
        "-r",
        "sh",
        "-c",
        'echo 1 > /proc/sys/user/max_user_namespaces && exec "$@"',
        "sh",
        ...bun(PROBE, "enospc", "0:0:1"),
      ]);
      expect(error).toMatchObject({ code: "ENOSPC", step: "clone", syscall: "clone" });
      expect(error.hint).toContain("user.max_user_namespaces (1)");
      expect(error.hint).toContain("asynchronously");
      expect(error.hint).not.toContain("leaked");
    },
  );
});

describe.skipIf(!isRoot || !gcc)("close_range is probed up front (needs root and gcc)", () => {
  const noCloseRange = [String(SYS.close_range), String(ENOSYS)];

  test("close_range ENOSYS: all four entry points fail before spawning, naming close_range", async () => {
    const r = await run(denied(noCloseRange, bun(PROBE, "all", OWN_UID)));
    expect(r.err).toBe("");
    const out = result(r);
    expect(out.errors).toHaveLength(4);
    for (const e of out.errors) {
      expect(e).toMatchObject({ name: "UsernsError", code: "ENOSYS", step: "close_range", syscall: "close_range" });
      expect(e.message).toContain("close_range");
    }
    expect(out.spawnAttempts).toBe(0); // old code: 4, each failing late in the helper
    expect(out.children).toBe(0);
  });

  test("doctor --json reports the pidfd check failing, naming close_range", async () => {
    const r = await run(denied(noCloseRange, bun(CLI, "doctor", "--json")));
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    const pidfd = doc.checks.find((c: { name: string }) => c.name === "pidfd");
    expect(pidfd).toMatchObject({ status: "fail", required: true });
    expect(pidfd.detail).toContain("close_range");
    expect(doc.ok).toBe(false);
  });
});

describe.skipIf(!gcc)("BUN_USERNS_LIB is checked against this package's ABI at load (needs gcc)", () => {
  // The first native layer bound op 0 to spawn: the ABI question must not run it. Its two
  // source files are kept in test/fixtures/first-release (so a shallow clone runs this too).
  const FIRST = join(ROOT, "test", "fixtures", "first-release");

  test.skipIf(!strace || process.arch !== "x64")(
    "a .so of the first release is refused at load without running anything (needs strace, and x86_64: the first release built only there)",
    async () => {
      const so = build("first-release.so", join(FIRST, "userns.c"), SO_FLAGS);
      const r = await run([strace as string, "-f", "-e", "trace=clone,clone3", ...bun(PROBE, "load")], {
        BUN_USERNS_LIB: so,
      });
      const e = result(r);
      expect(e).toMatchObject({ name: "UsernsError", step: "native" });
      expect(e.message).toContain(`${so} does not match`);
      expect(r.err).not.toContain("CLONE_NEWUSER");
    },
    60000,
  );

  const SO_FLAGS = ["-nostdlib", "-ffreestanding", "-fno-stack-protector", "-fPIC", "-shared"];

  /** A copy of native/ with abi.h edited, built as a .so; the edit must change something. */
  function library(name: string, edit: (abiH: string) => string): string {
    const dir = join(tmp, name);
    rmSync(dir, { recursive: true, force: true });
    Bun.spawnSync(["cp", "-r", join(ROOT, "native"), dir]);
    expect(readdirSync(dir)).toContain("userns.c");
    const abiH = readFileSync(join(dir, "abi.h"), "utf8");
    const edited = edit(abiH);
    if (name !== "same") expect(edited).not.toBe(abiH);
    writeFileSync(join(dir, "abi.h"), edited);
    return build(`${name}.so`, join(dir, "userns.c"), SO_FLAGS);
  }

  const load = async (so: string) => result(await run(bun(PROBE, "load"), { BUN_USERNS_LIB: so }));

  test("an unchanged copy loads; BUN_USERNS_ABI changed to 1, or a STEPS row renamed, fails at load", async () => {
    expect(await load(library("same", (s) => s))).toEqual({ ok: true });
    const version = Number(
      /^#define BUN_USERNS_ABI (\d+)$/m.exec(readFileSync(join(ROOT, "native", "abi.h"), "utf8"))?.[1],
    );
    const abi1 = library("abi1", (s) =>
      s.replace(/^#define BUN_USERNS_ABI \d+$/m, `#define BUN_USERNS_ABI ${version === 1 ? 99 : 1}`),
    );
    const steps = library("steps", (s) => s.replace('X(CAPSET, "capset"', 'X(CAPSET, "capzet"'));
    for (const so of [abi1, steps]) {
      const e = await load(so);
      expect(e).toMatchObject({ name: "UsernsError", step: "native" });
      expect(e.message).toContain(`${so} does not match`);
    }
  }, 60000);
});
