/**
 * The map options of the commands that make a user namespace (exec, run,
 * pin), with util-linux unshare(1)'s meanings: -r/--map-root-user,
 * -c/--map-current-user, --map-user, --map-group, --map-users and
 * --map-groups (a range as `outer,inner,count` or `inner:outer:count`, or
 * `auto`; repeatable), --map-auto; plus the package's own --map (a whole
 * map, `container:host:size[,…]`) and --mapper.
 */
import { readFileSync } from "node:fs";
import { MAX_ID, parseIDMapping } from "../core/idmap.ts";
import { subordinateIds } from "../rootless/subid.ts";
import { choice, type OptionTable, type Parsed, str, UsageError } from "./args.ts";

export const MAP_TABLE: OptionTable = {
  "map-root-user": { type: "boolean", short: "r" },
  "map-current-user": { type: "boolean", short: "c" },
  "map-user": { type: "string" },
  "map-group": { type: "string" },
  "map-users": { type: "string" },
  "map-groups": { type: "string" },
  "map-auto": { type: "boolean" },
  "map-subids": { type: "boolean" },
  map: { type: "string" },
  mapper: { type: "string" },
};

/** The options that ask for a user namespace (util-linux: each implies -U). */
export const MAP_OPTION_NAMES = Object.keys(MAP_TABLE).filter((k) => k !== "mapper");

export interface CliMaps {
  /** For startHelper: `container:host:size[,…]`, or "none" (left unwritten). */
  uidMap: string;
  gidMap: string;
  mapper: "auto" | "direct" | "newuidmap" | undefined;
  /** The gid map is one id written by us: util-linux writes setgroups "deny" first. */
  denySetgroups: boolean;
  /**
   * The package's own --map: CMD becomes the namespace's root (uid and gid
   * 0). With util-linux's options it keeps our ids, as mapped there.
   */
  asRoot: boolean;
}

/** One range: outer (host) id, inner (namespace) id, count. */
interface Range {
  outer: number;
  inner: number;
  count: number;
}

function u32(cmd: string, what: string, s: string): number {
  if (!/^[0-9]{1,10}$/.test(s) || Number(s) > MAX_ID)
    throw new UsageError(`${cmd}: invalid ${what} ${JSON.stringify(s)}`);
  return Number(s);
}

/**
 * --map-users/--map-groups: `outer,inner,count` (util-linux 2.38), `inner:outer:count`, `auto` (the first
 * subordinate range from 0), `subids` (it as itself) or `all` (every id mapped here, as itself) (2.39-2.41).
 */
function ranges(cmd: string, opt: string, v: string, kind: "uid" | "gid"): Range[] {
  if (v === "auto" || v === "subids") {
    const first = subordinateIds()[kind][0];
    if (first === undefined)
      throw new UsageError(`${cmd}: --${opt}=${v}: no range for you in /etc/sub${kind} (usermod --add-sub${kind}s)`);
    return [{ outer: first.hostID, inner: v === "auto" ? 0 : first.hostID, count: first.size }];
  }
  if (v === "all") {
    // Our own map's lines: the ids as we see them, each as itself.
    return readFileSync(`/proc/self/${kind}_map`, "utf8")
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/).map(Number))
      .filter((f) => f.length === 3)
      .map(([start, , count]) => ({ outer: start as number, inner: start as number, count: count as number }));
  }
  return [range(cmd, opt, v)];
}

function range(cmd: string, opt: string, v: string): Range {
  const comma = /^([0-9]+),([0-9]+),([0-9]+)$/.exec(v);
  const colon = /^([0-9]+):([0-9]+):([0-9]+)$/.exec(v);
  const m = comma ?? colon;
  if (!m)
    throw new UsageError(
      `${cmd}: invalid --${opt} ${JSON.stringify(v)}: give outer,inner,count (host id, namespace id, count), inner:outer:count, or auto (a whole map: --map container:host:size,…)`,
    );
  const [a, b, count] = [m[1], m[2], m[3]].map((x) => u32(cmd, `--${opt} id`, x as string)) as [number, number, number];
  if (count === 0) throw new UsageError(`${cmd}: invalid --${opt} ${JSON.stringify(v)}: the count must not be 0`);
  return comma ? { outer: a, inner: b, count } : { outer: b, inner: a, count };
}

/** A uid or gid, or a name from /etc/passwd or /etc/group. */
function idOf(cmd: string, opt: string, v: string, file: "/etc/passwd" | "/etc/group"): number {
  if (/^[0-9]+$/.test(v)) return u32(cmd, `--${opt}`, v);
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {}
  const line = text.split("\n").find((l) => l.split(":")[0] === v);
  const id = line?.split(":")[2];
  if (id === undefined || !/^[0-9]+$/.test(id))
    throw new UsageError(`${cmd}: --${opt}: no ${JSON.stringify(v)} in ${file}`);
  return Number(id);
}

