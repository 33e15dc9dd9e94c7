/**
 * spawnInside's own namespaces and last steps (what `bun-userns exec` needs
 * to act as util-linux unshare): `unshare` without a user namespace, mount
 * propagation (also a helper's), root, a /proc elsewhere, time offsets, ids
 * in our own user namespace, kept capabilities, the parent-death signal.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CLONE_NEWNS,
  type Helper,
  type SpawnInsideOptions,
  spawnInside,
  startHelper,
  UsernsError,
} from "../src/index.ts";
import { cleanupBase, sh } from "./support/mounts.ts";
import { isRoot, nsLink, until } from "./support/proc.ts";

const NEEDS_ROOT = "(needs root)";

/** Run argv with these options in our own namespaces plus `o`; its stdout and exit status. */
async function run(
  o: SpawnInsideOptions,
  argv: string[],
  input?: () => void,
  target: Helper | number = process.pid,
): Promise<[string, number]> {
  const p = spawnInside(target, argv, { namespaces: [], stdio: [input ? "pipe" : "ignore", "pipe", "inherit"], ...o });
  const w = p.stdin?.getWriter();
  if (input) {
    await until(() => existsSync(`/proc/${p.pid}`));
    input();
  }
  await w?.write(new TextEncoder().encode("go\n"));
  await w?.close();
  return [await new Response(p.stdout).text(), await p.exited];
}

