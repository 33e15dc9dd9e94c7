import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot } from "./support/proc.ts";

const setpriv = Bun.which("setpriv");

describe.skipIf(!isRoot || !setpriv)("as an unprivileged uid (needs root to switch to 65534, and setpriv)", () => {
  test("own id maps with setgroups deny; other ids: operation not permitted, nothing left", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "bun-userns-unpriv-"));
    chmodSync(tmp, 0o777);
    const p = Bun.spawn(
      [
        setpriv as string,
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        process.execPath,
        join(import.meta.dir, "fixtures", "unpriv-check.ts"),
      ],
      { env: { ...process.env, TMPDIR: tmp, HOME: tmp }, stdout: "pipe", stderr: "pipe" },
    );
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    rmSync(tmp, { recursive: true, force: true });
    expect(err).toBe("");
    expect(code).toBe(0);
    const r = JSON.parse(out.trim());
    expect(r.uid).toBe(65534);
    expect(r.ownMap).toEqual({ ok: true });
    expect(r.setgroups).toBe("deny\n");
    expect(r.uidMap).toBe("         0      65534          1\n");
    expect(r.otherId).toMatchObject({
      ok: false,
      isUsernsError: true,
      message: "failed to start noop process for unshare: write uid_map: operation not permitted",
      code: "EPERM",
      step: "uid_map",
    });
    expect(r.otherId.hint).toContain("may not map 0 1000 1");
    expect(r.range).toMatchObject({ ok: false, code: "EPERM", step: "uid_map" });
    expect(r.allow).toMatchObject({
      ok: false,
      message: "failed to start noop process for unshare: write gid_map: operation not permitted",
      step: "gid_map",
    });
    expect(r.allow.hint).toContain('setgroups is "allow"');
    // Not privileged: the namespace belongs to the caller.
    expect(r.owner).toBe(65534);
    expect(r.fdsLeaked).toBe(0);
    expect(r.children).toBe("");
  }, 60000);
});
