/** `bun-userns parse`: a mapping checked with the library's rules, printed as the kernel reads it. */
import { mapText, parseIDMapping } from "../core/idmap.ts";
import { out, parseArgv, report, UsageError, write } from "./args.ts";

export const PARSE_HELP = `Usage: bun-userns parse MAP [--json]

Validates MAP (container-id:host-id:size[,...]) with Go's strconv.Atoi rules
and the kernel's (u32 range, size, wrap, overlap, 340 extents, 4095 bytes)
and prints the extents as the kernel would read them, or the exact error.

Options:
      --json   one JSON document on stdout
  -h, --help

Examples:
  bun-userns parse 0:1000:10,100:2000:5
  bun-userns parse 0:4294968296:1     # refused: the kernel would truncate it to 1000`;

export function cmdParse(args: string[]): number {
  const { values, rest: positionals } = parseArgv(
    "parse",
    args,
    { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    "positionals",
  );
  if (values.help) {
    out(PARSE_HELP);
    return 0;
  }
  const json = values.json === true;
  try {
    if (positionals.length !== 1) throw new UsageError(`parse: expected one MAP argument, got ${positionals.length}`);
    const extents = parseIDMapping(positionals[0] as string);
    const text = mapText(extents);
    if (json) out(JSON.stringify({ ok: true, extents, text }));
    else write(1, text);
    return 0;
  } catch (e) {
    // A map the library refuses is parse's answer (exit 1), not a usage error.
    return report(e, json);
  }
}
