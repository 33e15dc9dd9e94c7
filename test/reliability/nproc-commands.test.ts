// spawnInside under a small RLIMIT_NPROC, as an unprivileged user: refused
// with EAGAIN before anything is created, never a Bun abort.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { isRoot, othersTmp } from "../support/proc.ts";

const tools = ["setpriv", "useradd", "userdel"].every((t) => Bun.which(t));
const USER = `bunuserns-np${process.pid}`;
let uid = -1;
let home = "";

beforeAll(() => {
  if (!isRoot || !tools) return;
  const r = Bun.spawnSync(["useradd", "-M", "-s", "/bin/sh", USER], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`useradd: ${r.stderr}`);
  uid = Number(Bun.spawnSync(["id", "-u", USER]).stdout.toString().trim());
  home = othersTmp("bun-userns-nproc-");
});
afterAll(() => {
  if (uid >= 0) Bun.spawnSync(["userdel", USER]);
  if (home) rmSync(home, { recursive: true, force: true });
});

test.skipIf(!isRoot || !tools)(
  "51 commands in flight under ulimit -u 60: the rest are refused with EAGAIN and the RLIMIT_NPROC hint, Bun exits 0 (needs root to make a user, setpriv)",
  async () => {
    const p = Bun.spawn(
      [
        "setpriv",
        `--reuid=${uid}`,
        `--regid=${uid}`,
        "--clear-groups",
        "bash",
        "-c",
        'ulimit -u 60 && exec "$0" "$1" 51',
        process.execPath,
        new URL("../fixtures/nproc-commands.ts", import.meta.url).pathname,
      ],
      { env: { ...process.env, HOME: home, TMPDIR: home }, stdout: "pipe", stderr: "pipe" },
    );
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    expect(err).not.toContain("panic");
    expect(code).toBe(0);
    const r = JSON.parse(out.trim());
    expect(r.refused).toBeGreaterThan(0);
    expect(r.started + r.refused).toBe(51);
    expect(r.codes).toEqual(["EAGAIN"]);
    expect(r.hint).toContain("RLIMIT_NPROC");
  },
  60_000,
);
