/**
 * The idmapped-mount rows: an idmapped bind mount + umount of one directory, from
 * bun-userns (maps → a fresh userns per call), the C floor (mount-floor.c,
 * same syscalls, a fresh userns per call), util-linux's whole command; and
 * 10 layers sharing one UsernsFd against one layer.
 */
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getUsernsFdSync, idmapMountSync, openIdmappedTreeSync, unmount } from "../../src/index.ts";
import { timeOnce } from "./cold.ts";
import { type Summary, summarize } from "./stats.ts";

const MAP = "0:100000:65536";

export interface MountRows {
  rows: { name: string; s: Summary; note?: string }[];
  targets: { what: string; value: number; limit: string; pass: boolean }[];
  notes: string[];
}

export function mountRows(n: number): MountRows | { skipped: string } {
  if (process.geteuid?.() !== 0) return { skipped: "idmapped mounts need root" };
  const base = mkdtempSync(join(tmpdir(), "bun-userns-bench-mount-"));
  const src = join(base, "src");
  const dst = join(base, "dst");
  mkdirSync(src);
  mkdirSync(dst);
  writeFileSync(join(src, "f"), "x");
  chownSync(join(src, "f"), 0, 0);
  const out: MountRows = { rows: [], targets: [], notes: [] };
  try {
    try {
      openIdmappedTreeSync(src, { uidMap: MAP, gidMap: MAP }).close();
    } catch (e) {
      return { skipped: `cannot idmap ${src}: ${(e as Error).message}` };
    }
    // bun-userns, maps given: one userns per call, closed after.
    const bun: number[] = [];
    const WARM = 50; // load the native layer and let the JIT settle outside the measurement
    for (let i = 0; i < n + WARM; i++) {
      const t0 = performance.now();
      idmapMountSync(src, dst, { uidMap: MAP, gidMap: MAP });
      unmount(dst);
      if (i >= WARM) bun.push((performance.now() - t0) * 1000);
    }
    const b = summarize(bun);
    out.rows.push({ name: "idmapped bind mount + umount: bun-userns idmapMountSync (fresh userns)", s: b });
    // C floor
    const cc = Bun.which("gcc") ?? Bun.which("cc");
    let floorMedian: number | undefined;
    if (!cc) out.notes.push("mount floor skipped: no gcc/cc");
    else {
      const exe = join(base, "mount-floor");
      const r = Bun.spawnSync([cc, "-O2", "-o", exe, join(import.meta.dir, "mount-floor.c")]);
      if (r.exitCode !== 0) out.notes.push(`mount floor build failed: ${r.stderr.toString().trim()}`);
      else {
        const f = Bun.spawnSync([exe, src, dst, String(n)]);
        const text = f.stdout.toString().trim();
        if (f.exitCode !== 0) out.notes.push(`mount floor failed: ${text}`);
        else {
          const s = summarize(text.split(" ").map((ns) => Number(ns) / 1000));
          floorMedian = s.medianUs;
          out.rows.push({ name: "idmapped bind mount + umount: C floor (mount-floor.c, fresh userns)", s });
          out.targets.push({
            what: "idmapped mount: bun-userns / C floor median",
            value: b.medianUs / s.medianUs,
            limit: "<= 1.25",
            pass: b.medianUs / s.medianUs <= 1.25,
          });
        }
      }
    }
    // util-linux, whole command: mount + umount.
    const mount = Bun.which("mount");
    const umount = Bun.which("umount");
    if (mount && umount) {
      const argv = [mount, "--bind", "-o", `X-mount.idmap=u:0:100000:65536 g:0:100000:65536`, src, dst];
      // Does this util-linux honour X-mount.idmap? (2.39 added it; 2.38 ignores X-* options.)
      const t = timeOnce(argv);
      let honoured = false;
      if (typeof t === "number") {
        honoured = lstatSync(join(dst, "f")).uid === 100000;
        Bun.spawnSync([umount, dst]);
      }
      const version = `util-linux ${/util-linux ([\d.]+)/.exec(Bun.spawnSync([mount, "--version"]).stdout.toString())?.[1] ?? "?"}`;
      if (typeof t === "string") out.notes.push(`util-linux mount failed: ${t}`);
      else {
        const xs: number[] = [];
        for (let i = 0; i < Math.max(5, n / 4); i++) {
          const m = timeOnce(argv);
          const u = timeOnce([umount, dst]);
          if (typeof m === "number" && typeof u === "number") xs.push(m + u);
        }
        const s = summarize(xs);
        const note = honoured ? "idmap honoured" : `${version}: X-mount.idmap IGNORED (plain bind, not idmapped)`;
        out.rows.push({
          name: `idmapped bind mount + umount: util-linux mount --bind -o X-mount.idmap + umount (${note})`,
          s,
        });
        out.targets.push({
          what: `util-linux whole command / bun-userns median${honoured ? "" : " (util-linux did not idmap)"}`,
          value: s.medianUs / b.medianUs,
          limit: ">= 5",
          pass: s.medianUs / b.medianUs >= 5,
        });
      }
    }
    // 10 layers sharing one UsernsFd vs one layer (open_tree + setattr + move_mount, then umount).
    const layers = Array.from({ length: 10 }, (_, i) => {
      const d = join(base, `layer${i}`);
      mkdirSync(d);
      return d;
    });
    using ns = getUsernsFdSync(MAP, MAP);
    const one: number[] = [];
    const ten: number[] = [];
    const layerRuns = Math.max(10, n / 2);
    for (let i = 0; i < layerRuns + 20; i++) {
      let t0 = performance.now();
      const tree = openIdmappedTreeSync(src, ns);
      tree.attach(layers[0] as string);
      tree.close(); // an open tree fd keeps the mount busy
      const t1 = performance.now();
      unmount(layers[0] as string);
      if (i >= 20) one.push((t1 - t0) * 1000);
      t0 = performance.now();
      for (const l of layers) {
        using tree = openIdmappedTreeSync(src, ns);
        tree.attach(l);
      }
      const t2 = performance.now();
      for (const l of layers) unmount(l);
      if (i >= 20) ten.push((t2 - t0) * 1000);
    }
    const s1 = summarize(one);
    const s10 = summarize(ten);
    out.rows.push({ name: "1 layer: open_tree+mount_setattr+move_mount, shared UsernsFd", s: s1 });
    out.rows.push({ name: "10 layers: the same, one shared UsernsFd", s: s10 });
    out.targets.push({
      what: "10 layers sharing one UsernsFd / 1 layer",
      value: s10.medianUs / s1.medianUs,
      limit: "<= 10",
      pass: s10.medianUs / s1.medianUs <= 10,
    });
    if (floorMedian === undefined) out.notes.push("no C floor: no floor ratio for the mount row");
    return out;
  } finally {
    for (const d of [dst, ...Array.from({ length: 10 }, (_, i) => join(base, `layer${i}`))]) {
      try {
        unmount(d, { detach: true });
      } catch {}
    }
    // Remove only the empty directories we made (never under a mountpoint: rmdir refuses a busy one).
    for (const d of [dst, src, ...Array.from({ length: 10 }, (_, i) => join(base, `layer${i}`))]) {
      try {
        if (d === src) {
          Bun.spawnSync(["rm", "-f", join(src, "f")]);
        }
        if (existsSync(d)) rmdirSync(d);
      } catch {}
    }
    try {
      Bun.spawnSync(["rm", "-f", join(base, "mount-floor")]);
      rmdirSync(base);
    } catch {}
  }
}

if (import.meta.main) {
  const r = mountRows(Number(process.argv[2] ?? 50));
  console.log(JSON.stringify(r, null, 2));
}
