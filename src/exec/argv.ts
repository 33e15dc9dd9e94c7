/** Argv, env and cwd for spawnInside, copied once into plain strings. */

import { badValue, validateArray, validateObject, validateString } from "../core/validate.ts";

function plain(s: unknown, what: string): string {
  validateString(s, what);
  if (s.includes("\0")) throw badValue(`${what} contains a NUL byte: ${JSON.stringify(s)}`);
  return s;
}

export function checkArgv(argv: unknown): string[] {
  validateArray(argv, "argv");
  const out = Array.from(argv, (a, i) => plain(a, `argv[${i}]`));
  if (out.length === 0 || out[0] === "") throw badValue("argv must name a command: argv[0] is empty");
  return out;
}

/** NAME=value strings, in insertion order; undefined values are dropped. */
export function checkEnv(env: unknown): string[] {
  validateObject(env, "env");
  const out: string[] = [];
  for (const [k, v] of Object.entries({ ...env })) {
    if (v === undefined) continue;
    if (k === "" || k.includes("=")) throw badValue(`env name ${JSON.stringify(k)} is empty or contains "="`);
    out.push(`${plain(k, "env name")}=${plain(v, `env.${k}`)}`);
  }
  return out;
}

export function checkCwd(cwd: unknown, what = "cwd"): string {
  const s = plain(cwd, what);
  if (s === "") throw badValue(`${what} must not be empty`);
  return s;
}
