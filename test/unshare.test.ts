import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWTIME,
  CLONE_NEWUSER,
  CLONE_NEWUTS,
  getUsernsFd,
  getUsernsFdSync,
  liveHelpers,
  supportsPidFD,
  UsernsError,
  unshareAfterEnterUserns,
  unshareAfterEnterUsernsSync,
} from "../src/index.ts";
import { rejection, thrown } from "./support/errors.ts";
import { exists, helperChildren, isRoot, leakableFds, nsLink, procState, procStatus } from "./support/proc.ts";

const root = describe.skipIf(!isRoot);
if (!isRoot) console.warn(`unshare.test.ts: helper tests skipped: needs root (uid ${process.getuid?.()})`);

afterEach(() => {
  // Every test leaves nothing behind.
  expect(liveHelpers()).toEqual([]);
  expect(helperChildren()).toEqual([]);
});

test("supportsPidFD probes the kernel (Linux >= 5.4 here)", () => {
  expect(supportsPidFD()).toBe(true);
});

root("containerd's scenarios", () => {
  test("should work: CLONE_NEWIPC, no callback: resolves, and (afterEach) leaves no helper", async () => {
    expect(await unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWIPC, null)).toBeUndefined();
  });

  test("new user, net and ipc namespaces differ from ours; pid namespace stays", async () => {
    let seen: Record<string, string> = {};
    await unshareAfterEnterUserns("0:1000:10", "0:1000:10", CLONE_NEWIPC | CLONE_NEWNET, async (pid) => {
      await Bun.sleep(1);
      seen = Object.fromEntries(["user", "net", "ipc", "pid", "uts", "mnt"].map((ns) => [ns, nsLink(pid, ns)]));
    });
    for (const ns of ["user", "net", "ipc"]) expect(seen[ns]).not.toBe(nsLink("self", ns));
    for (const ns of ["pid", "uts", "mnt"]) expect(seen[ns]).toBe(nsLink("self", ns));
  });

  test("uid_map and gid_map read back as written; setgroups is allow", async () => {
    let maps: string[] = [];
    await unshareAfterEnterUserns("0:1000:10", "0:1000:10", 0, (pid) => {
      maps = ["uid_map", "gid_map", "setgroups"].map((f) => readFileSync(`/proc/${pid}/${f}`, "utf8"));
    });
    expect(maps).toEqual(["         0       1000         10\n", "         0       1000         10\n", "allow\n"]);
  });

  test("the user namespace is owned by the first mapping's host uid", async () => {
    using ns = await getUsernsFd("0:1000:1", "0:1000:1");
    expect(ns.ownerUid()).toBe(1000);
    using other = await getUsernsFd("0:2000:5,5:1000:1", "0:1000:1");
    expect(other.ownerUid()).toBe(2000);
    using asCaller = await getUsernsFd("0:1000:1", "0:1000:1", { owner: "caller" });
    expect(asCaller.ownerUid()).toBe(0);
  });

  test("callback kills the helper: liveness error, helper reaped", async () => {
    let helper = 0;
    const e = (await rejection(
      unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWIPC, (pid) => {
        helper = pid;
        process.kill(pid, "SIGKILL");
      }),
    )) as UsernsError;
    expect(e).toBeInstanceOf(UsernsError);
    expect(e.message).toBe("failed to ensure child process is alive: no such process");
    expect(e.code).toBe("ESRCH");
    expect(e.errno).toBe(3);
    expect(e.step).toBe("liveness");
    expect(exists(helper)).toBe(false);
  });

  test("a kill that has not produced a zombie yet is still caught (100 tries)", () => {
    let caught = 0;
    for (let i = 0; i < 100; i++) {
      const e = thrown(() =>
        unshareAfterEnterUsernsSync("0:1000:1", "0:1000:1", 0, (pid) => {
          process.kill(pid, "SIGKILL");
        }),
      ) as UsernsError;
      if (e.step === "liveness") caught++;
    }
    expect(caught).toBe(100);
  });

  test("invalid flag (CLONE_IO) → invalid argument, nothing created", async () => {
    const e = (await rejection(unshareAfterEnterUserns("0:1000:1", "0:1000:1", 0x80000000, null))) as UsernsError;
    expect(e.message).toBe("failed to start noop process for unshare: unshare: invalid argument");
    expect(e.code).toBe("EINVAL");
    expect(e.syscall).toBe("unshare");
    expect(e.hint).toContain("CLONE_IO");
  });

  test("CLONE_NEWUSER in flags is refused before parsing", async () => {
    const e = (await rejection(
      unshareAfterEnterUserns("bad", "bad", CLONE_NEWUSER | CLONE_NEWIPC, null),
    )) as UsernsError;
    expect(e.message).toBe("unshare flags should not include user namespace");
    expect(e.step).toBe("flags");
  });

  test("callback error and rejection are rethrown unchanged, after the reap", async () => {
    const boom = new Error("boom");
    let pid = 0;
    expect(
      await rejection(
        unshareAfterEnterUserns("0:1000:1", "0:1000:1", 0, (p) => {
          pid = p;
          throw boom;
        }),
      ),
    ).toBe(boom);
    expect(exists(pid)).toBe(false);
    const reason = { not: "an error" };
    expect(
      await rejection(
        unshareAfterEnterUserns("0:1000:1", "0:1000:1", 0, async () => {
          await Bun.sleep(1);
          throw reason;
        }),
      ),
    ).toBe(reason);
    expect(
      thrown(() => unshareAfterEnterUsernsSync("0:1000:1", "0:1000:1", 0, () => Promise.reject(boom))),
    ).toBeInstanceOf(TypeError);
  });

  test("multiple mappings", async () => {
    let maps: string[] = [];
    await unshareAfterEnterUserns("0:1000:10,100:2000:5", [{ containerID: 0, hostID: 3000, size: 1 }], 0, (pid) => {
      maps = ["uid_map", "gid_map"].map((f) => readFileSync(`/proc/${pid}/${f}`, "utf8"));
    });
    expect(maps[0]).toBe("         0       1000         10\n       100       2000          5\n");
    expect(maps[1]).toBe("         0       3000          1\n");
  });

  test("every namespace flag at once", async () => {
    const all =
      CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP | CLONE_NEWTIME;
    let seen: Record<string, string> = {};
    let pidForChildren: unknown;
    await unshareAfterEnterUserns("0:1000:65536", "0:1000:65536", all, (pid) => {
      seen = Object.fromEntries(
        ["mnt", "uts", "ipc", "net", "cgroup", "time_for_children", "pid", "time"].map((ns) => [ns, nsLink(pid, ns)]),
      );
      pidForChildren = thrown(() => nsLink(pid, "pid_for_children"));
    });
    for (const ns of ["mnt", "uts", "ipc", "net", "cgroup", "time_for_children"]) {
      expect(seen[ns]).not.toBe(nsLink("self", ns));
    }
    // A new pid namespace has no process yet, so the kernel shows no link (ENOENT); ours has one.
    expect((pidForChildren as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect(nsLink("self", "pid_for_children")).toBe(nsLink("self", "pid"));
    // The helper itself stays in our pid and time namespaces (unshare semantics).
    expect(seen.pid).toBe(nsLink("self", "pid"));
    expect(seen.time).toBe(nsLink("self", "time"));
  });

  test("CLONE_NEWNS makes / private in the helper (no propagation to us)", async () => {
    let mountinfo = "";
    await unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWNS, (pid) => {
      mountinfo = readFileSync(`/proc/${pid}/mountinfo`, "utf8");
    });
    const rootLine = mountinfo.split("\n").find((l) => l.split(" ")[4] === "/") as string;
    expect(rootLine).toBeDefined();
    expect(rootLine).not.toMatch(/shared:\d+/);
  });
});

