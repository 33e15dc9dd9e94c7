/**
 * The CLI's one argument parser, one usage error and one failure printer.
 * The parser reads argv as getopt_long does for util-linux (unshare(1),
 * nsenter(1)): short options cluster (`-mun`), a short option's value may be
 * attached (`-S1000`) or the next word, a long option may be abbreviated to
 * any unique prefix, `--opt=value` and `--opt value` both work, an optional
 * value only as `--opt=value`, and options end at `--` or at the first word
 * that is not one (the command).
 */
import { writeSync } from "node:fs";
import { UsernsError } from "../core/errors.ts";
import { NAMESPACE_FLAGS, type NamespaceName, parseNamespaceList } from "../core/flags.ts";
import { NAMESPACE_TABLE, type NamespaceKind } from "../ns/kinds.ts";

/** Defined by src/packed/bundle-cli.ts's build of dist/: there, package.json is read by the entry alone (one file less to load). */
declare const BUN_USERNS_VERSION: string | undefined;

/** -V/--version, wherever it is given. */
export async function printVersion(): Promise<void> {
  out(
    typeof BUN_USERNS_VERSION === "string"
      ? BUN_USERNS_VERSION
      : (await import("../../package.json", { with: { type: "json" } })).default.version,
  );
}

/** Signal numbers by name: node:os loads only when a signal is named (a one-shot pays for each module: docs/performance.md). */
export const signalTable = (): Record<string, number> =>
  (require("node:os") as typeof import("node:os")).constants.signals as Record<string, number>;

/** A usage error: exit 2, with a pointer to --help. */
export class UsageError extends Error {}

export interface OptionSpec {
  /** boolean: no value; string: a value always; optional: a value only as --opt=value (or attached to -x). */
  readonly type: "boolean" | "string" | "optional";
  readonly short?: string;
  /** optional only: the short form takes an attached value too (nsenter's -n/path); otherwise it takes none. */
  readonly attached?: boolean;
}
export type OptionTable = Readonly<Record<string, OptionSpec>>;

export interface Parsed {
  /** The last value given for each option (true for one without a value). */
  readonly values: Record<string, string | true | undefined>;
  /** Every occurrence in order (repeatable options such as --map-users). */
  readonly seen: readonly (readonly [string, string | true])[];
  /** Words after the options: the command and its arguments, or the positionals. */
  readonly rest: string[];
}

/**
 * Parse ARGS against TABLE. `stop`: "command" stops at the first non-option
 * (unshare's "+" mode: CMD's own options are CMD's); "positionals" collects
 * non-options anywhere (mount SOURCE TARGET --read-only).
 */
export function parseArgv(cmd: string, args: readonly string[], table: OptionTable, stop: "command" | "positionals") {
  const values: Record<string, string | true | undefined> = {};
  const seen: [string, string | true][] = [];
  const rest: string[] = [];
  const put = (name: string, v: string | true) => {
    values[name] = v;
    seen.push([name, v]);
  };
  const shorts = new Map<string, string>();
  for (const [name, spec] of Object.entries(table)) if (spec.short) shorts.set(spec.short, name);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") {
      rest.push(...args.slice(i + 1));
      break;
    }
    if (a === "-" || !a.startsWith("-")) {
      if (stop === "command") {
        rest.push(...args.slice(i));
        break;
      }
      rest.push(a);
      continue;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const given = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const name = longName(cmd, given, table);
      const spec = table[name] as OptionSpec;
      if (spec.type === "boolean") {
        if (eq >= 0) throw new UsageError(`${cmd}: option '--${name}' doesn't allow an argument`);
        put(name, true);
      } else if (eq >= 0) put(name, a.slice(eq + 1));
      else if (spec.type === "optional") put(name, true);
      else {
        if (i + 1 >= args.length) throw new UsageError(`${cmd}: option '--${name}' requires an argument`);
        put(name, args[++i] as string);
      }
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j] as string;
      const name = shorts.get(c);
      if (name === undefined) throw new UsageError(`${cmd}: invalid option -- '${c}'`);
      const spec = table[name] as OptionSpec;
      if (spec.type === "boolean" || (spec.type === "optional" && !spec.attached)) {
        put(name, true);
        continue;
      }
      const attached = a.slice(j + 1);
      if (attached !== "") put(name, attached);
      else if (spec.type === "optional") put(name, true);
      else {
        if (i + 1 >= args.length) throw new UsageError(`${cmd}: option requires an argument -- '${c}'`);
        put(name, args[++i] as string);
      }
      break;
    }
  }
  return { values, seen, rest } satisfies Parsed;
}

/** An exact long name, or the one option it is a prefix of (getopt_long's abbreviations). */
function longName(cmd: string, given: string, table: OptionTable): string {
  if (Object.hasOwn(table, given)) return given;
  const matches = Object.keys(table).filter((k) => k.startsWith(given));
  if (given !== "" && matches.length === 1) return matches[0] as string;
  if (matches.length > 1 && given !== "")
    throw new UsageError(
      `${cmd}: option '--${given}' is ambiguous; possibilities: ${matches.map((m) => `'--${m}'`).join(" ")}`,
    );
  throw new UsageError(`${cmd}: unrecognized option '--${given}'`);
}

