/**
 * The fd handles (UsernsFd, NamespaceFd, IdmappedTree) own their fd alike:
 * close() closes it once (a later close cannot close a number reused since),
 * and a handle dropped while open has its fd closed when it is collected,
 * with a warning.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, readlinkSync } from "node:fs";
import { getUsernsFdSync, openIdmappedTreeSync, openNamespace } from "../src/index.ts";
import { cleanupBase, isRoot, MAP_UP, makeFs, scratch } from "./support/mounts.ts";
import { until } from "./support/proc.ts";

/** What /proc/self/fd/N names now, or undefined once N is closed. */
function target(fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

interface Handle {
  readonly fd: number;
  readonly closed: boolean;
  close(): void;
}

const base = isRoot ? scratch("bun-userns-fd-handle-") : "";
const fs = isRoot ? makeFs(base, "tmpfs") : undefined;
afterAll(() => {
  if (isRoot) cleanupBase(base);
});
const skip = !isRoot ? "needs root" : fs?.skip;

const kinds: [string, () => Handle][] = [
  ["UsernsFd", () => getUsernsFdSync("0:100000:1", "0:100000:1")],
  ["NamespaceFd", () => openNamespace(process.pid, "net")],
  ["IdmappedTree", () => openIdmappedTreeSync(fs?.dir ?? "/", { uidMap: MAP_UP, gidMap: MAP_UP })],
];

describe.skipIf(skip !== undefined)(`fd handles${skip ? ` — skipped: ${skip}` : ""}`, () => {
  for (const [name, make] of kinds) {
    test(`${name}: close() closes its fd once; a second close leaves a reused number alone`, () => {
      const h = make();
      const fd = h.fd;
      expect(target(fd)).toBeDefined();
      h.close();
      expect({ fd: h.fd, closed: h.closed, open: target(fd) }).toEqual({ fd: -1, closed: true, open: undefined });
      // The lowest free number: most likely the one just closed, now another file's.
      const other = openSync("/dev/null", "r");
      try {
        h.close();
        expect(target(other)).toBe("/dev/null");
      } finally {
        closeSync(other);
      }
    });

    test(`${name}: five handles dropped without close() have their fds closed when collected, with a warning`, async () => {
      const warnings: string[] = [];
      const onWarning = (w: Error & { code?: string }) => {
        if (w.code === "BUN_USERNS_LEAKED_FD" && w.message.includes(name)) warnings.push(w.message);
      };
      process.on("warning", onWarning);
      try {
        // Made and dropped in a frame of their own: nothing here keeps the handles.
        const held = (() => {
          const out: string[] = [];
          for (let i = 0; i < 5; i++) {
            const fd = make().fd;
            out.push(`${fd} ${target(fd)}`);
          }
          return out;
        })();
        const stillOpen = () => held.filter((h) => h === `${h.split(" ")[0]} ${target(Number(h.split(" ")[0]))}`);
        expect(stillOpen().length).toBe(5);
        await until(() => {
          Bun.gc(true);
          return stillOpen().length === 0 && warnings.length === 5;
        });
        expect({ open: stillOpen(), warnings: warnings.length }).toEqual({ open: [], warnings: 5 });
      } finally {
        process.off("warning", onWarning);
      }
    });
  }
});
