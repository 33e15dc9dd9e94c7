/**
 * Argument pieces shared by the commands that take util-linux style
 * namespace options (exec, enter, pin): `--NS=FILE` files, splitting argv
 * at CMD, and the exit codes (2 usage, 1 failure, 127/126 exec).
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { UsernsError } from "../core/errors.ts";
import { NAMESPACE_FLAGS, type NamespaceName, parseNamespaceList } from "../core/flags.ts";
import type { NamespaceKind } from "../ns/kinds.ts";

export class UsageError extends Error {}

/** util-linux spelling of each namespace option, and the name spawnInside takes. */
export const NS_OPTIONS: Record<string, NamespaceKind> = {
  user: "user",
  mount: "mnt",
  net: "net",
  uts: "uts",
  ipc: "ipc",
  cgroup: "cgroup",
  pid: "pid",
  time: "time",
};

/**
 * Pull `--NS=FILE` out of the options (parseArgs has no optional values).
 * One file per namespace: a second `--NS=` for a kind is a mistake, not an
 * override, so it is a usage error naming the option (CMD is what it names).
 */
export function takeFiles(
  head: string[],
  cmd: string,
): { rest: string[]; files: Partial<Record<NamespaceKind, string>> } {
  const rest: string[] = [];
  const files: Partial<Record<NamespaceKind, string>> = {};
  for (const a of head) {
    const m = /^--([a-z]+)=(.*)$/s.exec(a);
    const ns = m ? NS_OPTIONS[m[1] as string] : undefined;
    if (m && ns) {
      if ((m[2] as string) === "") throw new UsageError(`${cmd}: --${m[1]}= needs a file`);
      if (files[ns] !== undefined) throw new UsageError(`${cmd}: --${m[1]}= is given twice (one file per namespace)`);
      files[ns] = m[2] as string;
    } else rest.push(a);
  }
  return { rest, files };
}

/** Split argv at "--" or at the first word that is not an option (values of TAKESVALUE skipped). */
export function split(args: string[], takesValue: Set<string>): [string[], string[]] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") return [args.slice(0, i), args.slice(i + 1)];
    if (!a.startsWith("-")) return [args.slice(0, i), args.slice(i)];
    if (takesValue.has(a)) i++;
  }
  return [args, []];
}

export function parse<const T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
  }
}

export function usage(e: unknown): number {
  process.stderr.write(`bun-userns: ${(e as Error).message}\nTry 'bun-userns --help'.\n`);
  return 2;
}

export function failure(e: unknown): number {
  const u = e instanceof UsernsError ? e : undefined;
  process.stderr.write(
    `bun-userns: ${e instanceof Error ? e.message : String(e)}\n${u?.hint ? `hint: ${u.hint}\n` : ""}`,
  );
  if (u?.syscall === "execve") return u.code === "ENOENT" ? 127 : 126;
  return 1;
}

/** util-linux unshare(1)'s namespace options: a list, and one flag per namespace. */
export const UNSHARE_OPTIONS = {
  unshare: { type: "string" },
  mount: { type: "boolean", short: "m" },
  uts: { type: "boolean", short: "u" },
  ipc: { type: "boolean", short: "i" },
  net: { type: "boolean", short: "n" },
  pid: { type: "boolean", short: "p" },
  cgroup: { type: "boolean", short: "C" },
  time: { type: "boolean", short: "T" },
} as const;

/** The CLONE_NEW* flags those options ask for, plus one per namespace in `also` (except user, always new). */
export function unshareFlags(
  values: Record<string, unknown>,
  also: Partial<Record<NamespaceKind, unknown>> = {},
): number {
  let flags = typeof values.unshare === "string" ? parseNamespaceList(values.unshare) : 0;
  for (const [opt, ns] of Object.entries(NS_OPTIONS)) {
    if (ns !== "user" && (values[opt] === true || also[ns] !== undefined))
      flags |= NAMESPACE_FLAGS[ns as NamespaceName];
  }
  return flags >>> 0;
}
