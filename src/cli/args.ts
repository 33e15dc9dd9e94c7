/**
 * Argument pieces shared by the commands that take util-linux style
 * namespace options (exec, enter, pin): `--NS=FILE` files, splitting argv
 * at CMD, and the exit codes (2 usage, 1 failure, 127/126 exec).
 */
import { writeSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { UsernsError } from "../core/errors.ts";
import { parseNamespaceList } from "../core/flags.ts";
import { kindFlag, NAMESPACE_TABLE, type NamespaceKind } from "../ns/kinds.ts";

export class UsageError extends Error {}

/** util-linux spelling of each namespace option ("mount"), and the kind it names (the table's columns). */
export const NS_OPTIONS: Readonly<Record<string, NamespaceKind>> = Object.freeze(
  Object.fromEntries(NAMESPACE_TABLE.map((r) => [r.long, r.kind])),
);

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
  write(2, `bun-userns: ${(e as Error).message}\nTry 'bun-userns --help'.\n`);
  return 2;
}

/**
 * Writes to fd 1 or 2 at once, all of it. Not through process.stdout or
 * process.stderr: their first touch builds Node's stream classes, which costs
 * more than Bun's whole start, for the line or two a command prints. A
 * non-blocking descriptor that is full falls back to the stream; a reader
 * that went away (EPIPE) gets nothing more.
 */
export function write(fd: 1 | 2, s: string): void {
  const bytes = Buffer.from(s);
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EPIPE") return;
      if (code !== "EAGAIN") throw e;
      (fd === 1 ? process.stdout : process.stderr).write(bytes.subarray(off));
      return;
    }
  }
}

export function out(s: string): void {
  write(1, `${s}\n`);
}

/** A usage error (2), or a failure (1) said on stderr and, with --json, as one JSON document on stdout. */
export function fail(e: unknown, json: boolean): number {
  if (e instanceof UsageError) return usage(e);
  const u = e instanceof UsernsError ? e : undefined;
  const message = e instanceof Error ? e.message : String(e);
  if (json) {
    out(
      JSON.stringify({ ok: false, error: { message, code: u?.code, errno: u?.errno, step: u?.step, hint: u?.hint } }),
    );
  }
  write(2, `bun-userns: ${message}\n${u?.hint ? `hint: ${u.hint}\n` : ""}`);
  return 1;
}

export function failure(e: unknown): number {
  const u = e instanceof UsernsError ? e : undefined;
  write(2, `bun-userns: ${e instanceof Error ? e.message : String(e)}\n${u?.hint ? `hint: ${u.hint}\n` : ""}`);
  if (u?.syscall === "execve") return u.code === "ENOENT" ? 127 : 126;
  return 1;
}

type Unshared = Exclude<(typeof NAMESPACE_TABLE)[number], { kind: "user" }>;

/** util-linux unshare(1)'s namespace options: a list, and one flag per namespace (the table's spellings). */
export const UNSHARE_OPTIONS = {
  unshare: { type: "string" },
  ...(Object.fromEntries(
    NAMESPACE_TABLE.filter((r) => r.kind !== "user").map((r) => [r.long, { type: "boolean", short: r.short }]),
  ) as { readonly [R in Unshared as R["long"]]: { readonly type: "boolean"; readonly short: R["short"] } }),
} as const;

/** The CLONE_NEW* flags those options ask for, plus one per namespace in `also` (except user, always new). */
export function unshareFlags(
  values: Record<string, unknown>,
  also: Partial<Record<NamespaceKind, unknown>> = {},
): number {
  let flags = typeof values.unshare === "string" ? parseNamespaceList(values.unshare) : 0;
  for (const { kind, long } of NAMESPACE_TABLE) {
    if (kind !== "user" && (values[long] === true || also[kind] !== undefined)) flags |= kindFlag(kind);
  }
  return flags >>> 0;
}
