// The rootless path, as a throwaway user with /etc/subuid and /etc/subgid
// ranges. The user, its name and its ranges are this run's own: made with
// useradd/usermod and removed with userdel, never by rewriting /etc files
// (other processes change them meanwhile).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot } from "./support/proc.ts";

const tools = ["setpriv", "useradd", "usermod", "userdel", "newuidmap", "newgidmap"].every((t) => Bun.which(t));
const USER = `bununs-rl${process.pid}`;
/** Above 900010 (the fixture's out-of-range try) and apart from other suites' ranges. */
const SUB = 70_000_000 + (process.pid % 1000) * 65536;
let UID = 0;
let dir = "";
let home = "";

function must(argv: string[]): string {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout.toString().trim();
}

async function asUser(cmd: string[]) {
  const p = Bun.spawn(["setpriv", `--reuid=${UID}`, `--regid=${UID}`, "--clear-groups", ...cmd], {
    // Its own TMPDIR (Bun's compiler cache goes there), removed with the user.
    env: { ...process.env, HOME: home, TMPDIR: home },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

describe.skipIf(!isRoot || !tools)(
  "rootless (needs root to make the user, util-linux setpriv, shadow's useradd/usermod/userdel and uidmap)",
  () => {
    beforeAll(() => {
      // No automatic ranges (SUB_*_COUNT=0): exactly the one range given below.
      must(["useradd", "-M", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "-U", "-s", "/bin/sh", USER]);
      must(["usermod", "--add-subuids", `${SUB}-${SUB + 65535}`, "--add-subgids", `${SUB}-${SUB + 65535}`, USER]);
      UID = Number(must(["id", "-u", USER]));
      expect(Number(must(["id", "-g", USER]))).toBe(UID); // the fixtures map gid UID
      home = mkdtempSync(join(tmpdir(), "bun-userns-rootless-"));
      chmodSync(home, 0o700);
      must(["chown", `${UID}:${UID}`, home]);
      // Copies of the tools without the setuid bit.
      dir = mkdtempSync(join(tmpdir(), "bun-userns-nosuid-"));
      for (const t of ["newuidmap", "newgidmap"]) copyFileSync(Bun.which(t) as string, join(dir, t));
      for (const t of ["newuidmap", "newgidmap"]) chmodSync(join(dir, t), 0o755);
      chmodSync(dir, 0o755);
    });
    afterAll(() => {
      Bun.spawnSync(["userdel", USER]); // its entries in passwd, group, shadow, subuid and subgid go with it
      for (const d of [dir, home]) if (d) rmSync(d, { recursive: true, force: true });
    });

    test("as the user: auto maps own id + 65536, out-of-range, missing or non-setuid tools, no leaks", async () => {
      const r = await asUser([
        process.execPath,
        join(import.meta.dir, "fixtures", "rootless-check.ts"),
        `${dir}:/usr/bin:/bin`,
      ]);
      expect(r.err).toBe("");
      const out = JSON.parse(r.out.trim());
      expect(out.uid).toBe(UID);
      expect(out.ids.uid).toEqual([{ containerID: 1, hostID: SUB, size: 65536 }]);
      expect(out.ids.gid).toEqual([{ containerID: 1, hostID: SUB, size: 65536 }]);
      expect(out.auto).toEqual({ ok: true });
      // 65537 ids: both lines, in /proc/PID/uid_map and gid_map.
      expect(out.maps.uid).toEqual([`0 ${UID} 1`, `1 ${SUB} 65536`]);
      expect(out.maps.gid).toEqual([`0 ${UID} 1`, `1 ${SUB} 65536`]);
      // A subgid range is mapped, so newgidmap leaves setgroups "allow".
      expect(out.maps.setgroups).toEqual(["allow"]);
      expect(out.outside).toMatchObject({ ok: false, isUsernsError: true, step: "newuidmap", code: "EPERM" });
      expect(out.outside.message).toContain("uid range [1-11) -> [900000-900010) not allowed");
      expect(out.outside.hint).toContain(`yours: ${SUB}:65536`);
      expect(out.unsetuid).toMatchObject({ ok: false, step: "newuidmap", code: "EPERM" });
      expect(out.unsetuid.message).toContain("write to uid_map failed: Operation not permitted");
      expect(out.unsetuid.hint).toContain("neither setuid root nor given file capabilities");
      expect(out.missing).toMatchObject({ ok: false, step: "newuidmap", code: "ENOENT" });
      expect(out.missing.hint).toContain("apt-get install uidmap");
      expect(out.ownOnly).toEqual({ ok: true });
      // Bun opens a few descriptors of its own at its first spawn; after that, none grow.
      expect(out).toMatchObject({ loopErrors: 0, pidOrNsFds: 0, fdsLeakedByLoop: 0, children: "", live: 0 });
    }, 60000);

    test("as the user: spawnInside and exec enter the namespaces (time with offsets); the caller's mm is never sealed", async () => {
      const r = await asUser([process.execPath, join(import.meta.dir, "fixtures", "rootless-exec.ts")]);
      expect(r.err).toBe("");
      const out = JSON.parse(r.out.trim());
      expect(out.uid).toBe(UID);
      expect(out.dumpableAtStart).toBe(true);
      expect(out.inside.uid).toBe("0");
      expect(out.inside).toMatchObject({ netIsHelpers: true, netIsOurs: false });
      // Without time namespaces (before Linux 5.6) the fixture says null; with them, the offset shows.
      const timeNs = existsSync("/proc/self/ns/time");
      const offset = out.inside.uptimeOffset === null ? null : Math.round(out.inside.uptimeOffset);
      expect(offset).toBe(timeNs ? 1_000_000 : null);
      expect(out.dumpableAfterHelper).toBe(true);
      expect(out.openAfterHelper).toEqual({ ok: true });
      expect(out.foreignExit).toBe(0);
      expect(out.dumpableAfterForeign).toBe(true);
      expect(out.openAfterForeign).toEqual({ ok: true });
      expect(out.exit).toBe(137);
      const cli = join(import.meta.dir, "..", "src", "cli.ts");
      const ex = await asUser([
        process.execPath,
        cli,
        "exec",
        "-r",
        "-n",
        "-p",
        "-f",
        "--mount-proc",
        "--",
        "sh",
        "-c",
        "id -u; echo $$; readlink /proc/self/ns/net",
      ]);
      expect(ex.err).toBe("");
      expect(ex.code).toBe(0);
      const [id, pid, net] = ex.out.trim().split("\n");
      expect([id, pid]).toEqual(["0", "1"]);
      expect(net).not.toBe(readlinkSync("/proc/self/ns/net"));
    }, 60000);

    test("CLI: run --map-auto as the user maps the whole subordinate range from 0, as util-linux; doctor says --map-auto works", async () => {
      const cli = join(import.meta.dir, "..", "src", "cli.ts");
      const r = await asUser([
        process.execPath,
        cli,
        "run",
        "--map-auto",
        "--",
        "sh",
        "-c",
        "cat /proc/$USERNS_PID/uid_map",
      ]);
      expect(r.code).toBe(0);
      expect(
        r.out
          .trim()
          .split("\n")
          .map((l) => l.trim().split(/\s+/).join(" ")),
      ).toEqual([`0 ${SUB} 65536`]);
      const d = await asUser([process.execPath, cli, "doctor", "--json"]);
      const checks = JSON.parse(d.out).checks as { name: string; status: string; detail: string }[];
      expect(checks.find((c) => c.name === "map_auto")).toMatchObject({ status: "ok" });
      expect(checks.find((c) => c.name === "subid")?.detail).toBe(`${USER}: subuid ${SUB}:65536; subgid ${SUB}:65536`);
    }, 60000);
  },
);
