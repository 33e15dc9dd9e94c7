/**
 * One rule for bad input at every entry point: a value of the wrong JS type
 * is a TypeError; a value of the right type that is not allowed is a
 * UsernsError EINVAL (step "options", or the call's own step where it names
 * one). Both come before anything is created or looked up.
 */
import { describe, expect, test } from "bun:test";
import {
  getUsernsFdSync,
  idmapMountSync,
  openIdmappedTreeSync,
  openNamespace,
  pinNamespaces,
  setTimeOffsets,
  spawnInside,
  startHelper,
  UsernsError,
  unmount,
  unpinNamespace,
} from "../src/index.ts";
import { thrown } from "./support/errors.ts";

const MAP = "0:100000:1";
const MAPS = { uidMap: MAP, gidMap: MAP };
/** Never reached: validation refuses first. */
const NOWHERE = "/nonexistent-bun-userns-validate/x";

/** What kind of refusal a call made: "TypeError", or "EINVAL <step>" for a UsernsError. */
function refusal(fn: () => unknown): string {
  const e = thrown(fn);
  if (e instanceof UsernsError) return `${e.code} ${e.step}`;
  if (e instanceof TypeError) return "TypeError";
  return `unexpected ${String(e)}`;
}

/** Each entry point: [what, call with a wrong-typed value, call with a wrong value of the right type, step]. */
const cases: [string, () => unknown, () => unknown, string][] = [
  [
    "startHelper options.setgroups",
    () => startHelper(MAP, MAP, 0, { setgroups: 1 as never }),
    () => startHelper(MAP, MAP, 0, { setgroups: "maybe" as never }),
    "options",
  ],
  [
    "getUsernsFdSync options.owner",
    () => getUsernsFdSync(MAP, MAP, { owner: true as never }),
    () => getUsernsFdSync(MAP, MAP, { owner: "nobody" as never }),
    "options",
  ],
  ["spawnInside's target", () => spawnInside("1" as never, ["true"]), () => spawnInside(-4, ["true"]), "options"],
  [
    "spawnInside argv",
    () => spawnInside(process.pid, "true" as never),
    () => spawnInside(process.pid, [""]),
    "options",
  ],
  [
    "spawnInside stdio",
    () => spawnInside(process.pid, ["true"], { stdio: [true as never] }),
    () => spawnInside(process.pid, ["true"], { stdio: ["bogus" as never] }),
    "options",
  ],
  [
    "spawnInside namespaces",
    () => spawnInside(process.pid, ["true"], { namespaces: [7 as never] }),
    () => spawnInside(process.pid, ["true"], { namespaces: ["netz" as never] }),
    "options",
  ],
  [
    "spawnInside uid",
    () => spawnInside(process.pid, ["true"], { uid: true as never }),
    () => spawnInside(process.pid, ["true"], { uid: -1 }),
    "options",
  ],
  [
    "spawnInside propagation",
    () => spawnInside(process.pid, ["true"], { propagation: 1 as never }),
    () => spawnInside(process.pid, ["true"], { propagation: "rshared" as never }),
    "options",
  ],
  [
    "spawnInside newSession",
    () => spawnInside(process.pid, ["true"], { newSession: "yes" as never }),
    () => spawnInside(process.pid, ["true"], { controllingTerminal: 3 as never }),
    "options",
  ],
  [
    "spawnInside env",
    () => spawnInside(process.pid, ["true"], { env: { A: 1 as never } }),
    () => spawnInside(process.pid, ["true"], { env: { "A=B": "c" } }),
    "options",
  ],
  [
    "spawnInside fork",
    () => spawnInside(process.pid, ["true"], { fork: 1 as never }),
    () => spawnInside(process.pid, ["true"], { cwd: "" }),
    "options",
  ],
  [
    "idmapMountSync source",
    () => idmapMountSync(7 as never, NOWHERE, MAPS),
    () => idmapMountSync("", NOWHERE, MAPS),
    "options",
  ],
  [
    "idmapMountSync options",
    () => idmapMountSync(NOWHERE, NOWHERE, MAPS, { readOnly: "yes" as never }),
    () => idmapMountSync(NOWHERE, NOWHERE, MAPS, { propagation: "rshared" as never }),
    "options",
  ],
  [
    "openIdmappedTreeSync idmap",
    () => openIdmappedTreeSync(NOWHERE, "0:1:1" as never),
    () => openIdmappedTreeSync(NOWHERE, -1),
    "options",
  ],
  ["unmount options", () => unmount(NOWHERE, { detach: 1 as never }), () => unmount("a\0b"), "options"],
  ["openNamespace", () => openNamespace({} as never, "net"), () => openNamespace(0, "net"), "namespace"],
  [
    "openNamespace kind",
    () => openNamespace(process.pid, 5 as never),
    () => openNamespace(process.pid, "netz"),
    "namespace",
  ],
  [
    "pinNamespaces path",
    () => pinNamespaces(process.pid, { net: 7 as never }),
    () => pinNamespaces(process.pid, { net: "" }),
    "pin",
  ],
  [
    "pinNamespaces options",
    () => pinNamespaces(process.pid, { net: NOWHERE }, { overwrite: "yes" as never }),
    () => pinNamespaces(process.pid, {}),
    "pin",
  ],
  ["unpinNamespace", () => unpinNamespace(7 as never), () => unpinNamespace(""), "unpin"],
  [
    "setTimeOffsets",
    () => setTimeOffsets(process.pid, { boottime: "5" as never }),
    () => setTimeOffsets(process.pid, { boottime: Number.NaN }),
    "options",
  ],
];

describe("a wrong JS type is a TypeError, a wrong value of the right type UsernsError EINVAL", () => {
  for (const [what, wrongType, wrongValue, step] of cases) {
    test(what, () => {
      expect({ wrongType: refusal(wrongType), wrongValue: refusal(wrongValue) }).toEqual({
        wrongType: "TypeError",
        wrongValue: `EINVAL ${step}`,
      });
    });
  }

  test("a command's kill() takes a signal name or number: other types are a TypeError, unknown names EINVAL", async () => {
    const p = spawnInside(process.pid, ["sleep", "30"], { namespaces: [] });
    try {
      expect({
        wrongType: refusal(() => p.kill({} as never)),
        wrongValue: refusal(() => p.kill("SIGNOPE" as never)),
      }).toEqual({
        wrongType: "TypeError",
        wrongValue: "EINVAL options",
      });
    } finally {
      p.kill("SIGKILL");
      await p.exited;
    }
  });
});
