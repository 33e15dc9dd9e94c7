/** `bun-userns mount` and `bun-userns umount`. */
import { parseIDMapping } from "../core/idmap.ts";
import { idmapMount, unmount } from "../mount/mount.ts";
import type { Propagation } from "../mount/options.ts";
import { choice, parseArgv, report, str, UsageError, write } from "./args.ts";

export const MOUNT_HELP = `Usage: bun-userns mount [--map M | --map-users M --map-groups M] [--read-only]
                       [--no-recursive] [--propagation P] [--json] SOURCE TARGET

Bind-mounts SOURCE on TARGET, idmapped with a user namespace made for this
call from the maps (container-id:host-id:size[,...], the kernel's direction:
a file owned on disk by N appears as the host id that container id N maps to;
--map 0:100000:65536 shows disk uid N as 100000+N). open_tree(OPEN_TREE_CLONE)
→ mount_setattr(MOUNT_ATTR_IDMAP) → move_mount; nothing is left mounted on
failure. Kernel: ext4/xfs 5.12, btrfs 5.15, overlayfs 5.19, tmpfs 6.3, FUSE 6.12.

Options:
      --map M            the same map for users and groups
      --map-users M      uid map
      --map-groups M     gid map (default: the --map-users map)
      --read-only        MOUNT_ATTR_RDONLY
      --nosuid --nodev --noexec --noatime
      --no-recursive     do not clone SOURCE's submounts (default: recursive)
      --propagation P    private (default), slave, shared or unbindable
      --json             one JSON document on stdout
  -h, --help`;

export const UMOUNT_HELP = `Usage: bun-userns umount [--lazy] [--json] TARGET

Unmounts TARGET (umount2, never following a symlink there; nothing under it
is deleted). --lazy: MNT_DETACH, detach now and free when no longer busy.`;

const MOUNT_TABLE = {
  map: { type: "string" },
  "map-users": { type: "string" },
  "map-groups": { type: "string" },
  "read-only": { type: "boolean" },
  nosuid: { type: "boolean" },
  nodev: { type: "boolean" },
  noexec: { type: "boolean" },
  noatime: { type: "boolean" },
  "no-recursive": { type: "boolean" },
  propagation: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** A map the library would refuse: a usage error (exit 2), with its reason. */
function checkedMap(opt: string, map: string): string {
  try {
    parseIDMapping(map);
  } catch (e) {
    throw new UsageError(`mount: --${opt}: ${(e as Error).message}`);
  }
  return map;
}

export async function cmdMount(args: string[]): Promise<number> {
  let json = false;
  try {
    const { values, rest: positionals } = parseArgv("mount", args, MOUNT_TABLE, "positionals");
    if (values.help) {
      write(1, `${MOUNT_HELP}\n`);
      return 0;
    }
    json = values.json === true;
    if (positionals.length !== 2)
      throw new UsageError(`mount: expected SOURCE and TARGET, got ${positionals.length} arguments`);
    const map = str(values.map);
    const mu = str(values["map-users"]);
    const mg = str(values["map-groups"]);
    if (map !== undefined && (mu !== undefined || mg !== undefined))
      throw new UsageError("mount: --map cannot be combined with --map-users or --map-groups");
    const uidMap = map ?? mu;
    const gidMap = map ?? mg ?? mu;
    if (uidMap === undefined || gidMap === undefined)
      throw new UsageError("mount: give --map M or --map-users M [--map-groups M]");
    checkedMap(map === undefined ? "map-users" : "map", uidMap);
    checkedMap(map === undefined && mg !== undefined ? "map-groups" : map === undefined ? "map-users" : "map", gidMap);
    const p = choice("mount", "propagation", values.propagation, ["private", "slave", "shared", "unbindable"] as const);
    const [source, target] = positionals as [string, string];
    const options = {
      recursive: values["no-recursive"] !== true,
      readOnly: values["read-only"] === true,
      nosuid: values.nosuid === true,
      nodev: values.nodev === true,
      noexec: values.noexec === true,
      noatime: values.noatime === true,
      propagation: (p ?? "private") as Propagation,
    };
    await idmapMount(source, target, { uidMap, gidMap }, options);
    if (json) {
      write(1, `${JSON.stringify({ ok: true, source, target, uidMap, gidMap, options })}\n`);
      return 0;
    }
    const flags = Object.entries(options)
      .filter(([k, v]) => v === true && k !== "recursive")
      .map(([k]) => k);
    write(
      1,
      `mounted ${source} on ${target} idmapped (uid ${uidMap}, gid ${gidMap}; ${options.recursive ? "recursive" : "not recursive"}, ${options.propagation}${flags.length ? `, ${flags.join(", ")}` : ""})\n`,
    );
    return 0;
  } catch (e) {
    return report(e, json);
  }
}

export function cmdUmount(args: string[]): number {
  let json = false;
  try {
    const { values, rest: positionals } = parseArgv(
      "umount",
      args,
      { lazy: { type: "boolean", short: "l" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      "positionals",
    );
    if (values.help) {
      write(1, `${UMOUNT_HELP}\n`);
      return 0;
    }
    json = values.json === true;
    if (positionals.length !== 1)
      throw new UsageError(`umount: expected one TARGET, got ${positionals.length} arguments`);
    const target = positionals[0] as string;
    unmount(target, { detach: values.lazy === true });
    write(
      1,
      json
        ? `${JSON.stringify({ ok: true, target, lazy: values.lazy === true })}\n`
        : `unmounted ${target}${values.lazy ? " (lazy)" : ""}\n`,
    );
    return 0;
  } catch (e) {
    return report(e, json);
  }
}

export async function runMountCommand(name: "mount" | "umount", args: string[]): Promise<number> {
  return name === "mount" ? await cmdMount(args) : cmdUmount(args);
}