root("the helper", () => {
  test("is parked in a tracing stop, traced by us, with every signal blocked and no fds", async () => {
    let status: Record<string, string> = {};
    let fds: string[] = [];
    let state: string | undefined;
    await unshareAfterEnterUserns("0:1000:1", "0:1000:1", CLONE_NEWIPC, (pid) => {
      status = procStatus(pid);
      state = procState(pid);
      fds = require("node:fs").readdirSync(`/proc/${pid}/fd`);
    });
    expect(state).toBe("t");
    expect(status.TracerPid).toBe(String(process.pid));
    expect(status.PPid).toBe(String(process.pid));
    expect(status.Name).toMatch(/^bun-userns:[0-9A-Za-z_-]{4}$/);
    // All but SIGKILL/SIGSTOP (which cannot be blocked).
    expect(BigInt(`0x${status.SigBlk}`) | (1n << 8n) | (1n << 18n)).toBe(0xffffffffffffffffn);
    expect(fds).toEqual([]);
  });

  test("holds no descriptor of ours: a pipe we close reaches EOF while it is parked", async () => {
    const cat = Bun.spawn(["cat"], { stdin: "pipe", stdout: "pipe" });
    let exitedWhileParked = false;
    await unshareAfterEnterUserns("0:1000:1", "0:1000:1", 0, async () => {
      cat.stdin.end();
      // A copy of the write end held anywhere keeps cat waiting: bounded for a loaded host.
      const res = await Promise.race([cat.exited.then(() => true), Bun.sleep(20_000).then(() => false)]);
      exitedWhileParked = res;
    });
    expect(exitedWhileParked).toBe(true);
  });

  test("the caller's credentials, caps and PDEATHSIG are as before; the mm is sealed non-dumpable", async () => {
    const { dlopen, ptr } = await import("bun:ffi");
    const libc = dlopen("libc.so.6", { prctl: { args: ["i32", "u64", "u64", "u64", "u64"], returns: "i32" } });
    const prctl = libc.symbols.prctl;
    prctl(1, 15n, 0n, 0n, 0n); // PR_SET_PDEATHSIG(SIGTERM) on this thread
    const before = procStatus("self");
    const pick = (s: Record<string, string>) => [s.Uid, s.Gid, s.CapEff, s.CapPrm, s.CapInh, s.Groups, s.NoNewPrivs];
    await unshareAfterEnterUserns("0:1000:10", "0:1000:10", CLONE_NEWNS, null);
    unshareAfterEnterUsernsSync("0:1234:1", "0:1234:1", 0, null);
    const pd = new Int32Array(1);
    prctl(2, BigInt(ptr(pd)), 0n, 0n, 0n);
    expect(pd[0]).toBe(15);
    // PR_GET_DUMPABLE: a helper owned by uid 1000 shares our mm, so it stays sealed.
    expect(prctl(3, 0n, 0n, 0n, 0n)).toBe(0);
    expect(pick(procStatus("self"))).toEqual(pick(before));
    prctl(1, 0n, 0n, 0n, 0n);
    libc.close();
  });

  test("a loop of 200 calls leaves no fd, no helper and no zombie", async () => {
    const fdsBefore = leakableFds();
    for (let i = 0; i < 200; i++) {
      await unshareAfterEnterUserns("0:1000:10", "0:1000:10", CLONE_NEWIPC, (pid) => {
        readFileSync(`/proc/${pid}/uid_map`);
      });
    }
    expect(leakableFds()).toEqual(fdsBefore);
  });
});

