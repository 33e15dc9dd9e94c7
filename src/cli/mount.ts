/** `bun-userns mount` and `bun-userns umount`. */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { UsernsError } from "../core/errors.ts";
import { idmapMount, unmount } from "../mount/mount.ts";
import type { Propagation } from "../mount/options.ts";
import { write } from "./args.ts";

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

class Usage extends Error {}

export type Reply = { code: number; stdout?: string; stderr?: string };

function usage(message: string): Reply {
  return { code: 2, stderr: `bun-userns: ${message}\nTry 'bun-userns --help'.\n` };
}

function failure(e: unknown, json: boolean): Reply {
  const u = e instanceof UsernsError ? e : undefined;
  if (!u) throw e;
  const stdout = json
    ? `${JSON.stringify({ ok: false, error: { message: u.message, code: u.code, errno: u.errno, step: u.step, hint: u.hint } })}\n`
    : undefined;
  return { code: 1, stdout, stderr: `bun-userns: ${u.message}\n${u.hint ? `hint: ${u.hint}\n` : ""}` };
}

function parse(args: string[], options: NonNullable<ParseArgsConfig["options"]>) {
  try {
    return parseArgs({ args, strict: true, allowPositionals: true, options });
  } catch (e) {
    throw new Usage((e as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
  }
}

export async function cmdMount(args: string[]): Promise<Reply> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parse(args, {
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
    }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (e) {
    if (e instanceof Usage) return usage(`mount: ${e.message}`);
    throw e;
  }
  if (values.help) return { code: 0, stdout: `${MOUNT_HELP}\n` };
  const json = values.json === true;
  if (positionals.length !== 2) return usage(`mount: expected SOURCE and TARGET, got ${positionals.length} arguments`);
  const map = values.map as string | undefined;
  const mu = values["map-users"] as string | undefined;
  const mg = values["map-groups"] as string | undefined;
  if (map !== undefined && (mu !== undefined || mg !== undefined))
    return usage("mount: --map cannot be combined with --map-users or --map-groups");
  const uidMap = map ?? mu;
  const gidMap = map ?? mg ?? mu;
  if (uidMap === undefined || gidMap === undefined)
    return usage("mount: give --map M or --map-users M [--map-groups M]");
  const p = values.propagation as string | undefined;
  if (p !== undefined && !["private", "slave", "shared", "unbindable"].includes(p))
    return usage(`mount: --propagation takes private, slave, shared or unbindable, not ${JSON.stringify(p)}`);
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
  try {
    await idmapMount(source, target, { uidMap, gidMap }, options);
  } catch (e) {
    return failure(e, json);
  }
  if (json) return { code: 0, stdout: `${JSON.stringify({ ok: true, source, target, uidMap, gidMap, options })}\n` };
  const flags = Object.entries(options)
    .filter(([k, v]) => v === true && k !== "recursive")
    .map(([k]) => k);
  return {
    code: 0,
    stdout: `mounted ${source} on ${target} idmapped (uid ${uidMap}, gid ${gidMap}; ${options.recursive ? "recursive" : "not recursive"}, ${options.propagation}${flags.length ? `, ${flags.join(", ")}` : ""})\n`,
  };
}

export function cmdUmount(args: string[]): Reply {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parse(args, {
      lazy: { type: "boolean", short: "l" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (e) {
    if (e instanceof Usage) return usage(`umount: ${e.message}`);
    throw e;
  }
  if (values.help) return { code: 0, stdout: `${UMOUNT_HELP}\n` };
  const json = values.json === true;
  if (positionals.length !== 1) return usage(`umount: expected one TARGET, got ${positionals.length} arguments`);
  const target = positionals[0] as string;
  try {
    unmount(target, { detach: values.lazy === true });
  } catch (e) {
    return failure(e, json);
  }
  if (json) return { code: 0, stdout: `${JSON.stringify({ ok: true, target, lazy: values.lazy === true })}\n` };
  return { code: 0, stdout: `unmounted ${target}${values.lazy ? " (lazy)" : ""}\n` };
}

/** Run a Reply-returning command: print and give the exit code. */
export async function runMountCommand(name: "mount" | "umount", args: string[]): Promise<number> {
  const r = name === "mount" ? await cmdMount(args) : cmdUmount(args);
  if (r.stdout) write(1, r.stdout);
  if (r.stderr) write(2, r.stderr);
  return r.code;
}
