/**
 * The pin rows: pinNamespaces + unpin per call against a C floor
 * doing open + create + bind mount + umount + unlink (pins-floor.c), and the
 * whole commands against util-linux (`unshare --net=FILE true` + `umount`)
 * and iproute2 (`ip netns attach` + `ip netns delete`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLONE_NEWNET, pinNamespaces, startHelper } from "../../src/index.ts";
import { timeOnce } from "./cold.ts";
import { type Summary, summarize } from "./stats.ts";

const ROOT = `0:${process.geteuid?.() ?? 0}:1`;
const CLI = join(import.meta.dir, "..", "..", "src", "cli.ts");

export interface PinRows {
  rows: { name: string; s: Summary }[];
  notes: string[];
}

/** Median of a sequence of commands run back to back, `runs` times. */
function wholeSequence(steps: string[][], runs: number): Summary | string {
  const xs: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    let total = 0;
    for (const argv of steps) {
      const t = timeOnce(argv);
      if (typeof t === "string") return `${argv.join(" ")}: ${t}`;
      total += t;
    }
    if (i >= 2) xs.push(total);
  }
  return summarize(xs);
}

export function pinRows(n: number): PinRows | { skipped: string } {
  if (process.geteuid?.() !== 0) return { skipped: "pins are bind mounts: they need root" };
  const out: PinRows = { rows: [], notes: [] };
  const dir = mkdtempSync(join(tmpdir(), "bun-userns-bench-pins-"));
  const WARM = 30;
  try {
    using h = startHelper(ROOT, ROOT, CLONE_NEWNET);
    const path = join(dir, "net");
    const per: number[] = [];
    for (let i = 0; i < n + WARM; i++) {
      const t0 = performance.now();
      pinNamespaces(h, { net: path }).unpin();
      if (i >= WARM) per.push((performance.now() - t0) * 1000);
    }
    const s = summarize(per);
    out.rows.push({ name: "pinNamespaces(helper, { net }) + unpin()", s });

    const cc = Bun.which("gcc") ?? Bun.which("cc");
    if (!cc) out.notes.push("pins floor skipped: no gcc/cc");
    else {
      const exe = join(dir, "pins-floor");
      const b = Bun.spawnSync([cc, "-O2", "-o", exe, join(import.meta.dir, "pins-floor.c")]);
      const f = b.exitCode === 0 ? Bun.spawnSync([exe, String(h.pid), dir, String(n + WARM)]) : b;
      if (f.exitCode !== 0) out.notes.push(`pins floor failed: ${f.stderr.toString().trim()}`);
      else {
        const floor = summarize(
          f.stdout
            .toString()
            .trim()
            .split(" ")
            .slice(WARM)
            .map((ns) => Number(ns) / 1000),
        );
        out.rows.push({ name: "C floor: open ns + create + bind mount + umount2 + unlink (pins-floor.c)", s: floor });
        out.notes.push(`pinNamespaces + unpin / C floor median: ${(s.medianUs / floor.medianUs).toFixed(2)}x`);
      }
    }

    const runs = Math.max(5, Math.floor(n / 10));
    const whole: [string, string[][]][] = [
      [
        "bun-userns pin -n --net=F + bun-userns unpin F",
        [
          [process.execPath, CLI, "pin", "-n", `--net=${path}`],
          [process.execPath, CLI, "unpin", path],
        ],
      ],
    ];
    const unshare = Bun.which("unshare");
    const umount = Bun.which("umount");
    if (unshare && umount) {
      whole.push([
        "util-linux: touch F; unshare --net=F true; umount F; rm F",
        [
          ["touch", path],
          [unshare, `--net=${path}`, "true"],
          [umount, path],
          ["rm", path],
        ],
      ]);
    } else out.notes.push("util-linux unshare/umount not installed: no util-linux pin row");
    const ip = Bun.which("ip");
    if (ip) {
      const name = `bun-userns-bench-${process.pid}`;
      whole.push([
        `iproute2: ip netns attach NAME PID; ip netns delete NAME`,
        [
          [ip, "netns", "attach", name, String(h.pid)],
          [ip, "netns", "delete", name],
        ],
      ]);
    } else out.notes.push("iproute2 not installed: no ip netns row");
    for (const [name, steps] of whole) {
      const r = wholeSequence(steps, runs);
      if (typeof r === "string") out.notes.push(`${name} failed: ${r}`);
      else out.rows.push({ name: `whole commands: ${name}`, s: r });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.main) {
  const r = pinRows(Number(process.argv[2] ?? 200));
  if ("skipped" in r) console.log(`skipped: ${r.skipped}`);
  else {
    for (const row of r.rows)
      console.log(`${row.name.padEnd(80)} ${row.s.medianUs.toFixed(0).padStart(8)} µs  p99 ${row.s.p99Us.toFixed(0)}`);
    for (const note of r.notes) console.log(`note: ${note}`);
  }
}