describe.skipIf(!isRoot)(`spawnInside unshare ${NEEDS_ROOT}`, () => {
  const base = isRoot ? mkdtempSync(join(tmpdir(), "spawn-unshare-")) : "";
  afterAll(() => {
    if (base) cleanupBase(base);
  });

  test("makes the namespaces asked for, owned by our user namespace (none of its own)", async () => {
    const [out, code] = await run({ unshare: ["mnt", "net", "uts", "ipc", "cgroup"] }, [
      "sh",
      "-c",
      "for n in user mnt net uts ipc cgroup pid; do readlink /proc/self/ns/$n; done",
    ]);
    expect(code).toBe(0);
    const [user, mnt, net, uts, ipc, cgroup, pid] = out.trim().split("\n");
    expect(user).toBe(nsLink("self", "user"));
    expect(pid).toBe(nsLink("self", "pid"));
    for (const [got, ns] of [
      [mnt, "mnt"],
      [net, "net"],
      [uts, "uts"],
      [ipc, "ipc"],
      [cgroup, "cgroup"],
    ] as const)
      expect(got).not.toBe(nsLink("self", ns));
  });

  test("as root in our user namespace, reads another uid's 0600 file (no user namespace in between)", async () => {
    const f = join(base, "secret");
    writeFileSync(f, "s3cret\n", { mode: 0o600 });
    sh(["chown", "12345:12345", f]);
    const [out, code] = await run({ unshare: ["mnt"] }, ["cat", f]);
    expect([out, code]).toEqual(["s3cret\n", 0]);
  });

  // A shared scratch mount: what is mounted under it after the command started reaches it only through
  // propagation.
  async function laterMountSeen(o: SpawnInsideOptions, helperProp?: "slave" | "private"): Promise<boolean> {
    const dir = mkdtempSync(join(base, "shared-"));
    expect(sh(["mount", "-t", "tmpfs", "scratch", dir]).ok).toBe(true);
    expect(sh(["mount", "--make-shared", dir]).ok).toBe(true);
    const sub = join(dir, "later");
    mkdirSync(sub);
    const argv = ["sh", "-c", `read x; grep -c ' ${sub} ' /proc/self/mountinfo`];
    const mountLater = () => expect(sh(["mount", "-t", "tmpfs", "later", sub]).ok).toBe(true);
    if (helperProp === undefined) {
      const [out] = await run(o, argv, mountLater);
      return out.trim() === "1";
    }
    using h = startHelper("0:0:65536", "0:0:65536", CLONE_NEWNS, { propagation: helperProp });
    const [out] = await run({ ...o, namespaces: ["user", "mnt"] }, argv, mountLater, h);
    return out.trim() === "1";
  }

  test("propagation: a later mount reaches slave and shared, never private (the default)", async () => {
    expect(await laterMountSeen({ unshare: ["mnt"], propagation: "slave" })).toBe(true);
    expect(await laterMountSeen({ unshare: ["mnt"], propagation: "shared" })).toBe(true);
    expect(await laterMountSeen({ unshare: ["mnt"], propagation: "unchanged" })).toBe(true);
    expect(await laterMountSeen({ unshare: ["mnt"], propagation: "private" })).toBe(false);
    expect(await laterMountSeen({ unshare: ["mnt"] })).toBe(false);
  });

  test("startHelper's propagation: a slave helper namespace still receives, a private one does not", async () => {
    expect(await laterMountSeen({}, "slave")).toBe(true);
    expect(await laterMountSeen({}, "private")).toBe(false);
  });

  test("root and cwd: chroot, then the directory inside it (the new root when none is given)", async () => {
    expect(await run({ root: "/usr", cwd: "/bin" }, ["/bin/sh", "-c", "pwd; ls -d /bin/sh"])).toEqual([
      "/bin\n/bin/sh\n",
      0,
    ]);
    expect(await run({ root: "/usr" }, ["/bin/sh", "-c", "pwd"])).toEqual(["/\n", 0]);
    await expect(run({ root: "/nonexistent-root" }, ["true"])).rejects.toMatchObject({
      step: "resolve_root",
      code: "ENOENT",
    });
  });

  test("mountProc as a path mounts the new pid namespace's /proc there, leaving /proc alone", async () => {
    const dir = mkdtempSync(join(base, "proc-"));
    // The command itself, no shell (which one execs its last command is the shell's choice).
    const [out, code] = await run({ unshare: ["pid", "mnt"], mountProc: dir }, [
      "cat",
      `${dir}/1/comm`,
      "/proc/1/comm",
    ]);
    expect(code).toBe(0);
    // Its pid 1 there is the command; /proc still shows our pid namespace's.
    expect(out).toBe(`cat\n${readFileSync("/proc/1/comm", "utf8")}`);
  });

  test("timeOffsets offset the clocks of the time namespace it makes", async () => {
    // Its own uptime (sh's read builtin), its child's (cat), its time and time_for_children: unshare(CLONE_NEWTIME)
    // moves only children, execve the caller too on newer kernels only (not the arm64 VM's 6.1).
    const [out, code] = await run({ unshare: ["time"], timeOffsets: { boottime: 86400 * 365 } }, [
      "sh",
      "-c",
      'read u _ < /proc/uptime; echo "$u"; cat /proc/uptime; readlink /proc/$$/ns/time; readlink /proc/$$/ns/time_for_children',
    ]);
    expect(code).toBe(0);
    const ours = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    const [own, child, ns, forChildren] = out
      .trim()
      .split("\n")
      .map((l) => l.split(" ")[0] as string);
    expect(forChildren).not.toBe(readlinkSync("/proc/self/ns/time"));
    expect(Number(child) - ours).toBeGreaterThan(86400 * 364);
    expect(Number(own) - ours > 86400 * 364).toBe(ns === forChildren);
    expect(() => spawnInside(process.pid, ["true"], { timeOffsets: { boottime: 1 } })).toThrow('add "time" to unshare');
  });

  test("uid and gid without a user namespace: taken in ours, supplementary groups dropped", async () => {
    expect(await run({ uid: 4242, gid: 4343 }, ["sh", "-c", "id -u; id -g; id -G"])).toEqual(["4242\n4343\n4343\n", 0]);
  });

  test("keepCaps: a non-root id of a user namespace keeps its capabilities across exec", async () => {
    // Our uid shows as 1000 there: kept ("keep"), not root, so exec drops what setns gave.
    using h = startHelper("1000:0:1", "1000:0:1", 0);
    const caps = async (keepCaps: boolean) => {
      const p = spawnInside(h, ["sh", "-c", "id -u; grep CapEff /proc/self/status"], {
        namespaces: ["user"],
        uid: "keep",
        gid: "keep",
        keepCaps,
        stdio: ["ignore", "pipe", "inherit"],
      });
      return (await new Response(p.stdout).text()).trim().split(/\s+/);
    };
    expect(await caps(false)).toEqual(["1000", "CapEff:", "0000000000000000"]);
    const kept = await caps(true);
    expect(kept[0]).toBe("1000");
    // CAP_SYS_ADMIN (21) among them: what setns into the namespace gave.
    expect((BigInt(`0x${kept[2]}`) >> 21n) & 1n).toBe(1n);
  });

  test("killSignal is the command's parent-death signal", async () => {
    const mark = join(base, "term-seen");
    const script = `
      import { spawnInside } from ${JSON.stringify(join(import.meta.dir, "../src/index.ts"))};
      const p = spawnInside(process.pid, ["sh", "-c", "trap 'echo TERM > ${mark}.w; mv ${mark}.w ${mark}; exit 0' TERM; echo up; while :; do sleep 0.05; done"], { namespaces: [], killSignal: "SIGTERM", stdio: ["ignore", "pipe", "inherit"] });
      const r = p.stdout.getReader(); await r.read(); process.exit(0);`;
    const r = Bun.spawnSync([process.execPath, "-e", script], { stdout: "inherit", stderr: "inherit" });
    expect(r.exitCode).toBe(0);
    await until(() => existsSync(mark));
    expect(readFileSync(mark, "utf8")).toBe("TERM\n");
    rmSync(mark);
  });
});

