/**
 * ID maps: Go-compatible parsing of `container-id:host-id:size[,…]`, then the
 * kernel's rules for uid_map/gid_map applied before anything is created.
 */
import { invalid, UsernsError } from "./errors.ts";

export interface IDMap {
  containerID: number;
  hostID: number;
  size: number;
}

/** A map as the seed's string, a comma-separated list of them, or extents. */
export type IDMapInput = string | readonly IDMap[];

/** (u32)-1 is reserved by the kernel; the last usable id is one below. */
export const MAX_ID = 4294967294;
/** UID_GID_MAP_MAX_EXTENTS. */
export const MAX_EXTENTS = 340;
/** The kernel takes a map in one write of fewer than PAGE_SIZE (4096) bytes. */
export const MAX_MAP_TEXT = 4095;

const FORMAT = "user namespace mappings require the format `container-id:host-id:size`";
const U32 = 2n ** 32n;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const FIELDS = ["container id", "host id", "size"] as const;
const KEYS = ["containerID", "hostID", "size"] as const;

/** Go's `strconv.Quote`. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const r = ch.codePointAt(0) as number;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (r === 7) out += "\\a";
    else if (r === 8) out += "\\b";
    else if (r === 12) out += "\\f";
    else if (r === 10) out += "\\n";
    else if (r === 13) out += "\\r";
    else if (r === 9) out += "\\t";
    else if (r === 11) out += "\\v";
    else if (r < 0x20 || r === 0x7f) out += `\\x${r.toString(16).padStart(2, "0")}`;
    else if (r === 0x20 || /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch)) out += ch;
    else if (r >= 0xd800 && r <= 0xdfff) out += "\\ufffd";
    else if (r < 0x10000) out += `\\u${r.toString(16).padStart(4, "0")}`;
    else out += `\\U${r.toString(16).padStart(8, "0")}`;
  }
  return `${out}"`;
}

/** Longest input quoted whole in a message; longer ones are cut (Go quotes all of it). */
const QUOTE_MAX = 64;

/** `s` for a message: as is, or its first QUOTE_MAX characters and the length. */
export function cap(s: string): string {
  return s.length <= QUOTE_MAX ? s : `${s.slice(0, QUOTE_MAX)}… (${s.length} characters)`;
}

function quoteCapped(s: string): string {
  return s.length <= QUOTE_MAX ? goQuote(s) : `${goQuote(s.slice(0, QUOTE_MAX))}… (${s.length} characters)`;
}

/** Go's `strconv.Atoi` on 64-bit: `[+-]?[0-9]+`, base 10, exact, int64 range. */
export function atoi(s: string): bigint | UsernsError {
  const m = /^([+-]?)([0-9]+)$/.exec(s);
  if (m === null) {
    return new UsernsError(`strconv.Atoi: parsing ${quoteCapped(s)}: invalid syntax`, {
      code: "ERR_SYNTAX",
      errno: 22,
      step: "parse",
    });
  }
  const digits = (m[2] as string).replace(/^0+(?=.)/, "");
  // Past 19 digits it is out of range; skip the quadratic BigInt parse of huge input.
  const v = digits.length > 19 ? null : m[1] === "-" ? -BigInt(digits) : BigInt(digits);
  if (v === null || v > INT64_MAX || v < INT64_MIN) {
    return new UsernsError(`strconv.Atoi: parsing ${quoteCapped(s)}: value out of range`, {
      code: "ERR_RANGE",
      errno: 34,
      step: "parse",
    });
  }
  return v;
}

/**
 * Parse a map the way containerd does, then apply the kernel's rules. Throws
 * `UsernsError` (bad values) or `TypeError` (wrong JS types).
 */
