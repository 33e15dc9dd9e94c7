import { afterAll, describe, expect, test } from "bun:test";
import {
  chownSync,
  closeSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import {
  getUsernsFdSync,
  idmapMount,
  idmapMountSync,
  openIdmappedTree,
  openIdmappedTreeSync,
  UsernsError,
  unmount,
} from "../src/index.ts";
import { thrown } from "./support/errors.ts";
import {
  cleanupBase,
  type Fs,
  fsTypeOf,
  idmapUnsupported,
  isRoot,
  MAP_DOWN,
  MAP_UP,
  makeFs,
  mountinfo,
  mountsUnder,
  scratch,
  sh,
} from "./support/mounts.ts";

const setpriv = Bun.which("setpriv");
/** STATX_MNT_ID_UNIQUE (Linux 6.8) ids are never reused; older mount ids are, once a mount is gone. */
const [kMajor = 0, kMinor = 0] = release()
  .split(".")
  .map((x) => Number.parseInt(x, 10));
const uniqueIdSkip =
  kMajor > 6 || (kMajor === 6 && kMinor >= 8)
    ? undefined
    : `kernel ${release()} has no STATX_MNT_ID_UNIQUE (6.8): a gone mount's id may be reused`;
const base = isRoot ? scratch("bun-userns-mount-") : "/nonexistent";
const fss: Fs[] = isRoot ? (["tmpfs", "ext4", "xfs", "btrfs"] as const).map((k) => makeFs(base, k)) : [];
afterAll(() => {
  if (isRoot) cleanupBase(base);
});
/** The first filesystem that idmaps here (ext4 loop, tmpfs), for the generic tests. */
const good = fss.find((f) => !f.skip && (f.name === "ext4" || f.name === "tmpfs"));
const noGood = !isRoot
  ? "needs root"
  : good
    ? undefined
    : `no idmappable scratch fs: ${fss.map((f) => f.skip).join("; ")}`;

let n = 0;
function dirs(fs: Fs): { src: string; dst: string } {
  n++;
  const src = join(fs.dir, `src${n}`);
  const dst = join(base, `dst${n}`);
  mkdirSync(src);
  mkdirSync(dst);
  return { src, dst };
}
function umountQuiet(p: string): void {
  try {
    unmount(p, { detach: true });
  } catch {}
}
function asUid(uid: number, script: string): { ok: boolean; out: string } {
  return sh([setpriv as string, "--reuid", String(uid), "--regid", String(uid), "--clear-groups", "sh", "-c", script]);
}

for (const kind of ["tmpfs", "ext4", "xfs", "btrfs"] as const) {
  const fs = fss.find((f) => f.name === kind);
  const skip = !isRoot ? "needs root" : !setpriv ? "needs util-linux setpriv to write as a mapped uid" : fs?.skip;
  const optional = kind === "xfs" || kind === "btrfs" ? " (optional)" : "";
  describe.skipIf(skip !== undefined)(`${kind}${optional}${skip ? ` — skipped: ${skip}` : ""}`, () => {
    test(`${MAP_DOWN}: disk 100000+N shows as N; written as uid N through it lands as 100000+N`, () => {
      const { src, dst } = dirs(fs as Fs);
      writeFileSync(join(src, "f"), "x");
      chownSync(join(src, "f"), 100005, 100007);
      try {
        idmapMountSync(src, dst, { uidMap: MAP_DOWN, gidMap: MAP_DOWN });
        const st = lstatSync(join(dst, "f"));
        expect([st.uid, st.gid]).toEqual([5, 7]);
        chownSync(src, 100042, 100042);
        const w = asUid(42, `echo hi > ${dst}/new`);
        expect(w).toEqual({ ok: true, out: "" });
        const disk = lstatSync(join(src, "new"));
        expect([disk.uid, disk.gid]).toEqual([100042, 100042]);
      } finally {
        umountQuiet(dst);
      }
    });
    test(`${MAP_UP} (containerd's layers): disk N shows as 100000+N; written as 100000+N lands as N`, async () => {
      const { src, dst } = dirs(fs as Fs);
      writeFileSync(join(src, "f"), "x");
      chownSync(join(src, "f"), 3, 4);
      try {
        await idmapMount(src, dst, { uidMap: MAP_UP, gidMap: MAP_UP });
        const st = lstatSync(join(dst, "f"));
        expect([st.uid, st.gid]).toEqual([100003, 100004]);
        chownSync(src, 9, 9);
        expect(asUid(100009, `echo hi > ${dst}/new`).ok).toBe(true);
        expect(lstatSync(join(src, "new")).uid).toBe(9);
      } finally {
        umountQuiet(dst);
      }
    });
  });
}

describe.skipIf(noGood !== undefined)(
  `on ${good?.name ?? "a scratch fs"}${noGood ? ` — skipped: ${noGood}` : ""}`,
  () => {
    const fs = good as Fs;
    test("readOnly: a write fails with EROFS", () => {
      const { src, dst } = dirs(fs);
      try {
        idmapMountSync(src, dst, { uidMap: MAP_UP, gidMap: MAP_UP }, { readOnly: true });
        expect(() => writeFileSync(join(dst, "x"), "x")).toThrow(expect.objectContaining({ code: "EROFS" }));
        const line = mountinfo()
          .split("\n")
          .find((l) => l.split(" ")[4] === dst);
        expect(line?.split(" ")[5]).toMatch(/^ro,/);
      } finally {
        umountQuiet(dst);
      }
    });

    test("recursive (default) takes a submount along, idmapped; recursive: false leaves it out", () => {
      const { src, dst } = dirs(fs);
      const other = join(fs.dir, `other${n}`);
      mkdirSync(other);
      mkdirSync(join(src, "sub"));
      writeFileSync(join(other, "inner"), "x");
      chownSync(join(other, "inner"), 6, 6);
      const dst2 = `${dst}-nr`;
      mkdirSync(dst2);
      expect(sh(["mount", "--bind", other, join(src, "sub")]).ok).toBe(true);
      try {
        idmapMountSync(src, dst, { uidMap: MAP_UP, gidMap: MAP_UP });
        expect(lstatSync(join(dst, "sub", "inner")).uid).toBe(100006);
        idmapMountSync(src, dst2, { uidMap: MAP_UP, gidMap: MAP_UP }, { recursive: false });
        expect(() => lstatSync(join(dst2, "sub", "inner"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
      } finally {
        umountQuiet(dst);
        umountQuiet(dst2);
        umountQuiet(join(src, "sub"));
      }
    });

    const overlayOk =
      isRoot && /\toverlay\n/.test(readFileSync("/proc/filesystems", "utf8")) && Bun.which("mount") !== null;
    test.skipIf(!overlayOk)(
      `overlayfs on idmapped lower layers sharing one UsernsFd${overlayOk ? "" : " — skipped: no overlay in /proc/filesystems"}`,
      async () => {
        const a = dirs(fs);
        const b = dirs(fs);
        writeFileSync(join(a.src, "from-a"), "a");
        chownSync(join(a.src, "from-a"), 0, 0);
        writeFileSync(join(b.src, "from-b"), "b");
        chownSync(join(b.src, "from-b"), 1, 1);
        const merged = join(base, `merged${n}`);
        mkdirSync(merged);
        const before = mountsUnder(base);
        using ns = getUsernsFdSync(MAP_UP, MAP_UP);
        let mounted = false;
        try {
          await idmapMount(a.src, a.dst, ns, { readOnly: true });
          using tree = await openIdmappedTree(b.src, ns.fd, { readOnly: true });
          tree.attach(b.dst);
          const r = sh(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${a.dst}:${b.dst}`, merged]);
          if (!r.ok) throw new Error(`mount -t overlay failed: ${r.out}`);
          mounted = true;
          // The temporary idmapped mounts go (detached: the overlay holds them); the overlay keeps its own references.
          unmount(a.dst, { detach: true });
          unmount(b.dst, { detach: true });
          expect(mountinfo()).not.toContain(` ${a.dst} `);
          expect(mountinfo()).not.toContain(` ${b.dst} `);
          expect(lstatSync(join(merged, "from-a")).uid).toBe(100000);
          expect(lstatSync(join(merged, "from-b")).uid).toBe(100001);
          expect(ns.closed).toBe(false); // reused, not ours to close
        } finally {
          if (mounted) umountQuiet(merged);
          umountQuiet(a.dst);
          umountQuiet(b.dst);
        }
        expect(mountsUnder(base)).toEqual(before);
      },
    );

    test("openIdmappedTree then close() without attaching leaves no mount and no fd", () => {
      const { src } = dirs(fs);
      const before = mountsUnder(base);
      const tree = openIdmappedTreeSync(src, { uidMap: MAP_UP, gidMap: MAP_UP });
      const fd = tree.fd;
      expect(fstatSync(fd).isDirectory()).toBe(true);
      tree.close();
      expect(tree.fd).toBe(-1);
      expect(() => fstatSync(fd)).toThrow(/EBADF/);
      expect(mountsUnder(base)).toEqual(before);
    });

    test("attach twice is an error and adds no second mount", () => {
      const { src, dst } = dirs(fs);
      const dst2 = `${dst}-2`;
      mkdirSync(dst2);
      using tree = openIdmappedTreeSync(src, { uidMap: MAP_UP, gidMap: MAP_UP });
      try {
        tree.attach(dst);
        const after = mountsUnder(base);
        let err: unknown;
        try {
          tree.attach(dst2);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(UsernsError);
        expect(err).toMatchObject({ code: "EBUSY", step: "move_mount" });
        expect(mountsUnder(base)).toEqual(after);
      } finally {
        umountQuiet(dst);
      }
    });

    /** Two sources with a marker each, a TARGET, and what is mounted at it (mountinfo's ids, bottom first). */
    function handleDirs() {
      const { src, dst } = dirs(fs);
      const other = `${src}-other`;
      mkdirSync(other);
      writeFileSync(join(src, "ours"), "");
      writeFileSync(join(other, "theirs"), "");
      const at = () =>
        mountinfo()
          .split("\n")
          .filter((l) => l.split(" ")[4] === dst)
          .map((l) => l.split(" ")[0]);
      return { src, dst, other, at };
    }
    const maps = { uidMap: MAP_UP, gidMap: MAP_UP };

    test("a handle's unmount removes only the mount it attached: another stacked on it is refused untouched", () => {
      const { src, dst, other, at } = handleDirs();
      try {
        const ours = idmapMountSync(src, dst, maps);
        expect(typeof ours.mountId).toBe("bigint");
        expect(ours.fd).toBe(-1); // closed: the mount is not kept busy
        // Another mount stacked on ours: the handle refuses, both stay.
        const stacked = idmapMountSync(other, dst, maps);
        expect(stacked.mountId).not.toBe(ours.mountId);
        const both = at();
        expect(both.length).toBe(2);
        const e = thrown(() => ours.unmount()) as UsernsError;
        expect({ code: e.code, errno: e.errno, step: e.step, syscall: e.syscall }).toEqual({
          code: "EINVAL",
          errno: 22,
          step: "umount",
          syscall: "statx",
        });
        expect(e.message).toContain(`${dst}: the mount there is not the one this handle attached`);
        expect(at()).toEqual(both);
        expect(readdirSync(dst)).toEqual(["theirs"]);
        // The stacked one's own handle removes it; then ours removes ours.
        stacked.unmount();
        expect(readdirSync(dst)).toEqual(["ours"]);
        ours.unmount();
        ours.unmount(); // done already: nothing more
        expect(at()).toEqual([]);
        // openIdmappedTree's handle too, its fd still open when unmount is called.
        using tree = openIdmappedTreeSync(src, maps);
        tree.attach(dst);
        expect(tree.mountId).toBeDefined();
        tree.unmount();
        expect(tree.fd).toBe(-1);
        expect(at()).toEqual([]);
        using unattached = openIdmappedTreeSync(src, maps);
        expect(thrown(() => unattached.unmount())).toMatchObject({ code: "EINVAL", step: "umount" });
      } finally {
        for (let i = 0; i < 3; i++) umountQuiet(dst);
      }
      expect(at()).toEqual([]); // only DST could have changed: other suites mount elsewhere
    });

    test.skipIf(uniqueIdSkip !== undefined)(
      `a handle whose mount went refuses the mount now in its place; unmount(path) removes it${uniqueIdSkip ? ` — skipped: ${uniqueIdSkip}` : ""}`,
      () => {
        const { src, dst, other, at } = handleDirs();
        try {
          const first = idmapMountSync(src, dst, maps);
          unmount(dst);
          const second = idmapMountSync(other, dst, maps);
          const only = at();
          expect(only.length).toBe(1);
          const e = thrown(() => first.unmount()) as UsernsError;
          expect([e.code, e.step, e.message]).toEqual([
            "EINVAL",
            "umount",
            expect.stringContaining("not the one this handle attached"),
          ]);
          expect(at()).toEqual(only);
          expect(readdirSync(dst)).toEqual(["theirs"]);
          // By path there is no memory of which mount was meant: whatever is there goes.
          unmount(dst);
          expect(at()).toEqual([]);
          expect(thrown(() => second.unmount())).toMatchObject({ code: "EINVAL", step: "umount" });
        } finally {
          for (let i = 0; i < 2; i++) umountQuiet(dst);
        }
        expect(at()).toEqual([]); // only DST could have changed: other suites mount elsewhere
      },
    );

    test("a symlink at TARGET is not followed (move_mount without T_SYMLINKS)", () => {
      const { src, dst } = dirs(fs);
      const link = `${dst}-link`;
      symlinkSync(dst, link);
      const before = mountsUnder(base);
      try {
        const e = thrown(() => idmapMountSync(src, link, { uidMap: MAP_UP, gidMap: MAP_UP }));
        expect(e).toBeInstanceOf(UsernsError);
        // Refused at the target's last component (opened without following it), before any mount.
        expect(e).toMatchObject({ code: "ELOOP", step: "move_mount", syscall: "openat" });
        expect((e as UsernsError).message).toContain("the target is a symlink");
        expect(mountinfo()).not.toContain(` ${dst} `); // the link's target got nothing either
      } finally {
        umountQuiet(dst);
      }
      expect(mountsUnder(base)).toEqual(before);
    });
  },
);

const initialUserns = isRoot && sh(["cat", "/proc/self/uid_map"]).out.replace(/\s+/g, " ") === "0 0 4294967295";
describe.skipIf(!isRoot)(
  `every failure leaves no mount in the test's directories, with the named hint${isRoot ? "" : " — skipped: needs root"}`,
  () => {
    const maps = { uidMap: MAP_UP, gidMap: MAP_UP };
    const target = isRoot ? join(base, "fail-target") : "/nonexistent";
    if (isRoot) mkdirSync(target, { recursive: true });
    function failing(fn: () => unknown): UsernsError {
      const before = mountsUnder(base);
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(mountsUnder(base)).toEqual(before);
      expect(err).toBeInstanceOf(UsernsError);
      return err as UsernsError;
    }
    test("missing source: open_tree ENOENT", () => {
      const e = failing(() => idmapMountSync(join(base, "missing"), target, maps));
      // The walk (one openat per component) finds it missing, before open_tree.
      expect(e).toMatchObject({ code: "ENOENT", step: "open_tree", syscall: "openat" });
      expect(e.hint).toContain("does not exist");
    });
    test("procfs: mount_setattr EINVAL naming the filesystem and path", () => {
      const e = failing(() => idmapMountSync("/proc", target, maps));
      expect(e).toMatchObject({ code: "EINVAL", step: "mount_setattr" });
      expect(e.hint).toContain("proc filesystem at /proc does not support idmapped mounts");
    });
    const tmpIdmaps = isRoot && idmapUnsupported(fsTypeOf(tmpdir())) === undefined;
    test.skipIf(!tmpIdmaps)(
      `missing target: move_mount ENOENT, the detached tree freed${tmpIdmaps ? "" : ` — skipped: TMPDIR (${tmpdir()}) cannot be idmapped here`}`,
      () => {
        const src = scratch("bun-userns-mount-src-");
        try {
          const e = failing(() => idmapMountSync(src, join(base, "no-target"), maps));
          expect(e).toMatchObject({ code: "ENOENT", step: "move_mount" });
        } finally {
          cleanupBase(src);
        }
      },
    );
    test("unmapped / invalid maps: EINVAL before anything is created", () => {
      const e = failing(() => idmapMountSync("/tmp", target, { uidMap: "0:100000:0", gidMap: MAP_UP }));
      expect(e).toMatchObject({ code: "EINVAL", step: "parse" });
      // A missing map is a wrong JS type (undefined), as everywhere: a TypeError.
      const e2 = thrown(() => idmapMountSync("/tmp", target, { uidMap: MAP_UP } as never));
      expect(e2).toBeInstanceOf(TypeError);
      expect((e2 as Error).message).toContain("both uidMap and gidMap");
    });
    test("an fd that is not a user namespace: EINVAL, hint says so", () => {
      const fd = openSync("/proc/self/ns/net", "r");
      try {
        const e = failing(() => idmapMountSync("/tmp", target, fd));
        expect(e).toMatchObject({ code: "EINVAL", step: "mount_setattr" });
        expect(e.hint).toContain("is not a user-namespace fd");
      } finally {
        closeSync(fd);
      }
    });
    test.skipIf(!initialUserns)("the initial user namespace: EPERM, hint says so (skipped unless run in it)", () => {
      const fd = openSync("/proc/self/ns/user", "r"); // the test runs in the initial user namespace (root)
      try {
        const e = failing(() => idmapMountSync("/tmp", target, fd));
        expect(e).toMatchObject({ code: "EPERM", step: "mount_setattr" });
        expect(e.hint).toContain("initial user namespace");
      } finally {
        closeSync(fd);
      }
    });
    test("bad options: EINVAL, nothing created; each option read once", () => {
      let reads = 0;
      const hostile = {
        get readOnly() {
          reads++;
          return reads === 1 ? true : "no";
        },
      };
      const before = mountsUnder(base);
      expect(() => idmapMountSync("/nope", target, maps, { propagation: "sideways" as never })).toThrow(
        expect.objectContaining({ code: "EINVAL", step: "options" }),
      );
      expect(() => idmapMountSync("/nope", target, maps, hostile as never)).toThrow(
        expect.objectContaining({ step: "open_tree" }),
      );
      expect(reads).toBe(1);
      expect(mountsUnder(base)).toEqual(before);
    });
    test("unmount of a non-mountpoint: EINVAL with hint", () => {
      const e = failing(() => unmount(target));
      expect(e).toMatchObject({ code: "EINVAL", step: "umount", syscall: "umount2" });
    });
  },
);
