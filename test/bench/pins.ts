/**
 * The pin rows: pinNamespaces + unpin per call against a C floor
 * doing open + create + bind mount + umount + unlink (pins-floor.c). The
 * whole commands, against util-linux and iproute2, are in oneshot.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLONE_NEWNET, pinNamespaces, startHelper } from "../../src/index.ts";
import { type Summary, summarize } from "./stats.ts";

const ROOT = `0:${process.geteuid?.() ?? 0}:1`;

export interface PinRows {
  rows: { name: string; s: Summary }[];
  notes: string[];
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
