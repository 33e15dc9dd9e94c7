// Attacks from a review of the memory and path fixes, kept: the park program's
// image from inside a helper's namespaces, vm.memfd_noexec, a /proc of another
// pid namespace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot } from "../support/proc.ts";

const FIXTURES = join(import.meta.dir, "..", "fixtures");
const tools = ["unshare", "nsenter", "setpriv"].filter((t) => !Bun.which(t));
const skip = !isRoot ? " (needs root)" : tools.length ? ` (needs ${tools.join(", ")})` : "";
const env = { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" };
/** A host uid with no account: the unprivileged caller. */
const UID = 47011;

let tmp = "";
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "bun-userns-review-"));
  chmodSync(tmp, 0o700);
  chownSync(tmp, UID, UID);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const asUser = ["setpriv", `--reuid=${UID}`, `--regid=${UID}`, "--clear-groups"];
const userEnv = () => ({ ...env, HOME: tmp, TMPDIR: tmp });

describe.skipIf(skip !== "")(`the park program's image${skip}`, () => {
  /** park-image-victim.ts as UID: its first helper's pid, then a way to go on. */
  async function victim() {
    const p = Bun.spawn([...asUser, process.execPath, join(FIXTURES, "park-image-victim.ts")], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
      env: userEnv(),
    });
    const reader = p.stdout.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const line = async () => {
      while (!text.includes("\n")) {
        const c = await reader.read();
        if (c.done) throw new Error("victim ended early");
        text += decoder.decode(c.value);
      }
      const l = text.slice(0, text.indexOf("\n"));
      text = text.slice(text.indexOf("\n") + 1);
      return JSON.parse(l);
    };
    const { pid } = (await line()) as { pid: number };
    return {
      pid,
      async second(): Promise<string> {
        p.stdin.write("go\n");
        p.stdin.end();
        const { second } = (await line()) as { second: string };
        expect(await p.exited).toBe(0);
        return second;
      },
    };
  }

  /** A shell command run as the root of the helper's user namespace (the caller's own uid there). */
  function inside(pid: number, script: string) {
    const r = Bun.spawnSync(["nsenter", "-t", String(pid), "-U", "-n", "--", "sh", "-c", script], {
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
  }

  test("the namespace's root cannot rewrite the program every later helper runs (sealed)", async () => {
    const v = await victim();
    try {
      // It can open the image through the parked helper's exe link...
      expect(inside(v.pid, `test -r /proc/${v.pid}/exe`).code).toBe(0);
      // ...but neither append to it nor truncate it.
      expect(inside(v.pid, `printf x >> /proc/${v.pid}/exe`).code).not.toBe(0);
      expect(inside(v.pid, `: > /proc/${v.pid}/exe`).code).not.toBe(0);
    } finally {
      expect(await v.second()).toBe("ok");
    }
  });

  // The image is reachable from inside through /proc/HELPER/exe and owned by the
  // caller's uid, which is the namespace's root: with one image per process,
  // chmod 0 there made every later helper of that Bun fail. Each helper has its own.
  test("a process inside one helper's namespaces cannot make the caller's later helpers fail", async () => {
    const v = await victim();
    const r = inside(v.pid, `chmod 0 /proc/${v.pid}/exe`);
    expect(r.code).toBe(0); // the attack itself is possible (the kernel allows it to the file's owner)
    expect(await v.second()).toBe("ok");
  });
});

describe.skipIf(skip !== "" || !existsSync("/proc/sys/vm/memfd_noexec"))(
  `vm.memfd_noexec=2${skip || (existsSync("/proc/sys/vm/memfd_noexec") ? "" : " (kernel before 6.3)")}`,
  () => {
    // The error said only "memfd_create: permission denied".
    test("an unprivileged helper refused under vm.memfd_noexec=2 says which setting refused it", () => {
      // A pid namespace of its own: the setting is per pid namespace, the host's is untouched.
      const script = `echo 2 > /proc/sys/vm/memfd_noexec && exec ${asUser.join(" ")} ${process.execPath} ${join(FIXTURES, "park-noexec.ts")}`;
      const r = Bun.spawnSync(["unshare", "-p", "-f", "--mount-proc", "sh", "-c", script], {
        stdout: "pipe",
        stderr: "pipe",
        env: userEnv(),
      });
      expect(r.exitCode).toBe(0);
      const out = JSON.parse(r.stdout.toString().trim()) as { step: string; code: string; hint?: string };
      expect(out.step).toBe("park_image");
      expect(out.code).toBe("EACCES");
      expect(out.hint ?? "").toContain("memfd_noexec");
    });
  },
);

describe.skipIf(skip !== "")(`a caller whose /proc is not its pid namespace's${skip}`, () => {
  // The maps are written to /proc/<pid as the caller sees it>/, which in a /proc
  // of the parent pid namespace is another process: a root caller wrote its
  // helper's uid_map and gid_map into an unrelated process's fresh user
  // namespace, and returned a helper whose own namespace is unmapped. Now it is
  // refused before anything is created, saying why.
  test("a root caller writes no map into another process: refused, naming /proc", () => {
    const r = Bun.spawnSync(
      [
        "unshare",
        "-p",
        "-f",
        "--mount-proc",
        "sh",
        join(FIXTURES, "pidns-map-victims.sh"),
        process.execPath,
        join(FIXTURES, "pidns-helper.ts"),
      ],
      { stdout: "pipe", stderr: "pipe", env },
    );
    const out = r.stdout.toString();
    expect(out).toContain("done");
    expect(out.split("\n").filter((l) => l.startsWith("victim"))).toEqual([]);
    // The caller said why (the fixture's output goes to stderr there).
    expect(r.stderr.toString()).toContain("/proc is not of this process's pid namespace");
  }, 60000);
});
