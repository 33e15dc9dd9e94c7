/**
 * `bun-userns pin` (namespaces to files, like `unshare --net=FILE`
 * without a command, or `ip netns attach NAME PID` with --target) and
 * `bun-userns unpin FILE...` (like `ip netns delete`). Exit 0, 1 failure,
 * 2 usage.
 */

import type { NamespaceKind } from "../ns/kinds.ts";
import { pinNamespaces, unpinNamespace } from "../ns/pins.ts";
import { startHelper } from "../unshare.ts";
import {
  choice,
  flagsOf,
  namespaceOptions,
  nsTable,
  parseArgv,
  report,
  str,
  UsageError,
  unshareList,
  write,
} from "./args.ts";
import { cliMaps, MAP_TABLE } from "./maps.ts";

export const PIN_HELP = `Usage: bun-userns pin [options] --NS=FILE [--NS=FILE...]
       bun-userns pin --target PID --NS=FILE [--NS=FILE...]

Pins namespaces to files (bind mounts of /proc/PID/ns/*, as unshare(1)
--net=FILE and ip netns attach make them): a missing FILE is created in a
directory that must exist; an existing FILE must be an empty regular file
of yours (kept on unpin). Without --target, a helper is made in a new user
namespace with each pinned namespace (and those asked for) new, the pins
are made, and the helper is reaped: the namespaces live on in the files.
Needs root (a bind mount in this mount namespace). Prints "KIND FILE" per pin.

Options:
  --NS=FILE                NS: user, mount, net, uts, ipc, cgroup, time (pid:
                           only with --target: a pid namespace needs a pid 1)
  -t, --target PID         pin PID's namespaces instead of new ones
  -r -c --map-user --map-group --map-users --map-groups --map-auto --map M   as for exec
  -m -u -i -n -C -T, --unshare LIST   also unshare these (each pin's own is implied)
      --setgroups allow|deny
      --force              bind over an existing regular file of yours that has
                           content (hidden, not changed; another uid's file or a
                           non-regular file is still refused)
      --json               print {"net": "/run/netns/x", ...}
  -h, --help

Example:
  bun-userns pin -n --net=/run/netns/sb1 && ip netns exec sb1 ip link`;

export const UNPIN_HELP = `Usage: bun-userns unpin FILE...

Removes namespace pins: unmounts each FILE, as ip netns delete does, and
deletes it if it is what a pin creates (empty, one link, no write
permission, yours); any other file stays, and unpin says so. A FILE that is
not a namespace bind mount is refused untouched.`;

export function cmdPin(args: string[]): number {
  try {
    const p = parseArgv(
      "pin",
      args,
      {
        ...MAP_TABLE,
        ...nsTable(false),
        unshare: { type: "string" },
        target: { type: "string", short: "t" },
        setgroups: { type: "string" },
        json: { type: "boolean" },
        force: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      "positionals",
    );
    const v = p.values;
    if (v.help) {
      write(1, `${PIN_HELP}\n`);
      return 0;
    }
    if (p.rest.length > 0) throw new UsageError(`pin: unexpected argument ${JSON.stringify(p.rest[0])}`);
    const { kinds, files, bare } = namespaceOptions("pin", p);
    for (const k of unshareList("pin", str(v.unshare))) kinds.add(k);
    if (Object.keys(files).length === 0) throw new UsageError("pin: say what to pin: --net=FILE, --user=FILE, ...");
    const setgroups = choice("pin", "setgroups", v.setgroups, ["allow", "deny"] as const);
    const target = str(v.target);
    const maps = target === undefined ? cliMaps("pin", p) : undefined;
    if (target !== undefined) {
      if (!/^[1-9][0-9]{0,9}$/.test(target))
        throw new UsageError(`pin: --target takes a pid, not ${JSON.stringify(target)}`);
      const made = bare.size > 0 || v.unshare !== undefined || setgroups !== undefined;
      if (made || p.seen.some(([o]) => Object.hasOwn(MAP_TABLE, o)))
        throw new UsageError("pin: --target pins an existing process's namespaces: it takes no map or unshare options");
    } else if (kinds.has("pid")) {
      throw new UsageError(
        "pin: a new pid namespace has no pid 1 to pin it by: use bun-userns exec -f -p --pid=FILE -- CMD, or pin --target PID --pid=FILE",
      );
    }
    const overwrite = v.force === true;
    let paths: Readonly<Partial<Record<NamespaceKind, string>>>;
    if (target !== undefined) {
      paths = pinNamespaces(Number(target), files, { overwrite }).paths;
    } else {
      const uid = process.geteuid?.() ?? 0;
      const gid = process.getegid?.() ?? 0;
      using helper = startHelper(maps?.uidMap ?? `0:${uid}:1`, maps?.gidMap ?? `0:${gid}:1`, flagsOf(kinds), {
        setgroups: setgroups ?? (maps?.denySetgroups ? "deny" : undefined),
        mapper: maps?.mapper,
      });
      paths = pinNamespaces(helper, files, { overwrite }).paths;
    }
    if (v.json) write(1, `${JSON.stringify(paths)}\n`);
    else for (const [kind, path] of Object.entries(paths)) write(1, `${kind} ${path}\n`);
    return 0;
  } catch (e) {
    return report(e);
  }
}

export function cmdUnpin(args: string[]): number {
  if (args.includes("-h") || args.includes("--help")) {
    write(1, `${UNPIN_HELP}\n`);
    return 0;
  }
  const paths = args[0] === "--" ? args.slice(1) : args;
  if (paths.length === 0) return report(new UsageError("unpin: missing FILE (bun-userns unpin FILE...)"));
  let rc = 0;
  for (const path of paths) {
    try {
      if (!unpinNamespace(path).removed) {
        write(2, `bun-userns: unpinned ${path}; the file stays (not one a pin creates)\n`);
      }
    } catch (e) {
      rc = report(e);
    }
  }
  return rc;
}
