/**
 * Subordinate id ranges (/etc/subuid, /etc/subgid, as shadow's newuidmap
 * reads them) and the "auto" map built from them: podman's default rootless
 * mapping, `0:<own id>:1` then the user's ranges from container id 1.
 */
import { readFileSync } from "node:fs";
import { UsernsError } from "../core/errors.ts";
import { type IDMap, MAX_EXTENTS, MAX_ID } from "../core/idmap.ts";

export interface SubordinateIds {
  /** Ranges as extents: hostID/size from the file, containerID where "auto" puts them (from 1, in file order). */
  readonly uid: readonly IDMap[];
  readonly gid: readonly IDMap[];
  /** The name and uid the entries were looked up by. */
  readonly user: { readonly name: string | undefined; readonly uid: number };
}

export const SUBUID = "/etc/subuid";
export const SUBGID = "/etc/subgid";

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** A decimal u32 as shadow accepts it (digits only, no sign, no spaces). */
function u32(s: string | undefined): number | undefined {
  if (s === undefined || !/^[0-9]{1,10}$/.test(s)) return undefined;
  const v = Number(s);
  return v <= MAX_ID ? v : undefined;
}

/**
 * The ranges for `owner` (a name or a decimal uid) in the text of a subid
 * file. Lines are `owner:start:count`; comments, blank lines and lines that
 * do not parse (a bad number, a zero count, a range past 4294967294, too many
 * fields) are skipped, as shadow skips what it cannot parse.
 */
export function parseSubid(text: string, owners: readonly string[]): { start: number; count: number }[] {
  const out: { start: number; count: number }[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(":");
    if (fields.length !== 3 || !owners.includes(fields[0] as string)) continue;
    const start = u32(fields[1]);
    const count = u32(fields[2]);
    if (start === undefined || count === undefined || count === 0 || start + count - 1 > MAX_ID) continue;
    out.push({ start, count });
  }
  return out;
}

/** The effective user's name from /etc/passwd (Bun's os.userInfo() can say "unknown"). */
export function userName(uid: number): string | undefined {
  for (const line of (read("/etc/passwd") ?? "").split("\n")) {
    const f = line.split(":");
    if (f[2] === String(uid)) return f[0];
  }
  return undefined;
}

function lookup(file: string, name: string | undefined, uid: number): IDMap[] {
  const text = read(file);
  const who = name ?? String(uid);
  if (text === undefined) {
    throw new UsernsError(`no subordinate ids for ${who}: cannot read ${file}`, {
      code: "ENOENT",
      errno: 2,
      step: "subid",
      hint: `create ${file} with a line like ${who}:100000:65536 (usermod --add-subuids / --add-subgids)`,
    });
  }
  const ranges = parseSubid(text, name === undefined ? [String(uid)] : [name, String(uid)]);
  if (ranges.length === 0) {
    throw new UsernsError(`no subordinate ids for ${who} in ${file}`, {
      code: "ENOENT",
      errno: 2,
      step: "subid",
      hint: `add a line like ${who}:100000:65536 to ${file} (usermod --add-${file === SUBUID ? "subuids" : "subgids"} 100000-165535 ${who})`,
    });
  }
  if (ranges.length > MAX_EXTENTS - 1) ranges.length = MAX_EXTENTS - 1;
  let next = 1;
  return ranges.map((r) => {
    const e = Object.freeze({ containerID: next, hostID: r.start, size: r.count });
    next += r.count;
    return e;
  });
}

/**
 * The subordinate ranges of `user` (a name or uid; default: the effective
 * user) from /etc/subuid and /etc/subgid. Throws a UsernsError naming the
 * file and the user when a file is missing or has no entry.
 */
export function subordinateIds(user?: string | number): SubordinateIds {
  if (user !== undefined && typeof user !== "string" && typeof user !== "number") {
    throw new TypeError(`user must be a name or a uid, got ${typeof user}`);
  }
  let uid: number;
  let name: string | undefined;
  if (typeof user === "number") {
    if (!Number.isInteger(user) || user < 0 || user > MAX_ID) throw new TypeError(`invalid uid ${user}`);
    uid = user;
    name = userName(uid);
  } else if (typeof user === "string") {
    name = user;
    const line = (read("/etc/passwd") ?? "").split("\n").find((l) => l.split(":")[0] === user);
    uid = Number(line?.split(":")[2] ?? Number.NaN);
    if (!Number.isInteger(uid)) uid = -1;
  } else {
    uid = process.geteuid?.() ?? 0;
    name = userName(uid);
  }
  return Object.freeze({
    uid: Object.freeze(lookup(SUBUID, name, uid)),
    gid: Object.freeze(lookup(SUBGID, name, uid)),
    user: Object.freeze({ name, uid }),
  });
}

/** "auto" for the uid or gid map: own id as 0, then the subordinate ranges from 1. */
export function autoMap(kind: "uid" | "gid"): IDMap[] {
  const ids = subordinateIds();
  const own = kind === "uid" ? (process.geteuid?.() ?? 0) : (process.getegid?.() ?? 0);
  return [{ containerID: 0, hostID: own, size: 1 }, ...ids[kind]];
}
