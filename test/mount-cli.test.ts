import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, lstatSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupBase, isRoot, MAP_DOWN, makeFs, mountsUnder, scratch, sh } from "./support/mounts.ts";
import { othersTmp } from "./support/proc.ts";

const CLI = join(import.meta.dir, "..", "src", "cli.ts");
const setpriv = Bun.which("setpriv");

/** Runs the CLI (after PREFIX, e.g. setpriv); as another uid its HOME and TMPDIR are a directory of its own, removed after. */
function cli(args: string[], prefix: string[] = []): { code: number; stdout: string; stderr: string } {
  const home = prefix.length > 0 ? othersTmp("bun-userns-mount-cli-") : undefined;
  const env = home ? { ...process.env, HOME: home, TMPDIR: home } : process.env;
  const r = Bun.spawnSync([...prefix, process.execPath, CLI, ...args], { stdout: "pipe", stderr: "pipe", env });
  if (home) rmSync(home, { recursive: true, force: true });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("usage errors exit 2 and create nothing", () => {
  test.each([
    [["mount", "/a"], "expected SOURCE and TARGET"],
    [["mount", "/a", "/b"], "give --map M"],
    [["mount", "--map", "0:1:1", "--map-users", "0:1:1", "/a", "/b"], "cannot be combined"],
    [["mount", "--map", "0:1:1", "--propagation", "sideways", "/a", "/b"], "--propagation takes"],
    [["mount", "--bogus", "/a", "/b"], "bogus"],
    [["umount"], "expected one TARGET"],
  ])("%j", (args, text) => {
    const before = mountsUnder("/a", "/b");
    const r = cli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(text as string);
    expect(mountsUnder("/a", "/b")).toEqual(before);
  });
  test("--help exits 0", () => {
    expect(cli(["mount", "--help"])).toMatchObject({ code: 0 });
    expect(cli(["umount", "--help"]).stdout).toContain("--lazy");
  });
});

const base = isRoot ? scratch("bun-userns-mountcli-") : "/nonexistent";
afterAll(() => {
  if (isRoot) cleanupBase(base);
});
describe.skipIf(!isRoot)(`as root${isRoot ? "" : " — skipped: needs root"}`, () => {
  const fs = isRoot ? makeFs(base, "tmpfs") : undefined;
  const fsSkip = fs?.skip;
  test.skipIf(fsSkip !== undefined)(`mount --map, then umount --json${fsSkip ? ` — skipped: ${fsSkip}` : ""}`, () => {
    const src = join(fs?.dir as string, "src");
    const dst = join(base, "dst");
    mkdirSync(src);
    mkdirSync(dst);
    writeFileSync(join(src, "f"), "x");
    chownSync(join(src, "f"), 100005, 100005);
    const before = mountsUnder(base);
    try {
      const r = cli(["mount", "--map", MAP_DOWN, "--read-only", "--json", src, dst]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, source: src, target: dst, options: { readOnly: true } });
      expect(lstatSync(join(dst, "f")).uid).toBe(5);
      const u = cli(["umount", "--json", dst]);
      expect(u.code).toBe(0);
      expect(JSON.parse(u.stdout)).toEqual({ ok: true, target: dst, lazy: false });
    } finally {
      sh(["umount", "-l", dst]);
    }
    expect(mountsUnder(base)).toEqual(before);
  });
  test("library errors exit 1 with the hint: procfs, missing source, --json", () => {
    const dst = join(base, "dst-fail");
    mkdirSync(dst);
    const before = mountsUnder(base);
    const p = cli(["mount", "--map", MAP_DOWN, "/proc", dst]);
    expect(p.code).toBe(1);
    expect(p.stderr).toContain("hint: the proc filesystem at /proc does not support idmapped mounts");
    const m = cli(["mount", "--map", MAP_DOWN, "--json", join(base, "missing"), dst]);
    expect(m.code).toBe(1);
    expect(JSON.parse(m.stdout).error).toMatchObject({ code: "ENOENT", step: "open_tree" });
    const u = cli(["umount", dst]);
    expect(u.code).toBe(1);
    expect(u.stderr).toContain("not a mountpoint");
    expect(mountsUnder(base)).toEqual(before);
  });
  test.skipIf(!setpriv)(
    `not root (setpriv --reuid 65534): EPERM with the hint, mountinfo unchanged${setpriv ? "" : " — skipped: setpriv not installed"}`,
    () => {
      const dst = join(base, "dst-unpriv");
      mkdirSync(dst);
      const before = mountsUnder(base);
      const r = cli(
        ["mount", "--map", "0:65534:1", "--json", "/tmp", dst],
        [setpriv as string, "--reuid", "65534", "--regid", "65534", "--clear-groups"],
      );
      expect(r.code).toBe(1);
      const err = JSON.parse(r.stdout).error;
      expect(err.code).toBe("EPERM");
      expect(err.hint).toContain("CAP_SYS_ADMIN");
      expect(mountsUnder(base)).toEqual(before);
    },
  );
});
