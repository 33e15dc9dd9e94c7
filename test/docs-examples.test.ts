/**
 * The documentation's TypeScript examples run as printed: every ```ts block of
 * README.md and docs/*.md, each named by the `<!-- example: NAME -->` line
 * above it, runs in a fresh Bun against this checkout's src/, with TMPDIR set
 * to an empty scratch directory. Its stdout must be what the doc's comments
 * say (EXPECT below), and it must leave that directory empty and no mount
 * under it. One harness for every doc; an unnamed, unknown or differently
 * fenced TypeScript block fails here rather than going unrun.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsTypeOf, idmapUnsupported, mountinfo } from "./support/mounts.ts";
import { isRoot, rootIsInitramfs } from "./support/proc.ts";

const ROOT = join(import.meta.dir, "..");
const INDEX = join(ROOT, "src", "index.ts");
const DOCS = ["README.md", ...readdirSync(join(ROOT, "docs")).map((f) => `docs/${f}`)].filter((f) => f.endsWith(".md"));

interface Block {
  doc: string;
  line: number;
  lang: string;
  name: string | undefined;
  code: string;
}

/** Every fenced block, with its language and the example name on the line above it. */
function blocks(doc: string): Block[] {
  const lines = readFileSync(join(ROOT, doc), "utf8").split("\n");
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const end = lines.indexOf("```", i + 1);
    if (end < 0) throw new Error(`${doc}:${i + 1}: unclosed fence`);
    const name = /^<!-- example: ([\w-]+) -->$/.exec(lines[i - 1] ?? "")?.[1];
    out.push({ doc, line: i + 1, lang: open[1] as string, name, code: `${lines.slice(i + 1, end).join("\n")}\n` });
    i = end;
  }
  return out;
}

/** Why this machine cannot run an example, or undefined. */
type Need = () => string | undefined;
const root: Need = () => (isRoot ? undefined : "needs root");
const userns: Need = () => {
  if (isRoot) return undefined;
  const unshare = Bun.which("unshare");
  if (!unshare) return "needs util-linux unshare to see whether unprivileged user namespaces work here";
  return Bun.spawnSync([unshare, "--user", "true"]).exitCode === 0
    ? undefined
    : "this machine allows no unprivileged user namespaces";
};
const idmapTmp: Need = () => {
  if (!isRoot) return "needs root";
  const why = idmapUnsupported(fsTypeOf(tmpdir()));
  return why && `TMPDIR cannot be idmapped: ${why}`;
};

/** The sandbox example's view links /lib64 to usr/lib64. */
const sandboxView: Need = () =>
  !isRoot
    ? "needs root"
    : rootIsInitramfs
      ? "/ is the initial ramfs here, which pivot_root refuses to leave"
      : existsSync("/usr/lib64")
        ? undefined
        : "needs a /usr/lib64 for the example's links";

/** What each example needs from the machine, and what it must print. */
const EXPECT: Record<string, { needs: Need; stdout: RegExp }> = {
  "readme-cycle": { needs: userns, stdout: new RegExp(`^0 ${process.getuid?.()} 1\ntrue\n$`) },
  "api-cycle": {
    needs: root,
    stdout: new RegExp(
      [
        "^ +0 +1000 +10\\n",
        "net:\\[\\d+\\]\\n",
        "mnt:\\[\\d+\\]\\n",
        "\\d+ 100000\\n",
        '\\[\\{"containerID":0,"hostID":1000,"size":10\\},\\{"containerID":100,"hostID":2000,"size":5\\}\\]\\n',
        "failed to ensure child process is alive: no such process ESRCH liveness\\n",
        "true\\n",
        "\\d+ \\d+\\n$",
      ].join(""),
    ),
  },
  "api-mount": { needs: idmapTmp, stdout: /^100000\n$/ },
  "api-spawn-inside": { needs: root, stdout: /^0 "0\\n {9}0 {5}100000 {6}65536\\n"\n"1 1\\n" 0\n137\n$/ },
  "api-pins": { needs: root, stdout: /^true true\n" {9}0 {5}100000 {6}65536\\n" 0\n$/ },
  "api-time": { needs: root, stdout: /^24 0\nEACCES time_offsets\n$/ },
  "sandbox-build": { needs: sandboxView, stdout: /^0 bin dev etc lib lib64 proc tmp usr work\n$/ },
};