/**
 * util-linux's merge of one id (inner ← outer) into ranges: the id goes
 * first, and each range gives up the inner and the outer id it already
 * holds (one entry less when either falls in it), the rest paired in order.
 */
function withSingle(ranges: Range[], outer: number, inner: number | undefined): Range[] {
  if (inner === undefined) return ranges;
  const out: Range[] = [{ outer, inner, count: 1 }];
  for (const r of ranges) {
    const hitsOuter = outer >= r.outer && outer <= r.outer + r.count;
    const hitsInner = inner >= r.inner && inner <= r.inner + r.count;
    const count = hitsOuter || hitsInner ? r.count - 1 : r.count;
    // Entry k maps inner(k) to outer(k), each stepping over the id taken.
    const io = hitsInner ? inner - r.inner : Number.POSITIVE_INFINITY;
    const oo = hitsOuter ? outer - r.outer : Number.POSITIVE_INFINITY;
    const cuts = [0, ...[io, oo].filter((c) => c > 0 && c < count).sort((x, y) => x - y), count];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const k = cuts[i] as number;
      const n = (cuts[i + 1] as number) - k;
      if (n <= 0) continue;
      out.push({ inner: r.inner + k + (k >= io ? 1 : 0), outer: r.outer + k + (k >= oo ? 1 : 0), count: n });
    }
  }
  return out;
}

function text(ranges: Range[]): string {
  return ranges.length === 0 ? "none" : ranges.map((r) => `${r.inner}:${r.outer}:${r.count}`).join(",");
}

/**
 * The maps the options ask for, or undefined when none was given. A usage
 * error for what cannot be combined.
 */
export function cliMaps(cmd: string, p: Parsed): CliMaps | undefined {
  const v = p.values;
  const mapper = choice(cmd, "mapper", v.mapper, ["auto", "direct", "newuidmap"] as const);
  const given = p.seen.filter(([o]) => MAP_OPTION_NAMES.includes(o));
  if (given.length === 0) return undefined;
  const whole = str(v.map);
  if (whole !== undefined) {
    if (given.some(([o]) => o !== "map"))
      throw new UsageError(`${cmd}: --map is a whole map: it cannot be combined with the other map options`);
    return { uidMap: checked(cmd, "--map", whole), gidMap: whole, mapper, denySetgroups: false, asRoot: true };
  }
  const euid = process.geteuid?.() ?? 0;
  const egid = process.getegid?.() ?? 0;
  let mapUser: number | undefined;
  let mapGroup: number | undefined;
  const users: Range[] = [];
  const groups: Range[] = [];
  for (const [opt, value] of given) {
    const s = value === true ? "" : value;
    if (opt === "map-root-user") [mapUser, mapGroup] = [0, 0];
    else if (opt === "map-current-user") [mapUser, mapGroup] = [euid, egid];
    else if (opt === "map-user") mapUser = idOf(cmd, opt, s, "/etc/passwd");
    else if (opt === "map-group") mapGroup = idOf(cmd, opt, s, "/etc/group");
    else if (opt === "map-users") users.push(...ranges(cmd, opt, s, "uid"));
    else if (opt === "map-groups") groups.push(...ranges(cmd, opt, s, "gid"));
    else if (opt === "map-auto" || opt === "map-subids") {
      const how = opt === "map-auto" ? "auto" : "subids";
      users.push(...ranges(cmd, "map-users", how, "uid"));
      groups.push(...ranges(cmd, "map-groups", how, "gid"));
    }
  }
  const uid =
    users.length > 0 ? withSingle(users, euid, mapUser) : mapUser === undefined ? [] : [single(euid, mapUser)];
  const gid =
    groups.length > 0 ? withSingle(groups, egid, mapGroup) : mapGroup === undefined ? [] : [single(egid, mapGroup)];
  return {
    uidMap: checked(cmd, "the uid map", text(uid)),
    gidMap: checked(cmd, "the gid map", text(gid)),
    mapper,
    denySetgroups: groups.length === 0 && mapGroup !== undefined,
    asRoot: false,
  };
}

/** A map the library would refuse is a usage error here (exit 2), with the library's reason. */
function checked(cmd: string, what: string, map: string): string {
  if (map === "none") return map;
  try {
    parseIDMapping(map);
  } catch (e) {
    throw new UsageError(`${cmd}: ${what}: ${(e as Error).message}`);
  }
  return map;
}

function single(outer: number, inner: number): Range {
  return { outer, inner, count: 1 };
}