/** A value that must be one of CHOICES, or a usage error naming the option. */
export function choice<const T extends string>(
  cmd: string,
  opt: string,
  v: unknown,
  choices: readonly T[],
): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "string" && (choices as readonly string[]).includes(v)) return v as T;
  const list = choices.length > 1 ? `${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}` : choices.join("");
  throw new UsageError(`${cmd}: --${opt} takes ${list}, not ${JSON.stringify(v === true ? "" : v)}`);
}

/** A string value (a boolean `true` means it was given without one). */
export function str(v: string | true | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** util-linux's long name of each namespace option ("mount"), and the kind it names (the table's columns). */
export const NS_OPTIONS: Readonly<Record<string, NamespaceKind>> = Object.freeze(
  Object.fromEntries(NAMESPACE_TABLE.map((r) => [r.long, r.kind])),
);

/**
 * The namespace options util-linux gives unshare and nsenter: `-m`/`--mount[=FILE]`, ….
 * `attached`: nsenter's short forms take a file too (`-n/run/netns/x`); unshare's do not.
 */
export function nsTable(attached: boolean): OptionTable {
  const t: Record<string, OptionSpec> = {};
  for (const r of NAMESPACE_TABLE) t[r.long] = { type: "optional", short: r.short, attached };
  return t;
}

/** The namespaces asked for (each once per kind), the files given as `--NS=FILE`, and those given bare (`-n`). */
export function namespaceOptions(
  cmd: string,
  p: Parsed,
): { kinds: Set<NamespaceKind>; files: Partial<Record<NamespaceKind, string>>; bare: Set<NamespaceKind> } {
  const kinds = new Set<NamespaceKind>();
  const bare = new Set<NamespaceKind>();
  const files: Partial<Record<NamespaceKind, string>> = {};
  for (const [opt, v] of p.seen) {
    const ns = NS_OPTIONS[opt];
    if (ns === undefined) continue;
    kinds.add(ns);
    if (v === true) {
      bare.add(ns);
      continue;
    }
    if (v === "") throw new UsageError(`${cmd}: --${opt}= needs a file`);
    if (files[ns] !== undefined) throw new UsageError(`${cmd}: --${opt}= is given twice (one file per namespace)`);
    files[ns] = v;
  }
  return { kinds, files, bare };
}

/** `--unshare LIST` (the package's own) as namespace kinds ("user" too); an unknown name is a usage error. */
export function unshareList(cmd: string, list: string | undefined): NamespaceKind[] {
  if (list === undefined) return [];
  // "user" is a kind the caller decides about (-U for exec; always new for run).
  const names = list.split(",");
  const user = names.includes("user");
  let flags: number;
  try {
    flags = parseNamespaceList(names.filter((n) => n !== "user").join(","));
  } catch (e) {
    throw new UsageError(`${cmd}: --unshare: ${(e as Error).message}`);
  }
  const kinds: NamespaceKind[] = user ? ["user"] : [];
  return [
    ...kinds,
    ...(Object.keys(NAMESPACE_FLAGS) as NamespaceName[]).filter((n) => (flags & NAMESPACE_FLAGS[n]) !== 0),
  ];
}

/** CLONE_NEW* flags of these kinds (user left out: a helper's user namespace is always new). */
export function flagsOf(kinds: Iterable<NamespaceKind>): number {
  let flags = 0;
  for (const k of kinds) if (k !== "user") flags |= NAMESPACE_FLAGS[k as NamespaceName];
  return flags >>> 0;
}

/**
 * Print what went wrong and give the exit code: a usage error 2 (and a
 * pointer to --help); a command that could not be executed 127 (not found)
 * or 126, as a shell; any other failure 1 with its hint. With `json`, the
 * failure also as one JSON document on stdout.
 */
export function report(e: unknown, json = false): number {
  if (e instanceof UsageError) {
    write(2, `bun-userns: ${e.message}\nTry 'bun-userns --help'.\n`);
    return 2;
  }
  const u = e instanceof UsernsError ? e : undefined;
  const message = e instanceof Error ? e.message : String(e);
  if (json) {
    const error = { message, code: u?.code, errno: u?.errno, step: u?.step, hint: u?.hint };
    out(JSON.stringify({ ok: false, error }));
  }
  write(2, `bun-userns: ${message}\n${u?.hint ? `hint: ${u.hint}\n` : ""}`);
  if (u?.syscall === "execve") return u.code === "ENOENT" ? 127 : 126;
  return 1;
}

/** The same as report, for callers that name it so (the dispatcher in src/cli.ts). */
export const fail = report;

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

/** One line on stdout. */
export function out(s: string): void {
  write(1, `${s}\n`);
}
