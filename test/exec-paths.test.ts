/**
 * spawnInside's `cwd`, `root` and `mountProc: DIR` are resolved once by
 * resolve.c's rule, in the command's own process after entering: a symlink
 * another uid planted (or a root-owned one it could have moved there) in a
 * directory it can write redirects none of them; root's own links in
 * root's own directories (a merged /usr's /bin) are followed; a relative
 * `cwd` starts where the command is once inside (the new root after `root`).
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SpawnInsideOptions, spawnInside } from "../src/index.ts";
import { cleanupBase } from "./support/mounts.ts";
import { isRoot } from "./support/proc.ts";

const OTHER = 1000;

/** Run argv in our own namespaces plus `o`: its stdout and exit status. */
async function run(o: SpawnInsideOptions, argv: string[]): Promise<[string, number]> {
  const p = spawnInside(process.pid, argv, { namespaces: [], stdio: ["ignore", "pipe", "inherit"], ...o });
  return [await new Response(p.stdout).text(), await p.exited];
}

describe.skipIf(!isRoot)("spawnInside's cwd, root and mountProc directory (needs root)", () => {
  // base: root's, 0755. base/u: uid 1000's, where it plants what it likes.
  const base = isRoot ? mkdtempSync(join(tmpdir(), "exec-paths-")) : "";
  const u = join(base, "u");
  const target = join(base, "target"); // a root-owned directory a planted link may aim at
  if (isRoot) {
    chmodSync(base, 0o755);
    mkdirSync(u, { mode: 0o755 });
    chownSync(u, OTHER, OTHER);
    mkdirSync(target, { mode: 0o755 });
    // What uid 1000 plants in its own directory (a link is its own when it makes it).
    for (const [name, to] of [
      ["work", "/etc"],
      ["jail", "/"],
      ["proc", target],
    ] as const) {
      symlinkSync(to, join(u, name));
      lchownSync(join(u, name), OTHER, OTHER);
    }
    // A link root once left in that directory: uid 1000 could have moved it there.
    symlinkSync("/etc", join(u, "rootlink"));
    // Root's own link in root's own directory.
    symlinkSync("/usr", join(base, "good"));
  }
  afterAll(() => {
    if (base) cleanupBase(base);
  });

  test("a symlink another uid planted does not move the command's cwd (ELOOP at resolve_cwd)", async () => {
    await expect(run({ cwd: join(u, "work") }, ["/bin/pwd"])).rejects.toMatchObject({
      code: "ELOOP",
      step: "resolve_cwd",
      syscall: "openat",
      hint: expect.stringContaining("symlink on the way is not followed"),
    });
    // Also when named relative to the cwd we start in.
    await expect(run({ root: base, cwd: "u/work" }, ["/bin/pwd"])).rejects.toMatchObject({ code: "ELOOP" });
  });

  test("a root-owned symlink in another uid's directory is not followed either", async () => {
    await expect(run({ cwd: join(u, "rootlink") }, ["/bin/pwd"])).rejects.toMatchObject({
      code: "ELOOP",
      step: "resolve_cwd",
    });
  });

  test("a planted symlink does not turn root into / (ELOOP at resolve_root)", async () => {
    await expect(run({ root: join(u, "jail") }, ["/bin/true"])).rejects.toMatchObject({
      code: "ELOOP",
      step: "resolve_root",
      syscall: "openat",
    });
  });

  test("a planted symlink does not move mountProc's directory (ELOOP at resolve_proc, nothing mounted)", async () => {
    await expect(run({ unshare: ["pid", "mnt"], mountProc: join(u, "proc") }, ["/bin/true"])).rejects.toMatchObject({
      code: "ELOOP",
      step: "resolve_proc",
      syscall: "openat",
    });
    expect(readdirSync(target)).toEqual([]);
  });

  test("root's own symlinks in root's own directories are followed", async () => {
    expect(await run({ cwd: join(base, "good") }, ["/bin/pwd"])).toEqual(["/usr\n", 0]);
    // A merged /usr's /bin -> usr/bin, where the system has one.
    const bin = lstatSync("/bin").isSymbolicLink() ? `${realpathSync("/bin")}\n` : "/bin\n";
    expect(await run({ cwd: "/bin" }, ["/bin/pwd"])).toEqual([bin, 0]);
    expect(await run({ root: join(base, "good"), cwd: "/bin" }, ["/bin/pwd"])).toEqual(["/bin\n", 0]);
  });

  test("mountProc through root's own symlink mounts on its target", async () => {
    const dir = join(base, "procdir");
    mkdirSync(dir);
    symlinkSync(dir, join(base, "proclink"));
    const [out, code] = await run({ unshare: ["pid", "mnt"], mountProc: join(base, "proclink") }, [
      "/bin/cat",
      `${dir}/1/comm`,
    ]);
    expect([out, code]).toEqual(["cat\n", 0]);
  });

  test("a relative cwd starts where the command is once inside: our cwd, or the new root", async () => {
    expect(await run({ cwd: "test/.." }, ["/bin/pwd"])).toEqual([`${realpathSync(process.cwd())}\n`, 0]);
    expect(await run({ cwd: "u" }, ["/bin/pwd"]).catch((e) => e.code)).toBe("ENOENT");
    expect(await run({ root: "/usr", cwd: "bin" }, ["/bin/pwd"])).toEqual(["/bin\n", 0]);
    expect(await run({ root: "/usr", cwd: "../lib" }, ["/bin/pwd"])).toEqual(["/lib\n", 0]);
  });
});
