// What the kernel refuses comes back as a UsernsError with code, syscall and
// step, and leaves nothing behind. Each case runs in a child process, inside a
// throwaway user namespace (util-linux unshare) or with a capability dropped
// (setpriv), so the limits it sets die with it.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLONE_NEWIPC, unshareAfterEnterUserns } from "../../src/index.ts";
import { isRoot } from "../support/proc.ts";

const FIXTURE = join(import.meta.dir, "..", "fixtures", "kernel-check.ts");
const unshare = Bun.which("unshare");
const setpriv = Bun.which("setpriv");

function check(wrapper: string[], spec: { uid: string; gid: string; flags: number }, setup = "") {
  const cmd = `${setup}exec "$0" "$1" "$2"`;
  const r = Bun.spawnSync([...wrapper, "sh", "-c", cmd, process.execPath, FIXTURE, JSON.stringify(spec)]);
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
  const out = JSON.parse(r.stdout.toString());
  expect(out.fdsLeaked).toBe(0);
  expect(out.live).toBe(0);
  expect(out.children).toBe("");
  return out;
}

const inUserns = [unshare as string, "--user", "--map-root-user"];

describe.skipIf(!isRoot || !unshare || !setpriv)(
  "kernel rejections (needs root, util-linux unshare and setpriv)",
  () => {
    test("host ids not mapped in the caller's own user namespace: uid_map EPERM", () => {
      const out = check(inUserns, { uid: "0:1000:1", gid: "0:1000:1", flags: 0 });
      expect(out.error).toMatchObject({
        isUsernsError: true,
        message: "failed to start noop process for unshare: write uid_map: operation not permitted",
        code: "EPERM",
        errno: 1,
        syscall: "write",
        step: "uid_map",
      });
      expect(out.error.hint).toContain("mapped in the caller's own user namespace");
    });

    test("setgroups defaults to deny where the parent namespace already denies it", () => {
      const out = check(inUserns, { uid: "0:0:1", gid: "0:0:1", flags: CLONE_NEWIPC });
      expect(out.error).toBeNull();
      expect(out.setgroups).toBe("deny");
    });

    test("mapping host root without CAP_SETFCAP: uid_map EPERM", () => {
      const out = check([setpriv as string, "--bounding-set", "-setfcap", "--inh-caps", "-setfcap"], {
        uid: "0:0:1",
        gid: "0:0:1",
        flags: 0,
      });
      expect(out.error).toMatchObject({ code: "EPERM", step: "uid_map", syscall: "write" });
      expect(out.error.hint).toContain("CAP_SETFCAP");
      // The same caller may still map other ids.
      expect(
        check([setpriv as string, "--bounding-set", "-setfcap"], { uid: "0:1000:1", gid: "0:1000:1", flags: 0 }).error,
      ).toBeNull();
    });

    test("user namespaces disabled (max_user_namespaces = 0): clone ENOSPC, said plainly", () => {
      const out = check(
        inUserns,
        { uid: "0:0:1", gid: "0:0:1", flags: 0 },
        "echo 0 > /proc/sys/user/max_user_namespaces; ",
      );
      expect(out.error).toMatchObject({
        message: "failed to start noop process for unshare: clone: no space left on device",
        code: "ENOSPC",
        syscall: "clone",
        step: "clone",
      });
      expect(out.error.hint).toContain("user namespaces are disabled here: user.max_user_namespaces = 0");
    });

    test("unshare refused (max_net_namespaces = 0): unshare ENOSPC", () => {
      const out = check(
        inUserns,
        { uid: "0:0:1", gid: "0:0:1", flags: 0x40000000 },
        "echo 0 > /proc/sys/user/max_net_namespaces; ",
      );
      expect(out.error).toMatchObject({
        message: "failed to start noop process for unshare: unshare: no space left on device",
        code: "ENOSPC",
        syscall: "unshare",
        step: "unshare",
      });
    });
  },
);

test.skipIf(!isRoot)("a helper's maps are final: the kernel refuses a second write (needs root)", async () => {
  let refused: unknown;
  await unshareAfterEnterUserns("0:1000:10", "0:1000:10", CLONE_NEWIPC, (pid) => {
    try {
      writeFileSync(`/proc/${pid}/uid_map`, "0 0 1\n");
    } catch (e) {
      refused = e;
    }
    expect(readFileSync(`/proc/${pid}/uid_map`, "utf8")).toBe("         0       1000         10\n");
  });
  expect((refused as NodeJS.ErrnoException).code).toBe("EPERM");
});
