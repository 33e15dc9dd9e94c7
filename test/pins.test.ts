/** Namespaces as fds (openNamespace) and as files (pinNamespaces, unpinNamespace). */
import { afterAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWTIME,
  CLONE_NEWUTS,
  NamespaceFd,
  openNamespace,
  pinNamespaces,
  spawnInside,
  startHelper,
  UsernsError,
  unpinNamespace,
} from "../src/index.ts";
import { thrown } from "./support/errors.ts";
import { cleanupBase, mountinfo, mountsUnder, scratch, sh } from "./support/mounts.ts";
import { isRoot, leakableFds, nsLink, openFds, othersTmp } from "./support/proc.ts";

const MAP = "0:100000:65536";
const ALL = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP | CLONE_NEWTIME;
const nsenter = Bun.which("nsenter");
/** iproute2's ip, not busybox's applet (which has no netns). */
const ip = Bun.which("ip") && sh([Bun.which("ip") as string, "netns", "list"]).ok ? Bun.which("ip") : null;
const mountBin = Bun.which("mount");
const base = isRoot ? scratch("bun-userns-pins-") : "";
afterAll(() => {
  if (base) cleanupBase(base);
});
/** A file outside every pin directory: what a redirected pin would land on. */
const VICTIM = base ? join(base, "victim") : "";
if (base) writeFileSync(VICTIM, "victim\n");

/**
 * The mounts in this file's scratch directory (every pin and VICTIM are in it) and
 * a directory's listing: what "nothing else changed" compares. Mounts elsewhere
 * are other processes' (this host is shared).
 */
function snapshot(dir: string): string {
  return JSON.stringify([mountsUnder(base), readdirSync(dir).sort()]);
}

function fdFlags(fd: number): number {
  const m = /flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
  return Number.parseInt(m?.[1] ?? "0", 8);
}

