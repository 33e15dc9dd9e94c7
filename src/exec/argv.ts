/** Argv, env and cwd for spawnInside, copied once into plain strings. */

import { invalid } from "../core/errors.ts";
import { describe } from "../core/idmap.ts";

function plain(s: unknown, what: string): string {
  if (typeof s !== "string") throw invalid("options", `${what} must be a string, got ${describe(s)}`);
  if (s.includes("\0")) throw invalid("options", `${what} contains a NUL byte: ${JSON.stringify(s)}`);
  return s;
}

export function checkArgv(argv: unknown): string[] {
  if (!Array.isArray(argv)) throw invalid("options", `argv must be an array of strings, got ${describe(argv)}`);
  const out = Array.from(argv as unknown[], (a, i) => plain(a, `argv[${i}]`));
  if (out.length === 0 || out[0] === "") throw invalid("options", "argv must name a command: argv[0] is empty");
  return out;
}

/** NAME=value strings, in insertion order; undefined values are dropped. */
export function checkEnv(env: unknown): string[] {
  if (typeof env !== "object" || env === null) throw invalid("options", `env must be an object, got ${describe(env)}`);
  const out: string[] = [];
  for (const [k, v] of Object.entries({ ...(env as Record<string, unknown>) })) {
    if (v === undefined) continue;
    if (k === "" || k.includes("=")) throw invalid("options", `env name ${JSON.stringify(k)} is empty or contains "="`);
    out.push(`${plain(k, "env name")}=${plain(v, `env.${k}`)}`);
  }
  return out;
}

export function checkCwd(cwd: unknown): string {
  const s = plain(cwd, "cwd");
  if (s === "") throw invalid("options", "cwd must not be empty");
  return s;
}
