/**
 * The rootless cycle: maps written by shadow's newuidmap and newgidmap (two
 * setuid processes per call), against util-linux unshare doing the same as
 * a whole command. With /etc/subuid ranges for this user both use
 * --map-auto's maps; without, both map only the own ids (newuidmap allows
 * that without ranges).
 */
import { closeSync, openSync } from "node:fs";
import { subordinateIds, unshareAfterEnterUserns } from "../../src/index.ts";
import { timeOnce } from "./cold.ts";
import { type Summary, summarize } from "./stats.ts";

export async function rootlessRows(
  n: number,
): Promise<
  { skipped: string } | { maps: string; bun: Summary; unshareName: string; unshare: Summary; podman?: Summary }
> {
  const unshare = Bun.which("unshare");
  if (!Bun.which("newuidmap") || !Bun.which("newgidmap")) return { skipped: "newuidmap/newgidmap not installed" };
  if (!unshare) return { skipped: "util-linux unshare not installed" };
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  let auto = true;
  try {
    subordinateIds();
  } catch {
    auto = false;
  }
  const uidMap = auto ? "auto" : `0:${uid}:1`;
  const gidMap = auto ? "auto" : `0:${gid}:1`;
  const bun: number[] = [];
  for (let i = 0; i < n + 5; i++) {
    const t0 = performance.now();
    await unshareAfterEnterUserns(uidMap, gidMap, 0, (pid) => closeSync(openSync(`/proc/${pid}/ns/user`, "r")), {
      mapper: "newuidmap",
    });
    if (i >= 5) bun.push((performance.now() - t0) * 1000);
  }
  // util-linux 2.38 takes outer,inner,count; --map-users runs newuidmap like --map-auto does.
  const argv = auto
    ? [unshare, "--user", "--map-auto", "true"]
    : [unshare, "--user", `--map-users=${uid},0,1`, `--map-groups=${gid},0,1`, "true"];
  const whole: number[] = [];
  for (let i = 0; i < Math.max(5, n / 4); i++) {
    const t = timeOnce(argv);
    if (typeof t === "string") return { skipped: `${argv.join(" ")} failed: ${t}` };
    whole.push(t);
  }
  const podman = Bun.which("podman");
  let pod: Summary | undefined;
  if (podman) {
    const xs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = timeOnce([podman, "unshare", "true"]);
      if (typeof t === "number") xs.push(t);
    }
    if (xs.length) pod = summarize(xs);
  }
  return {
    maps: auto ? "auto" : "own ids",
    bun: summarize(bun),
    unshareName: argv.slice(1).join(" "),
    unshare: summarize(whole),
    podman: pod,
  };
}
