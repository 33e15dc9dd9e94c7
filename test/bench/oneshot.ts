/**
 * One-shot commands, each a whole process, against a bare Bun start and the
 * peers' whole commands (util-linux, bubblewrap, iproute2). All commands take
 * turns in every round, so a busy moment of this shared machine lands on all
 * of them alike; the targets are ratios of medians within this one run.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Summary, summarize } from "./stats.ts";

const ROOT = join(import.meta.dir, "..", "..");
const BIN = join(ROOT, "src", "bin", "bun-userns");
const CLI = join(ROOT, "src", "cli.ts");
const INDEX = join(ROOT, "src", "index.ts");

export interface OneshotRows {
  rows: { name: string; s: Summary }[];
  targets: { what: string; value: number; limit: string; pass: boolean }[];
  notes: string[];
}

/** One whole run: wall and CPU (user + system, the process and what it reaped) in µs, or why it failed. */
function runOnce(argv: string[], env: Record<string, string | undefined>): { wall: number; cpu: number } | string {
  const t0 = performance.now();
  const r = Bun.spawnSync(argv, { stdout: "ignore", stderr: "pipe", env });
  const wall = (performance.now() - t0) * 1000;
  if (r.exitCode !== 0) return r.stderr.toString().trim().split("\n")[0] || `exit ${r.exitCode}`;
  return { wall, cpu: Number(r.resourceUsage?.cpuTime.total ?? Number.NaN) };
}

interface Cmd {
  name: string;
  argv: string[];
  /** The limit of this command's median over `bun -e 0`'s. */
  limit?: number;
}