describe("openNamespace", () => {
  test("our own namespaces: every kind, close-on-exec, the same inode as /proc/self/ns, closed once", () => {
    for (const kind of ["user", "mnt", "net", "ipc", "uts", "cgroup"] as const) {
      const ns = openNamespace(process.pid, kind);
      expect(ns).toBeInstanceOf(NamespaceFd);
      expect(ns.kind).toBe(kind);
      expect(ns.id).toBe(nsLink("self", kind));
      expect(fdFlags(ns.fd) & 0o2000000).toBe(0o2000000);
      const fd = ns.fd;
      ns.close();
      ns.close();
      expect(ns.closed).toBe(true);
      expect(ns.fd).toBe(-1);
      expect(openFds()).not.toContain(String(fd));
    }
    // pid and time name the namespace children get: for us the same as our own.
    using pid = openNamespace(process.pid, "pid");
    expect(pid.id).toBe(nsLink("self", "pid_for_children"));
  });

  test("a namespace file: checked with NS_GET_NSTYPE; another kind, a plain file or a FIFO is refused", () => {
    using any = openNamespace("/proc/self/ns/uts");
    expect(any.kind).toBe("uts");
    using net = openNamespace("/proc/self/ns/net", "network");
    expect(net.kind).toBe("net");
    const wrong = thrown(() => openNamespace("/proc/self/ns/net", "user")) as UsernsError;
    expect(wrong).toBeInstanceOf(UsernsError);
    expect(wrong.code).toBe("EINVAL");
    expect(wrong.message).toContain("is a net namespace, not user");
    const plain = thrown(() => openNamespace(import.meta.path)) as UsernsError;
    expect(plain.code).toBe("ENOTTY");
    expect(plain.message).toContain("not a namespace file");
    const dir = scratch("bun-userns-fifo-");
    try {
      const fifo = join(dir, "fifo");
      expect(sh(["mkfifo", fifo]).ok).toBe(true);
      // O_PATH first: opening a FIFO for reading would block this thread forever.
      expect((thrown(() => openNamespace(fifo)) as UsernsError).code).toBe("ENOTTY");
      expect((thrown(() => openNamespace(join(dir, "missing"))) as UsernsError).code).toBe("ENOENT");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("bad input: unknown kind, hostile targets; no fd is left", () => {
    const before = leakableFds();
    expect((thrown(() => openNamespace(process.pid, "netz")) as UsernsError).message).toContain(
      'unknown namespace "netz" in openNamespace',
    );
    // A value of the wrong JS type is a TypeError; a number or string that is not allowed, EINVAL.
    expect(thrown(() => openNamespace(process.pid))).toBeInstanceOf(TypeError);
    const hostileKind = { toString: () => "net", valueOf: () => "net" };
    expect(thrown(() => openNamespace(process.pid, hostileKind as never))).toBeInstanceOf(TypeError);
    for (const t of [{}, null, new Proxy({}, {})]) {
      expect(thrown(() => openNamespace(t as never, "net"))).toBeInstanceOf(TypeError);
    }
    for (const t of [0, -1, 1.5, 2 ** 31, Number.NaN, "", "a\0b"]) {
      expect((thrown(() => openNamespace(t as never, "net")) as UsernsError).code).toBe("EINVAL");
    }
    expect(leakableFds()).toEqual(before);
  });

  test("a pid that exited and was reaped is refused (ESRCH), not confused with a later process", async () => {
    const p = Bun.spawn(["true"]);
    await p.exited;
    const e = thrown(() => openNamespace(p.pid, "net")) as UsernsError;
    expect(e.code).toBe("ESRCH");
  });

  test("1,000 open/close cycles leave no fd; a dropped handle is closed by the leak net", async () => {
    // Namespace fds and pidfds by number and target: Bun's own threads open and close others meanwhile.
    const before = leakableFds();
    for (let i = 0; i < 1000; i++) openNamespace(process.pid, "net").close();
    expect(leakableFds()).toEqual(before);
    let dropped = -1;
    (() => {
      dropped = openNamespace(process.pid, "uts").fd;
    })();
    expect(readlinkSync(`/proc/self/fd/${dropped}`)).toBe(nsLink("self", "uts"));
    for (let i = 0; i < 50 && existsSync(`/proc/self/fd/${dropped}`); i++) {
      Bun.gc(true);
      await Bun.sleep(10);
    }
    const still = (() => {
      try {
        return readlinkSync(`/proc/self/fd/${dropped}`);
      } catch {
        return undefined;
      }
    })();
    expect(still === undefined || still !== nsLink("self", "uts")).toBe(true);
  });

  test.skipIf(!isRoot)(`a helper's namespaces (needs root)`, () => {
    using h = startHelper(MAP, MAP, CLONE_NEWNET | CLONE_NEWTIME | 0x20000000);
    using net = openNamespace(h, "net");
    expect(net.id).toBe(nsLink(h.pid, "net"));
    expect(net.id).not.toBe(nsLink("self", "net"));
    using time = openNamespace(h.pid, "time");
    expect(time.id).toBe(nsLink(h.pid, "time_for_children"));
    expect(time.id).not.toBe(nsLink("self", "time"));
    // The kernel hides a new pid namespace until its pid 1 exists.
    const pid = thrown(() => openNamespace(h, "pid")) as UsernsError;
    expect(pid.code).toBe("ENOENT");
    expect(pid.message).toContain("without a pid 1 yet");
  });
});

const pinsSkip = !isRoot
  ? " — skipped: needs root (bind mounts)"
  : !nsenter || !mountBin
    ? " — skipped: needs util-linux nsenter and mount"
    : "";
describe.skipIf(pinsSkip !== "")(`pinNamespaces${pinsSkip}`, () => {
  test("pins outlive the helper: util-linux nsenter and spawnInside see them; unpin removes mount and file only", async () => {
    const dir = join(base, "outlive");
    mkdirSync(dir);
    writeFileSync(join(dir, "unrelated"), "stays");
    const before = snapshot(dir);
    const h = startHelper(MAP, MAP, ALL);
    const want: Record<string, string> = {};
    for (const k of ["user", "mnt", "net", "ipc", "uts", "cgroup"]) want[k] = nsLink(h.pid, k);
    want.time = nsLink(h.pid, "time_for_children");
    const spec = Object.fromEntries(Object.keys(want).map((k) => [k, join(dir, k)]));
    const pins = pinNamespaces(h, spec);
    expect(pins.paths).toEqual(spec);
    h.release();
    for (const [k, id] of Object.entries(want)) {
      using fd = openNamespace(join(dir, k), k);
      expect(fd.id).toBe(id);
    }
    const r = sh([
      nsenter as string,
      `--net=${join(dir, "net")}`,
      `--uts=${join(dir, "uts")}`,
      "readlink",
      "/proc/self/ns/net",
    ]);
    expect(r).toEqual({ ok: true, out: want.net as string });
    // The user namespace pin keeps its maps: a client we did not write reads them.
    const u = sh([nsenter as string, `--user=${join(dir, "user")}`, "cat", "/proc/self/uid_map"]);
    expect(u.out.split(/\s+/)).toEqual(["0", "100000", "65536"]);
    const p = spawnInside(process.pid, ["readlink", "/proc/self/ns/net"], {
      namespaceFiles: { net: join(dir, "net") },
      stdio: ["ignore", "pipe", "inherit"],
    });
    expect((await new Response(p.stdout).text()).trim()).toBe(want.net as string);
    expect(await p.exited).toBe(0);
    pins.unpin();
    pins.unpin(); // idempotent
    expect(snapshot(dir)).toBe(before);
    expect(readFileSync(join(dir, "unrelated"), "utf8")).toBe("stays");
  });

  test.skipIf(!ip)(
    `a pin under /run/netns works with iproute2's ip netns exec${ip ? "" : " — skipped: iproute2's ip (with netns) not installed"}`,
    () => {
      mkdirSync("/run/netns", { recursive: true });
      const name = `bun-userns-test-${process.pid}`;
      const path = `/run/netns/${name}`;
      using h = startHelper(MAP, MAP, CLONE_NEWNET);
      const id = nsLink(h.pid, "net");
      {
        using pins = pinNamespaces(h, { net: path });
        h.release();
        expect(sh([ip as string, "netns", "list"]).out).toContain(name);
        expect(sh([ip as string, "netns", "exec", name, "readlink", "/proc/self/ns/net"])).toEqual({
          ok: true,
          out: id,
        });
        expect(pins.paths.net).toBe(path);
      } // using: unpinned here
      expect(existsSync(path)).toBe(false);
      expect(mountinfo()).not.toContain(` ${path} `);
    },
  );

  test("an existing empty file of the caller's is bound over and kept by both unpins; a made pin's file is removed", () => {
    const dir = join(base, "existing");
    mkdirSync(dir);
    const f = join(dir, "net");
    writeFileSync(f, "");
    using h = startHelper(MAP, MAP, CLONE_NEWNET);
    const pins = pinNamespaces(h, { net: f });
    using fd = openNamespace(f, "net");
    expect(fd.id).toBe(nsLink(h.pid, "net"));
    pins.unpin();
    expect(existsSync(f)).toBe(true);
    expect(() => openNamespace(f)).toThrow("not a namespace file");
    pinNamespaces(h, { net: f });
    expect(unpinNamespace(f)).toEqual({ removed: false }); // 0644: not a file a pin creates
    expect(existsSync(f)).toBe(true);
    const made = join(dir, "made");
    pinNamespaces(h, { net: made });
    expect(unpinNamespace(made)).toEqual({ removed: true });
    expect(existsSync(made)).toBe(false);
  });

  test("bad input: each a clear error, and nothing created", () => {
    const dir = join(base, "bad");
    mkdirSync(dir);
    writeFileSync(join(dir, "plain"), "x");
    mkdirSync(join(dir, "subdir"));
    symlinkSync(VICTIM, join(dir, "link"));
    using h = startHelper(MAP, MAP, CLONE_NEWNET | CLONE_NEWUTS);
    const held = pinNamespaces(h, { net: join(dir, "held") });
    const before = snapshot(dir);
    const cases: [unknown, string, string][] = [
      [{ netz: join(dir, "a") }, "EINVAL", 'unknown namespace "netz"'],
      [{ net: join(base, "no-such-dir", "a") }, "EINVAL", "does not exist"],
      [{ net: join(dir, "held") }, "EBUSY", "already a mountpoint"],
      [{ net: join(dir, "subdir") }, "EEXIST", "not a regular file"],
      [{ net: join(dir, "link") }, "EEXIST", "not a regular file"],
      [{ net: join(dir, "a"), uts: join(dir, "a") }, "EINVAL", "given for two namespaces"],
      [{ net: join(dir, "a"), network: join(dir, "b") }, "EINVAL", "net is given twice"],
      [{ net: "" }, "EINVAL", "path must not be empty"],
      [{}, "EINVAL", "no namespace to pin"],
      // A value of the wrong JS type is a TypeError.
      [{ net: 7 }, "TypeError", "path must be a string, got number 7"],
      [null, "TypeError", "must be an object of namespace → path"],
      [{ [Symbol.iterator]: 1, net: true }, "TypeError", "path must be a string, got boolean true"],
    ];
    for (const [spec, code, text] of cases) {
      const e = thrown(() => pinNamespaces(h, spec as never)) as UsernsError;
      expect(e).toBeInstanceOf(code === "TypeError" ? TypeError : UsernsError);
      expect([code, e.message]).toEqual([code, expect.stringContaining(text)]);
      if (code !== "TypeError") expect(e.code).toBe(code);
    }
    expect(snapshot(dir)).toBe(before);
    expect(readFileSync(VICTIM, "utf8")).toBe("victim\n");
    held.unpin();
  });

  test("a hostile spec is read once: what was validated is what is pinned", () => {
    const dir = join(base, "hostile");
    mkdirSync(dir);
    let reads = 0;
    const spec = {
      get net() {
        reads++;
        return reads === 1 ? join(dir, "net") : VICTIM;
      },
    };
    using h = startHelper(MAP, MAP, CLONE_NEWNET);
    using pins = pinNamespaces(h, spec as never);
    expect(reads).toBe(1);
    expect(pins.paths.net).toBe(join(dir, "net"));
    expect(mountinfo()).not.toContain(` ${VICTIM} `);
  });

  test("a kernel refusal part-way undoes the pins already made (a mount namespace not newer than ours)", () => {
    const dir = join(base, "partway");
    mkdirSync(dir);
    const before = snapshot(dir);
    // user pins first (entry order), then our own mnt namespace: the kernel's loop check says EINVAL.
    const e = thrown(() =>
      pinNamespaces(process.pid, { user: join(dir, "user"), mnt: join(dir, "mnt") }),
    ) as UsernsError;
    expect(e.code).toBe("ELOOP"); // move_mount's loop check
    expect(e.step).toBe("pin");
    expect(e.hint).toContain("older mount namespace");
    expect(snapshot(dir)).toBe(before);
  });

  test.skipIf(!mountBin)(
    `a mount namespace is refused on a shared mount with the fix in the hint${mountBin ? "" : " — skipped: mount not installed"}`,
    () => {
      const dir = join(base, "shared");
      mkdirSync(dir);
      expect(sh([mountBin as string, "-t", "tmpfs", "tmpfs", dir]).ok).toBe(true);
      expect(sh([mountBin as string, "--make-shared", dir]).ok).toBe(true);
      using h = startHelper(MAP, MAP, CLONE_NEWNS);
      const before = snapshot(dir);
      const e = thrown(() => pinNamespaces(h, { mnt: join(dir, "mnt") })) as UsernsError;
      expect(e.message).toContain("is on a shared mount");
      expect(e.hint).toContain("--make-private");
      expect(snapshot(dir)).toBe(before);
      // net may go there: no loop is possible.
      using pins = pinNamespaces(h, { user: join(dir, "user") });
      expect(existsSync(pins.paths.user as string)).toBe(true);
    },
  );

  test("unpinNamespace refuses what is not a namespace pin and leaves it mounted", () => {
    const dir = join(base, "notpin");
    mkdirSync(join(dir, "tmpfs"), { recursive: true });
    writeFileSync(join(dir, "file"), "x");
    writeFileSync(join(dir, "target"), "");
    using h = startHelper(MAP, MAP, CLONE_NEWNET);
    using pins = pinNamespaces(h, { net: join(dir, "pin") });
    symlinkSync(join(dir, "pin"), join(dir, "link-to-pin"));
    expect(sh([mountBin as string, "-t", "tmpfs", "tmpfs", join(dir, "tmpfs")]).ok).toBe(true);
    expect(sh([mountBin as string, "--bind", join(dir, "file"), join(dir, "target")]).ok).toBe(true);
    const before = snapshot(dir);
    for (const p of ["tmpfs", "target", "file", "link-to-pin"]) {
      const e = thrown(() => unpinNamespace(join(dir, p))) as UsernsError;
      expect(e.code).toBe("EINVAL");
      expect(e.message).toContain("not a namespace pin");
    }
    expect((thrown(() => unpinNamespace(join(dir, "missing"))) as UsernsError).code).toBe("ENOENT");
    expect((thrown(() => unpinNamespace("" as never)) as UsernsError).code).toBe("EINVAL");
    expect(snapshot(dir)).toBe(before);
    using still = openNamespace(pins.paths.net as string, "net");
    expect(still.kind).toBe("net");
  });

  const racer = Bun.which("setpriv");
  test.skipIf(!racer)(
    `another uid swapping symlinks into a sticky directory never redirects a pin or an unpin onto another file${racer ? "" : " — skipped: setpriv not installed"}`,
    async () => {
      const dir = join(base, "race");
      mkdirSync(dir);
      sh(["chmod", "1777", dir]);
      const f = join(dir, "f");
      // uid 65534 flips F between absent, a symlink to VICTIM and its own regular file.
      const attacker = Bun.spawn(
        [
          racer as string,
          "--reuid",
          "65534",
          "--regid",
          "65534",
          "--clear-groups",
          "sh",
          "-c",
          `while :; do ln -sf ${VICTIM} ${f} 2>/dev/null; rm -f ${f}; : > ${f} 2>/dev/null; rm -f ${f}; done`,
        ],
        { stdio: ["ignore", "ignore", "ignore"] },
      );
      let pinned = 0;
      let refused = 0;
      try {
        using h = startHelper(MAP, MAP, CLONE_NEWUTS);
        for (let i = 0; i < 400; i++) {
          try {
            const pins = pinNamespaces(h, { uts: f });
            pinned++;
            const points = mountinfo()
              .split("\n")
              .filter((l) => l.includes(" nsfs "))
              .map((l) => l.split(" ")[4]);
            expect(points).toContain(f);
            try {
              pins.unpin();
            } catch (e) {
              // The attacker may have replaced the uncovered file: then it stays, theirs.
              expect((e as UsernsError).step).toBe("unpin");
            }
          } catch (e) {
            expect(e).toBeInstanceOf(UsernsError);
            refused++;
          }
          if (i % 50 === 0) await Bun.sleep(1);
        }
      } finally {
        attacker.kill("SIGKILL");
        await attacker.exited;
      }
      const overVictim = mountinfo()
        .split("\n")
        .filter((l) => l.split(" ")[4] === VICTIM);
      expect(overVictim).toEqual([]);
      expect(readFileSync(VICTIM, "utf8")).toBe("victim\n");
      expect(pinned + refused).toBe(400);
      for (const l of mountinfo().split("\n")) if (l.includes(` ${dir}/`)) unpinNamespace(l.split(" ")[4] as string);
    },
  );

  const setpriv = Bun.which("setpriv");
  test.skipIf(!setpriv)(
    `not root (setpriv --reuid 65534): EPERM before anything is created${setpriv ? "" : " — skipped: setpriv not installed"}`,
    () => {
      const dir = join(base, "unpriv");
      mkdirSync(dir, { mode: 0o777 });
      sh(["chmod", "0777", dir]);
      const code = `import { pinNamespaces } from ${JSON.stringify(join(import.meta.dir, "..", "src", "index.ts"))};
try { pinNamespaces(process.pid, { net: ${JSON.stringify(join(dir, "n"))} }); console.log("pinned"); }
catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
      const home = othersTmp("bun-userns-pins-unpriv-"); // its TMPDIR (Bun's cc() headers), removed below
      const r = Bun.spawnSync(
        [setpriv as string, "--reuid", "65534", "--regid", "65534", "--clear-groups", process.execPath, "-e", code],
        { stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: home, TMPDIR: home } },
      );
      rmSync(home, { recursive: true, force: true });
      const out = JSON.parse(r.stdout.toString().trim());
      expect(out.code).toBe("EPERM");
      expect(out.message).toContain("CAP_SYS_ADMIN");
      expect(readdirSync(dir)).toEqual([]);
    },
  );
});
