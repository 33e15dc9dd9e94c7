/**
 * Data flows one way through src/: the core (loader, codecs, validation)
 * knows no domain, each domain knows the core and the domains below it, and
 * only the CLI and the public entry see everything. An import against that
 * direction (core reaching into ns, exec reaching into cli) fails here,
 * naming the file and the import.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const SRC = join(import.meta.dir, "..", "src");

/** What each layer may import from src/ (besides itself). */
const ALLOWED: Record<string, string[]> = {
  core: [],
  rootless: ["core"],
  ns: ["core"],
  exec: ["core", "ns"],
  "unshare.ts": ["core", "rootless"],
  mount: ["core", "unshare.ts"],
  sandbox: ["core", "ns", "exec", "rootless", "unshare.ts"],
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** The layer a file of src/ belongs to: its first directory, or the file itself at the top. */
function layerOf(file: string): string {
  return relative(SRC, file).split("/")[0] as string;
}

/** Every relative import of a file, static, dynamic or type-only, resolved to a path. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)"(\.\.?\/[^"]+)"/g)].map((m) => m[1] as string);
  return found.map((spec) => join(file, "..", spec));
}

describe("import direction in src/", () => {
  test("the layer table names layers that exist", () => {
    const layers = new Set(filesUnder(SRC).map(layerOf));
    for (const layer of Object.keys(ALLOWED)) expect(layers.has(layer)).toBe(true);
  });

  test("no layer imports one above it", () => {
    const wrong: string[] = [];
    for (const file of filesUnder(SRC)) {
      const from = layerOf(file);
      const allowed = ALLOWED[from];
      if (allowed === undefined) continue; // the CLI, the packed entries and the public entry see everything
      for (const target of importsOf(file)) {
        if (!target.startsWith(`${SRC}/`)) continue; // native/ sources and package.json
        const to = layerOf(target);
        if (to !== from && !allowed.includes(to)) wrong.push(`${relative(SRC, file)} imports ${relative(SRC, target)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test("the import pattern sees an upward import", () => {
    const line = 'import { cloneName } from "../ns/kinds.ts";';
    const m = /(?:from\s+|import\s*\(\s*|import\s+)"(\.\.?\/[^"]+)"/.exec(line);
    expect(layerOf(join(SRC, "core", "x.ts", "..", m?.[1] as string))).toBe("ns");
  });
});