const all = DOCS.flatMap(blocks);
const TS = new Set(["ts", "typescript", "js", "javascript", "tsx", "jsx", "mjs", "cjs", "mts"]);
const examples = all.filter((b) => TS.has(b.lang));

describe("the docs' TypeScript blocks", () => {
  test("are fenced ```ts and named, each name once and known to this harness", () => {
    const where = (b: Block) => `${b.doc}:${b.line}`;
    expect(examples.filter((b) => b.lang !== "ts").map(where)).toEqual([]);
    expect(examples.filter((b) => b.name === undefined).map(where)).toEqual([]);
    const names = examples.map((b) => b.name as string);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    expect(names.filter((n) => !(n in EXPECT))).toEqual([]);
    expect(Object.keys(EXPECT).filter((n) => !names.includes(n))).toEqual([]);
    // Scratch files go under tmpdir(), which the harness points at a directory it checks ("/tmp" alone may
    // name a path inside a sandbox's view).
    expect(examples.filter((b) => /["'`]\/tmp\//.test(b.code)).map(where)).toEqual([]);
  });
});

/** Mount points under dir, from this process's mountinfo. */
function mountsUnder(dir: string): string[] {
  return mountinfo()
    .split("\n")
    .map((l) => (l.split(" ")[4] ?? "").replace(/\\040/g, " "))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

for (const b of examples) {
  const spec = b.name === undefined ? undefined : EXPECT[b.name];
  if (!spec) continue; // reported by the test above
  const skip = spec.needs();
  test.skipIf(skip !== undefined)(
    `${b.doc} example ${b.name} runs as printed, prints what it says and leaves nothing in TMPDIR${skip ? ` — skipped: ${skip}` : ""}`,
    () => {
      const home = mkdtempSync(join(tmpdir(), "bun-userns-docs-"));
      const scratch = join(home, "tmp");
      const file = join(home, "example.ts");
      try {
        mkdirSync(scratch);
        writeFileSync(file, b.code.replaceAll('from "bun-userns"', `from ${JSON.stringify(INDEX)}`));
        const r = Bun.spawnSync([process.execPath, file], {
          cwd: home,
          env: { ...process.env, TMPDIR: scratch },
          stdout: "pipe",
          stderr: "pipe",
        });
        expect(r.stderr.toString()).toBe("");
        expect(r.exitCode).toBe(0);
        expect(r.stdout.toString()).toMatch(spec.stdout);
        expect(mountsUnder(scratch)).toEqual([]);
        // bun-cc-UID is Bun's own: bun:ffi's cc() writes TinyCC's headers there and reuses them.
        expect(readdirSync(scratch).filter((f) => !/^bun-cc-\d+$/.test(f))).toEqual([]);
      } finally {
        for (const m of mountsUnder(home).reverse()) Bun.spawnSync(["umount", "-l", m]);
        rmSync(home, { recursive: true, force: true });
      }
    },
  );
}

const git = Bun.which("git");
const tracked =
  git && Bun.spawnSync([git, "-C", ROOT, "rev-parse", "--git-dir"]).exitCode === 0
    ? Bun.spawnSync([git, "-C", ROOT, "ls-files"]).stdout.toString().trim().split("\n")
    : undefined;
test.skipIf(!tracked)(
  `the README's Layout table names every file in the repository${tracked ? "" : " — skipped: not a git checkout, or no git"}`,
  () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const layout = readme.slice(readme.indexOf("## Layout"));
    const named = new Set([...layout.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]));
    expect((tracked as string[]).filter((f) => !named.has(f))).toEqual([]);
  },
);