export function parseIDMapping(mapping: IDMapInput, map?: "uid" | "gid"): IDMap[] {
  let triples: { text: string; values: [bigint, bigint, bigint] }[];
  if (typeof mapping === "string") {
    checkTextSize(mapping, map);
    triples = mapping.split(",").map((part) => parseOne(part, map));
  } else if (Array.isArray(mapping)) triples = copyEntries(mapping, map).map((entry, i) => fromEntry(entry, i, map));
  else
    throw new TypeError(
      `${label(map)} must be a string or an array of { containerID, hostID, size }, got ${describe(mapping)}`,
    );

  if (triples.length === 0) throw invalid("parse", "invalid mapping [], at least one mapping is required", { map });
  for (const t of triples) checkKernelRange(t.text, t.values, map);
  const extents = triples.map((t) =>
    Object.freeze({
      containerID: Number(t.values[0]),
      hostID: Number(t.values[1]),
      size: Number(t.values[2]),
    }),
  );
  checkOverlap(extents, triples, "containerID", "container", map);
  checkOverlap(extents, triples, "hostID", "host", map);
  const bytes = mapText(extents).length;
  if (bytes > MAX_MAP_TEXT) {
    throw invalid(
      "parse",
      `mapping text is ${bytes} bytes, the kernel accepts at most ${MAX_MAP_TEXT} bytes in one write`,
      { map },
    );
  }
  return extents;
}

/**
 * Read an array input exactly once, element by element, without calling any
 * of its methods (a subclass or an own `.map` could return anything), and
 * each element's three fields once (a getter or Proxy could answer
 * differently the second time). What is validated is this copy.
 */
function copyEntries(mapping: readonly unknown[], map?: "uid" | "gid"): Record<string, unknown>[] {
  const n = mapping.length;
  if (n > MAX_EXTENTS) {
    throw invalid("parse", `too many mappings: ${n}, the kernel accepts at most ${MAX_EXTENTS}`, { map });
  }
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    if (!Object.hasOwn(mapping, i)) throw new TypeError(`${label(map)}[${i}] is missing (a hole in the array)`);
    const entry = mapping[i];
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new TypeError(
        `${label(map)}[${i}] must be an object { containerID, hostID, size }, got ${describe(entry)}`,
      );
    }
    const copy: Record<string, unknown> = {};
    for (const key of KEYS) {
      if (!Object.hasOwn(entry, key)) throw new TypeError(`${label(map)}[${i}].${key} is missing`);
      copy[key] = (entry as Record<string, unknown>)[key];
    }
    out.push(copy);
  }
  return out;
}

/**
 * Refuse, before any per-field work, text that cannot be a valid map: more
 * than 340 extents, or more than 4095 bytes once normalised (the kernel's
 * one-write limit). One pass, no allocation: Go's Atoi allows any number of
 * leading zeros and a '+', which normalising drops, so they are not counted.
 */
function checkTextSize(text: string, map?: "uid" | "gid"): void {
  let extents = 1;
  for (let i = text.indexOf(","); i >= 0; i = text.indexOf(",", i + 1)) extents++;
  if (extents > MAX_EXTENTS) {
    throw invalid("parse", `too many mappings: ${extents}, the kernel accepts at most ${MAX_EXTENTS}`, { map });
  }
  let bytes = 1; // the last newline
  let leading = true; // at the start of a field: zeros and signs do not count yet
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 44 /* , */ || c === 58 /* : */) {
      bytes += leading ? 2 : 1; // a field of zeros is "0", then the separator
      leading = true;
    } else if (!(leading && (c === 48 || c === 43 || c === 45))) {
      // Leading '0', '+' and '-' are dropped by normalising.
      leading = false;
      bytes++;
    }
  }
  if (leading) bytes++;
  if (bytes > MAX_MAP_TEXT) {
    throw invalid(
      "parse",
      `mapping text is ${bytes} bytes once normalised (input of ${text.length} characters), the kernel accepts at most ${MAX_MAP_TEXT} bytes in one write`,
      { map },
    );
  }
}

/** The text written to /proc/PID/uid_map or gid_map. */
export function mapText(extents: readonly IDMap[]): string {
  let s = "";
  for (const e of extents) s += `${e.containerID} ${e.hostID} ${e.size}\n`;
  return s;
}