root("options", () => {
  test("setgroups deny", async () => {
    let setgroups = "";
    await unshareAfterEnterUserns(
      "0:1000:1",
      "0:1000:1",
      0,
      (pid) => {
        setgroups = readFileSync(`/proc/${pid}/setgroups`, "utf8");
      },
      { setgroups: "deny" },
    );
    expect(setgroups).toBe("deny\n");
  });

  test("abort mid-callback kills and reaps the helper and rejects with the reason", async () => {
    const ac = new AbortController();
    const reason = new Error("stop now");
    let pid = 0;
    let callbackFinished = false;
    let release = () => {};
    const e = await rejection(
      unshareAfterEnterUserns(
        "0:1000:1",
        "0:1000:1",
        0,
        async (p) => {
          pid = p;
          setTimeout(() => ac.abort(reason), 10);
          // Held until the call has settled: the abort must not wait for it.
          await new Promise<void>((resolve) => {
            release = resolve;
          });
          callbackFinished = true;
        },
        { signal: ac.signal },
      ),
    );
    expect(e).toBe(reason);
    expect(callbackFinished).toBe(false);
    expect(exists(pid)).toBe(false);
    release();
  });

  test("an already-aborted signal creates nothing", async () => {
    const ac = new AbortController();
    ac.abort(new Error("early"));
    let called = false;
    const e = (await rejection(
      unshareAfterEnterUserns(
        "0:1000:1",
        "0:1000:1",
        0,
        () => {
          called = true;
        },
        { signal: ac.signal },
      ),
    )) as Error;
    expect(e.message).toBe("early");
    expect(called).toBe(false);
  });

  test("timeout aborts a slow callback with a TimeoutError", async () => {
    let pid = 0;
    const e = (await rejection(
      unshareAfterEnterUserns(
        "0:1000:1",
        "0:1000:1",
        0,
        async (p) => {
          pid = p;
          await Bun.sleep(2000);
        },
        { timeout: 20 },
      ),
    )) as DOMException;
    expect(e.name).toBe("TimeoutError");
    expect(exists(pid)).toBe(false);
  });
});

