/**
 * The map options shared by the commands that create a user namespace,
 * util-linux unshare(1) style: --map-root-user (-r), --map-current-user,
 * --map-auto, --map, --map-users/--map-groups, and --mapper.
 */
export const MAP_OPTIONS = {
  "map-users": { type: "string" },
  "map-groups": { type: "string" },
  map: { type: "string" },
  "map-root-user": { type: "boolean", short: "r" },
  "map-current-user": { type: "boolean" },
  "map-auto": { type: "boolean" },
  mapper: { type: "string" },
} as const;

/** Options that take a value, for splitting argv at the command. */
export const MAP_VALUE_OPTIONS = ["--map-users", "--map-groups", "--map", "--mapper"];

export interface MapValues {
  "map-users"?: string;
  "map-groups"?: string;
  map?: string;
  "map-root-user"?: boolean;
  "map-current-user"?: boolean;
  "map-auto"?: boolean;
  mapper?: string;
}

export interface CliMaps {
  uidMap: string;
  gidMap: string;
  mapper: "auto" | "direct" | "newuidmap" | undefined;
}

/**
 * The maps the options ask for, or a usage message. Default: own ids as 0
 * (`0:<euid>:1`), as --map-root-user.
 */
export function cliMaps(cmd: string, v: MapValues): CliMaps | string {
  const explicit = v.map !== undefined || v["map-users"] !== undefined || v["map-groups"] !== undefined;
  const presets = [v["map-root-user"], v["map-current-user"], v["map-auto"]].filter(Boolean).length;
  if (presets > 1 || (presets === 1 && explicit)) {
    return `${cmd}: choose one of --map-root-user, --map-current-user, --map-auto, or explicit maps`;
  }
  if (v.map !== undefined && (v["map-users"] !== undefined || v["map-groups"] !== undefined)) {
    return `${cmd}: --map cannot be combined with --map-users or --map-groups`;
  }
  if (v.mapper !== undefined && v.mapper !== "auto" && v.mapper !== "direct" && v.mapper !== "newuidmap") {
    return `${cmd}: --mapper takes auto, direct or newuidmap, not ${JSON.stringify(v.mapper)}`;
  }
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  const mapper = v.mapper as CliMaps["mapper"];
  if (v["map-auto"]) return { uidMap: "auto", gidMap: "auto", mapper };
  if (v["map-current-user"]) return { uidMap: `${uid}:${uid}:1`, gidMap: `${gid}:${gid}:1`, mapper };
  return {
    uidMap: v.map ?? v["map-users"] ?? `0:${uid}:1`,
    gidMap: v.map ?? v["map-groups"] ?? v["map-users"] ?? `0:${gid}:1`,
    mapper,
  };
}