function parseOne(part: string, map?: "uid" | "gid"): { text: string; values: [bigint, bigint, bigint] } {
  const fields = part.split(":");
  if (fields.length !== 3) throw invalid("parse", FORMAT, { map });
  const values: bigint[] = [];
  for (let i = 0; i < 3; i++) {
    const v = atoi(fields[i] as string);
    if (v instanceof UsernsError) {
      // Go wraps the strconv error (%w); its ErrSyntax/ErrRange stays on the cause.
      throw invalid("parse", `invalid ${FIELDS[i]} for user namespace remapping, ${v.message}`, { map, cause: v });
    }
    values.push(v);
  }
  if (values.some((v) => v < 0n)) {
    throw invalid("parse", `invalid mapping ${cap(part)}, all IDs and size must be positive integers`, { map });
  }
  return { text: cap(part), values: values as [bigint, bigint, bigint] };
}

function fromEntry(
  entry: Record<string, unknown>,
  i: number,
  map?: "uid" | "gid",
): { text: string; values: [bigint, bigint, bigint] } {
  const raw = KEYS.map((key) => {
    const v = entry[key];
    if (typeof v !== "number" && typeof v !== "bigint") {
      throw new TypeError(`${label(map)}[${i}].${key} must be a number, got ${describe(v)}`);
    }
    return v;
  });
  const text = raw.map(String).join(":");
  raw.forEach((v, k) => {
    if (typeof v === "number" && !Number.isInteger(v)) {
      throw invalid("parse", `invalid mapping ${text}, ${FIELDS[k]} ${v} is not an integer`, { map });
    }
  });
  const values = raw.map((v) => BigInt(v)) as [bigint, bigint, bigint];
  if (values.some((v) => v < 0n)) {
    throw invalid("parse", `invalid mapping ${text}, all IDs and size must be positive integers`, { map });
  }
  return { text, values };
}

/** The kernel parses u32s, refuses (u32)-1, a zero count and a wrapping range. */
function checkKernelRange(text: string, [c, h, size]: [bigint, bigint, bigint], map?: "uid" | "gid"): void {
  const ids: [string, bigint][] = [
    ["container id", c],
    ["host id", h],
  ];
  for (const [what, v] of ids) {
    if (v > BigInt(MAX_ID)) {
      const trunc = v % U32;
      const why =
        v >= U32
          ? `the kernel would silently truncate it to ${trunc}${trunc === U32 - 1n ? " and refuse it" : ""}`
          : "the kernel reserves 4294967295";
      throw invalid("parse", `invalid mapping ${text}, ${what} ${v} is above ${MAX_ID} (${why})`, { map });
    }
  }
  if (size === 0n) throw invalid("parse", `invalid mapping ${text}, size must be at least 1`, { map });
  for (const [what, v] of ids) {
    if (v + size - 1n > BigInt(MAX_ID)) {
      throw invalid(
        "parse",
        `invalid mapping ${text}, ${what} range ${v}-${v + size - 1n} goes past ${MAX_ID} (the kernel refuses a range that wraps)`,
        { map },
      );
    }
  }
}

function checkOverlap(
  extents: IDMap[],
  triples: { text: string }[],
  key: "containerID" | "hostID",
  side: string,
  map?: "uid" | "gid",
): void {
  const order = extents.map((_, i) => i).sort((a, b) => (extents[a] as IDMap)[key] - (extents[b] as IDMap)[key]);
  for (let k = 1; k < order.length; k++) {
    const a = extents[order[k - 1] as number] as IDMap;
    const b = extents[order[k] as number] as IDMap;
    const aEnd = a[key] + a.size - 1;
    if (b[key] <= aEnd) {
      const [i, j] = [order[k - 1] as number, order[k] as number].sort((x, y) => x - y) as [number, number];
      const end = Math.min(aEnd, b[key] + b.size - 1);
      throw invalid(
        "parse",
        `invalid mappings ${triples[i]?.text} and ${triples[j]?.text} overlap on ${side} ids ${b[key]}-${end} (the kernel refuses overlapping ranges)`,
        { map },
      );
    }
  }
}

function label(map?: "uid" | "gid"): string {
  return map === undefined ? "mapping" : `${map} mapping`;
}

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "string") return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return `${typeof v} ${String(v)}`;
  return typeof v;
}