test("unshare, root, killSignal, keepCaps, timeOffsets: bad values are refused before anything starts", () => {
  const bad = (o: SpawnInsideOptions) => () => spawnInside(process.pid, ["true"], o);
  expect(bad({ unshare: ["user"] })).toThrow("cannot make a user namespace");
  expect(bad({ unshare: ["netz" as never] })).toThrow(UsernsError);
  expect(bad({ unshare: "net" as never })).toThrow(TypeError);
  expect(bad({ root: "" })).toThrow("root must not be empty");
  expect(bad({ killSignal: "SIGNOPE" as never })).toThrow("unknown signal");
  expect(bad({ killSignal: 0 })).toThrow("not 0");
  expect(bad({ keepCaps: "yes" as never })).toThrow(TypeError);
  expect(bad({ propagation: "slave" })).toThrow('propagation needs "mnt"');
  expect(bad({ mountProc: "/proc" })).toThrow('mountProc needs "mnt"');
});

test("signalCode tells death by a signal from an exit with the same shell status", async () => {
  const killed = spawnInside(process.pid, ["sh", "-c", "kill -TERM $$"], { namespaces: [] });
  expect(killed.signalCode).toBeNull();
  expect(await killed.exited).toBe(143);
  expect(killed.signalCode).toBe("SIGTERM");
  const exited = spawnInside(process.pid, ["sh", "-c", "exit 143"], { namespaces: [] });
  expect(await exited.exited).toBe(143);
  expect(exited.signalCode).toBeNull();
});

test.skipIf(!isRoot)(
  'a "none" map stays unwritten: ids inside are the overflow ids, as util-linux unshare -U (needs root)',
  async () => {
    using h = startHelper("none", "0:0:1", 0);
    const p = spawnInside(h, ["sh", "-c", "id -u; id -g; wc -c < /proc/self/uid_map; cat /proc/self/gid_map"], {
      namespaces: ["user"],
      uid: "keep",
      gid: "keep",
      stdio: ["ignore", "pipe", "inherit"],
    });
    const out = (await new Response(p.stdout).text()).trim().split(/\s+/);
    expect(await p.exited).toBe(0);
    const overflow = readFileSync("/proc/sys/kernel/overflowuid", "utf8").trim();
    expect(out).toEqual([overflow, "0", "0", "0", "0", "1"]);
  },
);
