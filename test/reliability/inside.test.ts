// Processes inside a helper's namespaces, whatever capabilities they hold
// there, reach nothing of the caller's memory: neither through the parked
// helper nor through an entering child. Each reader runs in the helper's
// namespaces (nsenter, from another process, so the caller's own calls do not
// seal anything first) and tries process_vm_readv/writev, which need no /proc
// file, at the address of a secret in the caller's heap.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot, othersTmp } from "../support/proc.ts";

const FIXTURES = join(import.meta.dir, "..", "fixtures");
const tools = ["nsenter", "setpriv", "useradd", "userdel", "usermod", "newuidmap"].filter((t) => !Bun.which(t));
const skip = !isRoot ? " (needs root)" : tools.length ? ` (needs ${tools.join(", ")})` : "";
const env = { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" };
/** TMPDIR of the readers and racers, which run as uids inside the namespaces: removed after this file. */
const insideTmp = othersTmp("bun-userns-inside-readers-");
afterAll(() => rmSync(insideTmp, { recursive: true, force: true }));

interface Victim {
  pid: number;
  addr: number;
  hex: string;
  finish(): Promise<{ intact: boolean }>;
}

/** Start memory-victim.ts (as ASUSER's ids, if given) and read its first line. */
async function victim(args: string[], asUser?: { uid: number; gid: number; tmp: string }): Promise<Victim> {
  const cmd = [process.execPath, join(FIXTURES, "memory-victim.ts"), ...args];
  const p = Bun.spawn(
    asUser ? ["setpriv", `--reuid=${asUser.uid}`, `--regid=${asUser.gid}`, "--clear-groups", ...cmd] : cmd,
    {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: asUser ? { ...env, HOME: asUser.tmp, TMPDIR: asUser.tmp } : env,
    },
  );
  const reader = p.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const line = async (): Promise<string> => {
    for (;;) {
      const nl = text.indexOf("\n");
      if (nl >= 0) {
        const l = text.slice(0, nl);
        text = text.slice(nl + 1);
        return l;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error(`victim ended: ${await new Response(p.stderr).text()}`);
      text += decoder.decode(value);
    }
  };
  const first = JSON.parse(await line());
  return {
    ...first,
    async finish() {
      p.stdin.write("done\n");
      p.stdin.end();
      const last = JSON.parse(await line());
      expect(await p.exited).toBe(0);
      return last;
    },
  };
}

/** memory-reader.ts inside the helper's user and net namespaces, after ASID (setpriv arguments). */
async function readFromInside(v: Victim, asId: string[] = []) {
  const p = Bun.spawn(
    [
      "nsenter",
      "-t",
      String(v.pid),
      "-U",
      "-n",
      "--",
      ...asId,
      process.execPath,
      join(FIXTURES, "memory-reader.ts"),
      String(v.pid),
      String(v.addr),
      v.hex,
    ],
    { stdout: "pipe", stderr: "pipe", env: { ...env, TMPDIR: insideTmp } },
  );
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`reader: ${code} ${err}`);
  return JSON.parse(out.trim()) as { read: string; match: boolean; write: string };
}

/** CapEff of a process, from /proc. */
async function capEff(pidArgs: string[]): Promise<bigint> {
  const p = Bun.spawn([...pidArgs, "sh", "-c", "grep CapEff /proc/self/status"], { stdout: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return BigInt(`0x${out.split(/\s+/)[1]}`);
}

const CAP_SYS_PTRACE = 1n << 19n;

describe.skipIf(skip !== "")(`processes inside a root caller's helper namespaces${skip}`, () => {
  // Owner "caller" (root owns the namespace), or a first mapping whose host id
  // is the caller's own: the paths that left root's mm dumpable.
  for (const [name, maps, owner] of [
    ["owner caller, 0:47001:1000", ["0:47001:1000", "0:47001:1000"], "caller"],
    ["first mapping host 0, 0:0:1,1:47001:1000", ["0:0:1,1:47001:1000", "0:0:1,1:47001:1000"], "mapping"],
  ] as const) {
    test(`${name}: its root (CAP_SYS_PTRACE there) neither reads nor writes the caller's memory`, async () => {
      const v = await victim([...maps, owner]);
      try {
        // The reader really holds CAP_SYS_PTRACE in the helper's user namespace.
        expect((await capEff(["nsenter", "-t", String(v.pid), "-U", "--"])) & CAP_SYS_PTRACE).toBe(CAP_SYS_PTRACE);
        const r = await readFromInside(v);
        expect(r).toEqual({ read: "EPERM", match: false, write: "EPERM" });
      } finally {
        expect(await v.finish()).toEqual({ intact: true });
      }
    });
  }
});

describe.skipIf(skip !== "")(`processes inside a rootless caller's helper namespaces${skip}`, () => {
  const user = `bununs-mem${process.pid}`;
  let uid = 0;
  let gid = 0;
  let tmp = "";
  const base = 600000 + (process.pid % 1000) * 65536;
  beforeAll(() => {
    const made = Bun.spawnSync(["useradd", "-M", "-s", "/bin/sh", user], { stderr: "pipe" });
    if (made.exitCode !== 0) throw new Error(`useradd: ${made.stderr}`);
    const range = `${base}-${base + 65535}`;
    const sub = Bun.spawnSync(["usermod", "--add-subuids", range, "--add-subgids", range, user], { stderr: "pipe" });
    if (sub.exitCode !== 0) throw new Error(`usermod: ${sub.stderr}`);
    const ids = Bun.spawnSync(["id", "-u", user]).stdout.toString().trim();
    uid = Number(ids);
    gid = Number(Bun.spawnSync(["id", "-g", user]).stdout.toString().trim());
    tmp = mkdtempSync(join(tmpdir(), "bun-userns-inside-"));
    chmodSync(tmp, 0o700);
    Bun.spawnSync(["chown", `${uid}:${gid}`, tmp]);
  });
  afterAll(() => {
    Bun.spawnSync(["userdel", user]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("subordinate ranges (newuidmap): a subordinate uid with CAP_SYS_PTRACE there reaches nothing", async () => {
    const v = await victim(["auto", "auto", "mapping"], { uid, gid, tmp });
    try {
      const asSub = [
        "setpriv",
        "--reuid=1000",
        "--regid=1000",
        "--clear-groups",
        "--inh-caps=+sys_ptrace",
        "--ambient-caps=+sys_ptrace",
      ];
      expect((await capEff(["nsenter", "-t", String(v.pid), "-U", "--", ...asSub])) & CAP_SYS_PTRACE).toBe(
        CAP_SYS_PTRACE,
      );
      const r = await readFromInside(v, asSub);
      expect(r.match).toBe(false);
      expect(r.read).not.toBe("ok");
      expect(r.write).not.toBe("ok");
    } finally {
      expect(await v.finish()).toEqual({ intact: true });
    }
  });

  test("the user's own id: the namespace's root reaches nothing", async () => {
    const v = await victim([`0:${uid}:1`, `0:${gid}:1`, "mapping"], { uid, gid, tmp });
    try {
      const r = await readFromInside(v);
      expect(r.match).toBe(false);
      expect(r.read).not.toBe("ok");
      expect(r.write).not.toBe("ok");
    } finally {
      expect(await v.finish()).toEqual({ intact: true });
    }
  });

  // Plain, and with every step a command may take after entering: namespaces of its own, a pid
  // namespace (a fork inside the copy), /proc, a root, kept capabilities, ids of the range.
  for (const [what, more] of [
    ["commands entered as the user's own ids", []],
    [
      "commands that unshare, fork into a new pid namespace, mount /proc, chroot and keep capabilities as a subordinate id",
      [
        JSON.stringify({
          unshare: ["uts", "ipc", "mnt", "pid"],
          mountProc: true,
          root: "/",
          cwd: "/",
          propagation: "private",
          keepCaps: true,
          uid: 1000,
          gid: 1000,
        }),
      ],
    ],
  ] as const)
    test(`${what}: a subordinate uid racing the entering children reaches nothing`, async () => {
      // The namespace's root is the user's own uid, its 1.. the subordinate range. Its uid 1000 holds
      // CAP_SYS_PTRACE and CAP_KILL there: it stops each entering child and reads the secret's address.
      const p = Bun.spawn(
        [
          "setpriv",
          `--reuid=${uid}`,
          `--regid=${gid}`,
          "--clear-groups",
          process.execPath,
          join(FIXTURES, "entering-victim.ts"),
          "auto",
          "auto",
          ...more,
        ],
        { stdin: "pipe", stdout: "pipe", stderr: "inherit", env: { ...env, HOME: tmp, TMPDIR: tmp } },
      );
      const lines = p.stdout.getReader();
      const decoder = new TextDecoder();
      let text = "";
      while (!text.includes("\n")) text += decoder.decode((await lines.read()).value);
      const v = JSON.parse(text.slice(0, text.indexOf("\n")));
      text = text.slice(text.indexOf("\n") + 1);
      const racer = Bun.spawn(
        [
          "nsenter",
          "-t",
          String(v.pid),
          "-U",
          "-n",
          "--",
          "setpriv",
          "--reuid=1000",
          "--regid=1000",
          "--clear-groups",
          "--inh-caps=+sys_ptrace,+kill",
          "--ambient-caps=+sys_ptrace,+kill",
          process.execPath,
          join(FIXTURES, "inside-racer.ts"),
          String(v.self),
          String(v.addr),
          v.hex,
          "1500",
          "20",
        ],
        { stdout: "pipe", stderr: "inherit", env: { ...env, TMPDIR: insideTmp } },
      );
      const raced = JSON.parse((await new Response(racer.stdout).text()).trim().split("\n").pop() as string);
      expect(await racer.exited).toBe(0);
      p.stdin.write("stop\n");
      p.stdin.end();
      for (;;) {
        const c = await lines.read();
        if (c.done) break;
        text += decoder.decode(c.value);
      }
      expect(await p.exited).toBe(0);
      const end = JSON.parse(text.trim().split("\n").pop() as string);
      expect(raced.tried).toBeGreaterThan(0);
      expect(raced.reached).toBe(0);
      expect(end.intact).toBe(true);
      expect(end.runs).toBeGreaterThan(0);
      // Stopped children were killed, not waited for: only that error.
      for (const c of end.codes) expect(c).toBe("stopped");
    }, 60000);
});
