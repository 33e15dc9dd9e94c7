/** One-shot cost: a whole `bun -e` doing one cycle, against `bun -e 0` and util-linux. */
import { join } from "node:path";

const INDEX = join(import.meta.dir, "..", "..", "src", "index.ts");
const ONE_CYCLE = `const m = await import(${JSON.stringify(INDEX)}); await m.unshareAfterEnterUserns("0:1000:10", "0:1000:10", m.CLONE_NEWIPC, (pid) => require("node:fs").closeSync(require("node:fs").openSync("/proc/" + pid + "/ns/user", "r")));`;

export interface ColdCommand {
  name: string;
  argv: string[];
}

export function coldCommands(): ColdCommand[] {
  const cmds: ColdCommand[] = [
    { name: "bun -e 0", argv: [process.execPath, "-e", "0"] },
    { name: "bun -e <import bun-userns + one cycle>", argv: [process.execPath, "-e", ONE_CYCLE] },
  ];
  const unshare = Bun.which("unshare");
  if (unshare) {
    // util-linux takes outer,inner,count (the reverse of containerd) and runs newuidmap/newgidmap.
    cmds.push({
      name: "unshare --user --map-users=1000,0,10 --map-groups=1000,0,10 --ipc true",
      argv: [unshare, "--user", "--map-users=1000,0,10", "--map-groups=1000,0,10", "--ipc", "true"],
    });
    cmds.push({
      name: "unshare --user --map-root-user --ipc true",
      argv: [unshare, "--user", "--map-root-user", "--ipc", "true"],
    });
  }
  return cmds;
}

/** Wall-clock microseconds of one run, or an error text if it failed. */
export function timeOnce(argv: string[]): number | string {
  const t0 = performance.now();
  const r = Bun.spawnSync(argv, { stdout: "ignore", stderr: "pipe" });
  const us = (performance.now() - t0) * 1000;
  if (r.exitCode !== 0) return r.stderr.toString().trim().split("\n")[0] || `exit ${r.exitCode}`;
  return us;
}
