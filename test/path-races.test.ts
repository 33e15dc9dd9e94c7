/**
 * Paths another uid controls. The invariant, over every principal: whatever
 * another uid does to the directories it owns (rename, swap a symlink in,
 * renameat2 RENAME_EXCHANGE in a loop), root's pins, unpins, idmapped mounts
 * and unmounts act only on what root named: nothing is created, mounted,
 * unmounted or deleted anywhere else; a file the call did not make is never
 * deleted nor hidden under a pin.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, lchownSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runDoctor } from "../src/cli/doctor.ts";
import {
  CLONE_NEWIPC,
  CLONE_NEWUTS,
  idmapMountSync,
  openNamespace,
  pinNamespaces,
  startHelper,
  type UsernsError,
  unmount,
  unpinNamespace,
} from "../src/index.ts";
import { thrown } from "./support/errors.ts";
import { cleanupBase, fsTypeOf, idmapUnsupported, isRoot, MAP_UP, mountinfo, scratch, sh } from "./support/mounts.ts";

const CLI = join(import.meta.dir, "..", "src", "cli.ts");
const MAP = "0:100000:65536";
const maps = { uidMap: MAP_UP, gidMap: MAP_UP };
const cc = Bun.which("cc") ?? Bun.which("gcc");
const setpriv = Bun.which("setpriv");
const mountBin = Bun.which("mount");
/** An unnamed uid for this run: the other uid of the attacks. */
const OTHER = 47000 + (process.pid % 1000);
const tmpIdmaps = isRoot && idmapUnsupported(fsTypeOf(tmpdir())) === undefined;
const base = isRoot ? scratch("bun-userns-paths-") : "";
afterAll(() => {
  if (base) cleanupBase(base);
});