export function oneshotRows(runs: number): OneshotRows {
  const out: OneshotRows = { rows: [], targets: [], notes: [] };
  const base = mkdtempSync(join(tmpdir(), "bun-userns-bench-oneshot-"));
  // The installed command is the launcher (src/bin/bun-userns) on PATH's bun or the project's: point it at this Bun.
  const env = { ...process.env, PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH}` };
  try {
    const src = join(base, "src");
    const dst = join(base, "dst");
    mkdirSync(src);
    mkdirSync(dst);
    writeFileSync(join(src, "f"), "x");
    writeFileSync(join(base, "empty.ts"), "export {};\n");
    const pin = join(base, "net");
    const root = process.geteuid?.() === 0;
    // The package as packed (what bunx and npx run): a copy with the prepack script's dist/ built in it.
    const packed = join(base, "package");
    for (const d of ["src", "native", "package.json"]) cpSync(join(ROOT, d), join(packed, d), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(packed, "node_modules"));
    const built = Bun.spawnSync([process.execPath, join(packed, "src", "packed", "bundle-cli.ts")], { stderr: "pipe" });
    if (built.exitCode !== 0) throw new Error(`prepack's bundle failed: ${built.stderr.toString()}`);
    const PACKED = join(packed, "src", "bin", "bun-userns");
    const cmds: Cmd[] = [
      { name: "bun -e 0", argv: [process.execPath, "-e", "0"] },
      { name: "bun-userns --version (packed)", argv: [PACKED, "--version"], limit: 1.1 },
      { name: "bun-userns --help (packed)", argv: [PACKED, "--help"], limit: 1.1 },
      { name: "bun-userns --version (checkout: src/)", argv: [BIN, "--version"] },
      { name: "bun src/cli.ts --version (Bun itself, no launcher)", argv: [process.execPath, CLI, "--version"] },
      {
        name: "bun -e 'await import(<an empty .ts file>)' (any import's floor)",
        argv: [process.execPath, "-e", `await import(${JSON.stringify(join(base, "empty.ts"))})`],
      },
      {
        name: "bun -e 'await import(\"bun-userns\")' (no call)",
        argv: [process.execPath, "-e", `await import(${JSON.stringify(INDEX)})`],
        limit: 1.15,
      },
      { name: "bun-userns exec -r -n -- true (packed)", argv: [PACKED, "exec", "-r", "-n", "--", "true"], limit: 1.6 },
      { name: "bun-userns run -r -- true (packed)", argv: [PACKED, "run", "-r", "--", "true"], limit: 1.6 },
      { name: "bun-userns exec -r -n -- true (checkout: src/)", argv: [BIN, "exec", "-r", "-n", "--", "true"] },
      { name: "bun-userns run -r -- true (checkout: src/)", argv: [BIN, "run", "-r", "--", "true"] },
    ];
    if (root) {
      cmds.push(
        {
          name: "bun-userns mount --map 0:100000:65536 SRC DST (packed)",
          argv: [PACKED, "mount", "--map", "0:100000:65536", src, dst],
          limit: 1.5,
        },
        { name: "bun-userns umount DST (packed)", argv: [PACKED, "umount", dst], limit: 1.5 },
        { name: "bun-userns pin -n --net=F (packed)", argv: [PACKED, "pin", "-n", `--net=${pin}`], limit: 1.5 },
        { name: "bun-userns unpin F (packed)", argv: [PACKED, "unpin", pin], limit: 1.5 },
        {
          name: "bun-userns mount --map 0:100000:65536 SRC DST (checkout: src/)",
          argv: [BIN, "mount", "--map", "0:100000:65536", src, dst],
        },
        { name: "bun-userns umount DST (checkout: src/)", argv: [BIN, "umount", dst] },
      );
    } else out.notes.push("mount and pin rows skipped: they need root");
    const unshare = Bun.which("unshare");
    const bwrap = Bun.which("bwrap");
    const mount = Bun.which("mount");
    const umount = Bun.which("umount");
    const ip = Bun.which("ip");
    if (unshare) cmds.push({ name: "util-linux: unshare -r -n true", argv: [unshare, "-r", "-n", "true"] });
    else out.notes.push("util-linux unshare not installed: no unshare row");
    if (bwrap)
      cmds.push({
        name: "bwrap --unshare-user --unshare-net --bind / / true",
        argv: [bwrap, "--unshare-user", "--unshare-net", "--bind", "/", "/", "true"],
      });
    else out.notes.push("bubblewrap not installed (apt-get install bubblewrap): no bwrap row");
    if (root && mount && umount) {
      cmds.push(
        {
          name: "util-linux: mount --bind -o X-mount.idmap=... SRC DST",
          argv: [mount, "--bind", "-o", "X-mount.idmap=u:0:100000:65536 g:0:100000:65536", src, dst],
        },
        { name: "util-linux: umount DST", argv: [umount, dst] },
      );
    }
    if (root && unshare && umount) {
      cmds.push(
        {
          name: "util-linux: touch F && unshare --net=F true",
          argv: ["/bin/sh", "-c", `touch ${pin} && ${unshare} --net=${pin} true`],
        },
        { name: "util-linux: umount F && rm F", argv: ["/bin/sh", "-c", `${umount} ${pin} && rm ${pin}`] },
      );
    }
    if (root && ip) {
      const name = `bun-userns-bench-${process.pid}`;
      cmds.push(
        { name: "iproute2: ip netns add NAME", argv: [ip, "netns", "add", name] },
        { name: "iproute2: ip netns delete NAME", argv: [ip, "netns", "delete", name] },
      );
    }
    const samples = new Map<string, number[]>();
    const cpu = new Map<string, number[]>();
    const failed = new Map<string, string>();
    // A failed run is noted and the command tried again next round: other engineers' tests on this machine
    // flip sysctls for a while (fs.suid_dumpable=1 makes exec refuse, rightly).
    for (let r = 0; r < runs + 2; r++) {
      for (const c of cmds) {
        const t = runOnce(c.argv, env);
        if (typeof t === "string") failed.set(c.name, t);
        else if (r >= 2) {
          samples.set(c.name, [...(samples.get(c.name) ?? []), t.wall]);
          cpu.set(c.name, [...(cpu.get(c.name) ?? []), t.cpu]);
        }
      }
    }
    const bare = samples.get("bun -e 0");
    const bareMedian = bare ? summarize(bare).medianUs : Number.NaN;
    const bareCpu = summarize(cpu.get("bun -e 0") ?? []).medianUs;
    for (const c of cmds) {
      const why = failed.get(c.name);
      const xs = samples.get(c.name);
      if (why) out.notes.push(`one-shot "${c.name}" failed at least once here: ${why}`);
      if (xs) {
        const s = summarize(xs);
        out.rows.push({ name: `one-shot: ${c.name}`, s });
        // CPU time: what a busy shared machine inflates least (waiting for a core is not in it).
        const c1 = summarize(cpu.get(c.name) ?? []).medianUs;
        if (c.name !== "bun -e 0")
          out.notes.push(
            `one-shot CPU (user+system, median): ${c.name}: ${(c1 / 1000).toFixed(1)} ms, ${(c1 / bareCpu).toFixed(2)}x bun -e 0's ${(bareCpu / 1000).toFixed(1)} ms`,
          );
        if (c.limit !== undefined)
          out.targets.push({
            what: `one-shot: ${c.name} / bun -e 0 median`,
            value: s.medianUs / bareMedian,
            limit: `<= ${c.limit}`,
            pass: s.medianUs / bareMedian <= c.limit,
          });
      }
    }
    const empty = samples.get("bun -e 'await import(<an empty .ts file>)' (any import's floor)");
    const pkg = samples.get("bun -e 'await import(\"bun-userns\")' (no call)");
    if (empty && pkg)
      out.notes.push(
        `import("bun-userns") / import(<an empty .ts file>) median: ${(summarize(pkg).medianUs / summarize(empty).medianUs).toFixed(2)}x (the package's own share of its import)`,
      );
  } finally {
    // A round cut short may leave the mount or the pin in place.
    for (const left of ["dst", "net"])
      if (existsSync(join(base, left))) Bun.spawnSync(["umount", join(base, left)], { stderr: "ignore" });
    rmSync(base, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.main) {
  const r = oneshotRows(Number(process.argv[2] ?? 20));
  for (const row of r.rows)
    console.log(
      `${row.name.padEnd(64)} ${(row.s.medianUs / 1000).toFixed(2).padStart(8)} ms  p99 ${(row.s.p99Us / 1000).toFixed(2)}`,
    );
  for (const t of r.targets)
    console.log(`${t.pass ? "PASS" : "MISS"}  ${t.what}: ${t.value.toFixed(2)} (target ${t.limit})`);
  for (const note of r.notes) console.log(`note: ${note}`);
}