root("getUsernsFd", () => {
  test("a close-on-exec fd on the helper's user namespace, valid after the reap", async () => {
    let helperNs = "";
    const ns = await getUsernsFd("0:1000:65536", "0:1000:65536");
    try {
      const fdinfo = readFileSync(`/proc/self/fdinfo/${ns.fd}`, "utf8");
      const flags = Number.parseInt(/flags:\s*(\d+)/.exec(fdinfo)?.[1] ?? "0", 8);
      expect(flags & 0o2000000).toBe(0o2000000);
      helperNs = require("node:fs").readlinkSync(`/proc/self/fd/${ns.fd}`);
      expect(helperNs).toMatch(/^user:\[\d+\]$/);
      expect(helperNs).not.toBe(nsLink("self", "user"));
      expect(ns.ownerUid()).toBe(1000);
    } finally {
      ns.close();
    }
    expect(ns.closed).toBe(true);
    expect(ns.fd).toBe(-1);
    ns.close();
  });

  test("using disposes it; the sync variant works the same", () => {
    let fd = -1;
    {
      using ns = getUsernsFdSync("0:1000:1", "0:1000:1");
      fd = ns.fd;
      expect(fd).toBeGreaterThan(2);
      expect(require("node:fs").readlinkSync(`/proc/self/fd/${fd}`)).toMatch(/^user:/);
    }
    // Closed: the fd's /proc entry is gone.
    expect(() => require("node:fs").readlinkSync(`/proc/self/fd/${fd}`)).toThrow(
      expect.objectContaining({ code: "ENOENT" }),
    );
  });

  test("bad maps: clear error, no fd", async () => {
    const before = leakableFds();
    const e = (await rejection(getUsernsFd("0:1000:0", "0:1000:1"))) as UsernsError;
    expect(e.message).toBe("invalid mapping 0:1000:0, size must be at least 1");
    expect(e.map).toBe("uid");
    expect(leakableFds()).toEqual(before);
  });
});

root("abort edge", () => {
  test("a signal aborted during the callback's synchronous part still wins", async () => {
    const ac = new AbortController();
    const reason = new Error("aborted inside");
    let pid = 0;
    let release = () => {};
    // The callback is held until the call has settled: a call that waited for it would never settle.
    const e = await rejection(
      unshareAfterEnterUserns(
        "0:1000:1",
        "0:1000:1",
        0,
        async (p) => {
          pid = p;
          ac.abort(reason);
          await new Promise<void>((resolve) => {
            release = resolve;
          });
        },
        { signal: ac.signal },
      ),
    );
    expect(e).toBe(reason);
    expect(exists(pid)).toBe(false);
    release();
  });
});