function cli(args: string[]) {
  const r = Bun.spawnSync([process.execPath, CLI, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Mount points under DIR, sorted, from /proc/self/mountinfo. */
function mountsUnder(dir: string): string[] {
  return mountinfo()
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(`${dir}/`))
    .sort();
}

/** A directory and what is mounted in it: what "nothing landed here" compares. */
function state(dir: string): string {
  return JSON.stringify([readdirSync(dir).sort(), mountsUnder(dir)]);
}

/** mkdir owned by the other uid. */
function otherDir(path: string): string {
  mkdirSync(path);
  lchownSync(path, OTHER, OTHER);
  return path;
}

function otherLink(target: string, path: string): string {
  symlinkSync(target, path);
  lchownSync(path, OTHER, OTHER);
  return path;
}

/** The other uid swapping A and B (renameat2 RENAME_EXCHANGE) until killed. */
function exchanger(dir: string, a: string, b: string): { stop(): Promise<void> } {
  const src = join(dir, "exchange.c");
  const bin = join(dir, "exchange");
  writeFileSync(
    src,
    `#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  (void)argc;
  for (;;) syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], 2 /* RENAME_EXCHANGE */);
}
`,
  );
  const made = sh([cc as string, "-O2", "-o", bin, src]);
  if (!made.ok) throw new Error(`cc failed: ${made.out}`);
  const p = Bun.spawn(
    [setpriv as string, "--reuid", String(OTHER), "--regid", String(OTHER), "--clear-groups", bin, a, b],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  return {
    async stop() {
      p.kill("SIGKILL");
      await p.exited;
    },
  };
}

const raceSkip = !isRoot
  ? "needs root"
  : !cc
    ? "no C compiler (cc/gcc) for the renameat2 loop"
    : !setpriv
      ? "setpriv not installed"
      : !tmpIdmaps
        ? `TMPDIR (${tmpdir()}) cannot be idmapped on this kernel`
        : undefined;

describe.skipIf(raceSkip !== undefined)(`races${raceSkip ? ` — skipped: ${raceSkip}` : ""}`, () => {
  test("another uid swapping a directory with a symlink (RENAME_EXCHANGE) never redirects a pin, unpin, mount or unmount", async () => {
    const root = join(base, "race");
    mkdirSync(root);
    // Root's own directory the symlink points at: a production pin, a production mount, a file.
    const victim = join(root, "victim");
    mkdirSync(join(victim, "mnt"), { recursive: true });
    mkdirSync(join(victim, "busy"));
    writeFileSync(join(victim, "secret"), "root's\n");
    const prodNs = startHelper(MAP, MAP, CLONE_NEWUTS);
    const prod = pinNamespaces(prodNs, { uts: join(victim, "prod") });
    const prodId = openNamespace(join(victim, "prod"), "uts").id;
    prodNs.release();
    expect(sh([mountBin as string, "-t", "tmpfs", "tmpfs", join(victim, "busy")]).ok).toBe(true);
    // The source root mounts: a marker says which tree a mount shows.
    const src = join(root, "src");
    mkdirSync(src);
    writeFileSync(join(src, "marker"), "src\n");
    const target = join(root, "target");
    mkdirSync(target);
    // The other uid's directory, and its symlink to root's.
    const theirs = otherDir(join(root, "theirs"));
    const d = otherDir(join(theirs, "d"));
    otherDir(join(d, "mnt"));
    otherDir(join(d, "busy"));
    writeFileSync(join(d, "marker"), "theirs\n");
    const l = otherLink(victim, join(theirs, "l"));
    const before = state(victim);
    const swap = exchanger(root, d, l);
    const done = { pin: 0, unpin: 0, mount: 0, source: 0, unmount: 0 };
    using h = startHelper(MAP, MAP, CLONE_NEWUTS | CLONE_NEWIPC);
    try {
      const end = Date.now() + 3000;
      while (Date.now() < end) {
        // A new pin at d/new, then its PinSet unpin, retried while the path leads elsewhere.
        try {
          const pins = pinNamespaces(h, { uts: join(d, "new") });
          done.pin++;
          for (let i = 0; i < 1000; i++) {
            try {
              pins.unpin();
              done.unpin++;
              break;
            } catch (e) {
              expect((e as UsernsError).step).toBe("unpin");
            }
          }
        } catch (e) {
          expect((e as UsernsError).step).toBe("pin");
        }
        // A pin at d/prod (victim/prod is the production pin's name), removed by path.
        try {
          pinNamespaces(h, { ipc: join(d, "prod") });
          for (let i = 0; i < 1000; i++) {
            try {
              unpinNamespace(join(d, "prod"));
              done.unpin++;
              break;
            } catch (e) {
              expect((e as UsernsError).step).toBe("unpin");
            }
          }
        } catch (e) {
          expect((e as UsernsError).step).toBe("pin");
        }
        // TARGET's directory swapped: mount on d/mnt, unmount it.
        try {
          idmapMountSync(src, join(d, "mnt"), maps);
          done.mount++;
          for (let i = 0; i < 1000; i++) {
            try {
              unmount(join(d, "mnt"));
              done.unmount++;
              break;
            } catch (e) {
              expect((e as UsernsError).step).toBe("umount");
            }
          }
        } catch (e) {
          expect(["open_tree", "move_mount"]).toContain((e as UsernsError).step);
        }
        // An unmount of d/busy while victim/busy is a mount root.
        try {
          unmount(join(d, "busy"));
          throw new Error("unmounted something at d/busy, where nothing of ours is mounted");
        } catch (e) {
          expect((e as UsernsError).step).toBe("umount");
        }
        // SOURCE swapped: what is mounted must be d's tree, never root's.
        try {
          idmapMountSync(d, target, maps);
          const shown = readdirSync(target).sort();
          unmount(target, { detach: true });
          expect(shown).toEqual(["busy", "marker", "mnt"]);
          done.source++;
        } catch (e) {
          if (!(e as UsernsError).step) throw e;
          expect(["open_tree", "move_mount"]).toContain((e as UsernsError).step);
        }
        expect(state(victim)).toBe(before);
        await Bun.sleep(0);
      }
    } finally {
      await swap.stop();
    }
    expect(state(victim)).toBe(before);
    expect(readFileSync(join(victim, "secret"), "utf8")).toBe("root's\n");
    expect(openNamespace(join(victim, "prod"), "uts").id).toBe(prodId);
    // Each kind of operation did succeed on the directory named, so the loop exercised it.
    expect(Object.values(done).every((n) => n > 0)).toBe(true);
    prod.unpin();
  }, 60_000);
});

const rootSkip = !isRoot
  ? "needs root"
  : !tmpIdmaps
    ? `TMPDIR (${tmpdir()}) cannot be idmapped on this kernel`
    : undefined;
describe.skipIf(rootSkip !== undefined)(`symlinks on the way${rootSkip ? ` — skipped: ${rootSkip}` : ""}`, () => {
  test("a symlink another uid owns, as SOURCE or in TARGET's, a pin's or an unpin's directories: ELOOP naming it and its owner, nothing done", () => {
    const root = join(base, "links");
    mkdirSync(root);
    const victim = join(root, "victim");
    mkdirSync(join(victim, "mnt"), { recursive: true });
    writeFileSync(join(victim, "secret"), "x");
    const prodNs = startHelper(MAP, MAP, CLONE_NEWUTS);
    const prod = pinNamespaces(prodNs, { uts: join(victim, "prod") });
    prodNs.release();
    const src = join(root, "src");
    mkdirSync(src);
    const target = join(root, "target");
    mkdirSync(target);
    expect(sh([mountBin as string, "-t", "tmpfs", "tmpfs", join(victim, "mnt")]).ok).toBe(true);
    const l = otherLink(victim, join(root, "l"));
    const before = [state(victim), mountsUnder(target)].join();
    using h = startHelper(MAP, MAP, CLONE_NEWUTS);
    const cases: [() => unknown, string][] = [
      [() => idmapMountSync(l, target, maps), "open_tree"],
      [() => idmapMountSync(join(l, "mnt"), target, maps), "open_tree"],
      [() => idmapMountSync(src, join(l, "mnt"), maps), "move_mount"],
      [() => unmount(join(l, "mnt")), "umount"],
      [() => pinNamespaces(h, { uts: join(l, "new") }), "pin"],
      [() => unpinNamespace(join(l, "prod")), "unpin"],
    ];
    for (const [fn, step] of cases) {
      const e = thrown(fn) as UsernsError;
      expect({ code: e.code, errno: e.errno, step: e.step, syscall: e.syscall }).toEqual({
        code: "ELOOP",
        errno: 40,
        step: step as never,
        syscall: "openat",
      });
      expect(e.message).toContain(`${l} is a symlink owned by uid ${OTHER}`);
    }
    expect([state(victim), mountsUnder(target)].join()).toBe(before);
    // A symlink root owns is followed (systems have /var/run -> /run).
    const rootLink = join(root, "rootlink");
    symlinkSync(src, rootLink);
    writeFileSync(join(src, "marker"), "");
    idmapMountSync(rootLink, target, maps);
    expect(readdirSync(target)).toEqual(["marker"]);
    unmount(target);
    using pins = pinNamespaces(h, { uts: join(rootLink, "pin") });
    expect(openNamespace(join(src, "pin"), "uts").id).toBe(openNamespace(h, "uts").id);
    pins.unpin();
    expect(readdirSync(src)).toEqual(["marker"]);
    prod.unpin();
  });
});

describe.skipIf(rootSkip !== undefined)(
  `root's symlinks another uid placed${rootSkip ? ` — skipped: ${rootSkip}` : ""}`,
  () => {
    test("root's symlink in a directory another uid can write, or in a sticky one, is not followed: ELOOP naming it, nothing done", () => {
      const root = join(base, "placed");
      mkdirSync(root);
      const victim = join(root, "victim");
      mkdirSync(join(victim, "mnt"), { recursive: true });
      writeFileSync(join(victim, "marker"), "");
      const target = join(root, "target");
      mkdirSync(target);
      // Root's own link to victim, in a directory of the other uid's: that uid can rename it
      // to any name there (here it stands where "d" would be), or RENAME_EXCHANGE it with d.
      const theirs = otherDir(join(root, "theirs"));
      const inTheirs = join(theirs, "d");
      symlinkSync(victim, inTheirs);
      // And in a root-owned sticky world-writable directory (a /tmp): any uid can rename one in.
      const sticky = join(root, "sticky");
      mkdirSync(sticky);
      chmodSync(sticky, 0o1777);
      const inSticky = join(sticky, "d");
      symlinkSync(victim, inSticky);
      // And below a directory of the other uid's, in a root-only one: the other uid can move that.
      const below = join(otherDir(join(root, "theirs2")), "rootonly");
      mkdirSync(below);
      const inBelow = join(below, "d");
      symlinkSync(victim, inBelow);
      const before = [state(victim), mountsUnder(target)].join();
      using h = startHelper(MAP, MAP, CLONE_NEWUTS);
      for (const l of [inTheirs, inSticky, inBelow]) {
        const cases: [() => unknown, string][] = [
          [() => pinNamespaces(h, { uts: join(l, "new") }), "pin"],
          [() => unpinNamespace(join(l, "new")), "unpin"],
          [() => idmapMountSync(l, target, maps), "open_tree"],
          [() => idmapMountSync(root, join(l, "mnt"), maps), "move_mount"],
          [() => unmount(join(l, "mnt")), "umount"],
        ];
        for (const [fn, step] of cases) {
          const e = thrown(fn) as UsernsError;
          expect({ code: e.code, errno: e.errno, step: e.step, syscall: e.syscall }).toEqual({
            code: "ELOOP",
            errno: 40,
            step: step as never,
            syscall: "openat",
          });
          expect(e.message).toContain(`${l} is root's symlink in a directory another uid can write`);
        }
      }
      expect([state(victim), mountsUnder(target)].join()).toBe(before);
    });
  },
);

describe.skipIf(!isRoot)(`files a pin did not make${isRoot ? "" : " — skipped: needs root"}`, () => {
  test("library: a file with content or of another uid is never bound over; a pin's unpin never deletes a file it did not create", () => {
    const dir = join(base, "files");
    mkdirSync(dir);
    writeFileSync(join(dir, "content"), "keep me\n");
    writeFileSync(join(dir, "theirs"), "");
    lchownSync(join(dir, "theirs"), OTHER, OTHER);
    const before = state(dir);
    using h = startHelper(MAP, MAP, CLONE_NEWUTS);
    const full = thrown(() => pinNamespaces(h, { uts: join(dir, "content") })) as UsernsError;
    expect([full.code, full.message]).toEqual(["EEXIST", expect.stringContaining("is not empty")]);
    const other = thrown(() => pinNamespaces(h, { uts: join(dir, "theirs") })) as UsernsError;
    expect([other.code, other.message]).toEqual(["EPERM", expect.stringContaining(`belongs to uid ${OTHER}`)]);
    expect(state(dir)).toBe(before);
    expect(readFileSync(join(dir, "content"), "utf8")).toBe("keep me\n");
    // Made by the pin: removed by its unpin. Found there: kept by both unpins.
    writeFileSync(join(dir, "empty"), "");
    const a = pinNamespaces(h, { uts: join(dir, "made") });
    const b = pinNamespaces(h, { uts: join(dir, "empty") });
    a.unpin();
    b.unpin();
    expect(readdirSync(dir).sort()).toEqual(["content", "empty", "theirs"]);
  });

  test("CLI: pin over a file with content exits 1 and leaves it; unpin keeps a file a pin did not create", () => {
    const dir = join(base, "cli-files");
    mkdirSync(dir);
    const f = join(dir, "content");
    writeFileSync(f, "keep me\n");
    const r = cli(["pin", "-u", `--uts=${f}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("is not empty");
    expect(mountsUnder(dir)).toEqual([]);
    expect(readFileSync(f, "utf8")).toBe("keep me\n");
    const e = join(dir, "empty");
    writeFileSync(e, "");
    expect(cli(["pin", "-u", `--uts=${e}`]).code).toBe(0);
    const u = cli(["unpin", e]);
    expect(u.code).toBe(0);
    expect(u.stderr).toContain("the file stays");
    expect(mountsUnder(dir)).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(["content", "empty"]);
  });
});

describe.skipIf(!isRoot)(`binding over a file on request${isRoot ? "" : " — skipped: needs root"}`, () => {
  test("library: { overwrite: true } binds over the caller's file with content and keeps it; never another uid's file, never a non-regular file", () => {
    const dir = join(base, "overwrite");
    mkdirSync(dir);
    const mine = join(dir, "mine");
    writeFileSync(mine, "keep me\n");
    const theirs = join(dir, "theirs");
    writeFileSync(theirs, "theirs\n");
    lchownSync(theirs, OTHER, OTHER);
    mkdirSync(join(dir, "adir"));
    expect(sh(["mkfifo", join(dir, "fifo")]).ok).toBe(true);
    symlinkSync(mine, join(dir, "link"));
    using h = startHelper(MAP, MAP, CLONE_NEWUTS);
    const before = state(dir);
    const other = thrown(() => pinNamespaces(h, { uts: theirs }, { overwrite: true })) as UsernsError;
    expect([other.code, other.message]).toEqual(["EPERM", expect.stringContaining(`belongs to uid ${OTHER}`)]);
    for (const name of ["adir", "fifo", "link"]) {
      const e = thrown(() => pinNamespaces(h, { uts: join(dir, name) }, { overwrite: true })) as UsernsError;
      expect([name, e.code, e.message]).toEqual([name, "EEXIST", expect.stringContaining("not a regular file")]);
    }
    // Options of the wrong type or name: a TypeError, before anything is looked at.
    for (const bad of [{ overwrite: "yes" }, { force: true }, "overwrite"]) {
      const e = thrown(() => pinNamespaces(h, { uts: mine }, bad as never));
      expect([bad, e instanceof TypeError]).toEqual([bad, true]);
    }
    expect(state(dir)).toBe(before);
    // Asked for: the pin hides the content, and both unpins keep the file as it was.
    const a = pinNamespaces(h, { uts: mine }, { overwrite: true });
    expect(openNamespace(mine, "uts").id).toBe(openNamespace(h, "uts").id);
    a.unpin();
    expect(readFileSync(mine, "utf8")).toBe("keep me\n");
    pinNamespaces(h, { uts: mine }, { overwrite: true });
    expect(unpinNamespace(mine)).toEqual({ removed: false });
    expect(readFileSync(mine, "utf8")).toBe("keep me\n");
    expect(state(dir)).toBe(before);
  });

  test("CLI: pin --force binds over the caller's file with content, unpin keeps it; another uid's file is refused even so", () => {
    const dir = join(base, "cli-force");
    mkdirSync(dir);
    const f = join(dir, "content");
    writeFileSync(f, "keep me\n");
    const t = join(dir, "theirs");
    writeFileSync(t, "");
    lchownSync(t, OTHER, OTHER);
    const r = cli(["pin", "-u", "--force", `--uts=${f}`]);
    expect([r.code, r.stdout]).toEqual([0, `uts ${f}\n`]);
    expect(mountsUnder(dir)).toEqual([f]);
    const u = cli(["unpin", f]);
    expect([u.code, u.stderr]).toEqual([0, expect.stringContaining("the file stays")]);
    expect(readFileSync(f, "utf8")).toBe("keep me\n");
    const o = cli(["pin", "-u", "--force", `--uts=${t}`]);
    expect([o.code, o.stderr]).toEqual([1, expect.stringContaining(`belongs to uid ${OTHER}`)]);
    expect(mountsUnder(dir)).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(["content", "theirs"]);
  });
});

describe("CLI usage", () => {
  test("a namespace file given twice to pin, exec or enter is a usage error (exit 2) naming the option; nothing pinned", () => {
    const dir = scratch("bun-userns-dup-");
    const a = join(dir, "a");
    const b = join(dir, "b");
    try {
      for (const [args, opt] of [
        [["pin", "-n", `--net=${a}`, `--net=${b}`], "pin: --net="],
        [["pin", "-m", `--mount=${a}`, `--mount=${b}`], "pin: --mount="],
        [["exec", "-r", "-n", `--net=${a}`, `--net=${b}`, "--", "true"], "exec: --net="],
        [["exec", "-r", `--user=${a}`, `--uts=${b}`, `--user=${b}`, "--", "true"], "exec: --user="],
        [["enter", "-t", String(process.pid), `--net=${a}`, `--net=${b}`, "--", "true"], "enter: --net="],
        [["enter", `--ipc=${a}`, `--ipc=${b}`, "--", "true"], "enter: --ipc="],
      ] as const) {
        const r = cli([...args]);
        expect([r.code, r.stderr]).toEqual([2, expect.stringContaining(`${opt} is given twice`)]);
      }
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      cleanupBase(dir);
    }
  });
});

describe.skipIf(rootSkip !== undefined)(
  `a namespace pin under SOURCE${rootSkip ? ` — skipped: ${rootSkip}` : ""}`,
  () => {
    test("mount names the nsfs submount that refused; doctor --path probes recursively and agrees; --no-recursive works", () => {
      const dir = join(base, "nsfs");
      mkdirSync(join(dir, "sub"), { recursive: true });
      const target = join(base, "nsfs-target");
      mkdirSync(target);
      using h = startHelper(MAP, MAP, CLONE_NEWUTS);
      using pins = pinNamespaces(h, { uts: join(dir, "sub", "pin") });
      const m = cli(["mount", "--map", MAP_UP, dir, target]);
      expect(m.code).toBe(1);
      expect(m.stderr).toContain(`the submount ${join(dir, "sub", "pin")} (nsfs`);
      expect(m.stderr).not.toContain("filesystem at");
      const doc = runDoctor(dir).checks.find((c) => c.name === "idmapped_mount");
      expect(doc?.status).toBe("fail");
      expect(doc?.hint).toContain(`the submount ${join(dir, "sub", "pin")} (nsfs`);
      expect(doc?.detail).toContain("without its submounts (--no-recursive): ok");
      expect(cli(["mount", "--map", MAP_UP, "--no-recursive", dir, target]).code).toBe(0);
      expect(cli(["umount", target]).code).toBe(0);
      pins.unpin();
      expect(runDoctor(dir).checks.find((c) => c.name === "idmapped_mount")?.status).toBe("ok");
    });
  },
);
