/**
 * The public API. Importing the package loads only this file and two
 * import-free ones (the namespace constants, the error class): every call
 * loads its own module at its first use, synchronously, and through it only
 * the native code and Node modules it needs (docs/performance.md). The
 * classes are exported as stand-ins that load theirs on first use:
 * `instanceof`, `new` and their static methods reach the real class.
 */
import type * as Flags from "./core/flags.ts";
import type * as HelperModule from "./core/helper.ts";
import type * as Idmap from "./core/idmap.ts";
import type * as Native from "./core/native.ts";
import type * as Orphans from "./core/orphans.ts";
import type * as Pidfd from "./core/pidfd.ts";
import type * as UsernsFdModule from "./core/usernsfd.ts";
import type * as SpawnInside from "./exec/spawn-inside.ts";
import type * as Mount from "./mount/mount.ts";
import type * as NamespaceFdModule from "./ns/namespace-fd.ts";
import type * as Pins from "./ns/pins.ts";
import type * as TimeOffsets from "./ns/time-offsets.ts";
import type * as Subid from "./rootless/subid.ts";
import type * as Sandbox from "./sandbox/sandbox.ts";
import type * as Seccomp from "./sandbox/seccomp.ts";
import type * as Unshare from "./unshare.ts";

export type { Step } from "./core/errors.ts";
export type { Helper } from "./core/helper.ts";
export type { IDMap, IDMapInput } from "./core/idmap.ts";
export {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWTIME,
  CLONE_NEWUSER,
  CLONE_NEWUTS,
  NAMESPACE_FLAGS,
  NAMESPACE_KINDS,
  type NamespaceKind,
  type NamespaceName,
} from "./core/names.ts";
export type { NativeInfo } from "./core/native.ts";
export type { UnshareOptions } from "./core/options.ts";
export { UsernsError, type UsernsErrorFields } from "./core/usernserror.ts";
export type { ExecNamespace, InsideProcess, SpawnInsideOptions, StdioSpec } from "./exec/spawn-inside.ts";
export type {
  IdmapMountOptions,
  MountIdmap,
  MountMaps,
  Propagation,
  UnmountOptions,
} from "./mount/mount.ts";
export type { PinOptions, PinSpec, Pins } from "./ns/pins.ts";
export type { TimeOffsets } from "./ns/time-offsets.ts";
export type { SubordinateIds } from "./rootless/subid.ts";
export type { SandboxMount, SandboxNamespace, SandboxProcess, SandboxSpec } from "./sandbox/sandbox.ts";
export type { SeccompFilterOptions } from "./sandbox/seccomp.ts";
export type { CallbackContext, UnshareCallback } from "./unshare.ts";

/** A module loaded at its first use (Bun's require() loads an ES module synchronously). */
function once<M>(load: () => M): () => M {
  let m: M | undefined;
  return () => {
    m ??= load();
    return m;
  };
}

/** A function of a lazily loaded module. */
function fn<M, K extends keyof M>(mod: () => M, key: K): M[K] {
  return function (this: unknown, ...args: unknown[]) {
    return (mod()[key] as (...a: unknown[]) => unknown).apply(this, args);
  } as M[K];
}

/**
 * A class of a lazily loaded module, as a stand-in: `instanceof` asks the
 * real class (Symbol.hasInstance), `new` builds a real instance, and the
 * static methods named in `statics` forward to the real ones.
 */
function cls<M, K extends keyof M>(mod: () => M, key: K, statics: string[] = []): M[K] {
  type Real = new (...a: unknown[]) => object;
  const real = () => mod()[key] as unknown as Real;
  const stand = class {
    static [Symbol.hasInstance](v: unknown): boolean {
      return v instanceof real();
    }
    constructor(...args: unknown[]) {
      // biome-ignore lint/correctness/noConstructorReturn: the stand-in hands back the real class's instance
      return Reflect.construct(real(), args);
    }
  };
  for (const name of statics)
    Object.defineProperty(stand, name, {
      value: (...args: unknown[]) =>
        (real() as unknown as Record<string, (...a: unknown[]) => unknown>)[name]?.(...args),
    });
  Object.defineProperty(stand, "name", { value: String(key) });
  return stand as unknown as M[K];
}

const flags = once(() => require("./core/flags.ts") as typeof Flags);
const helper = once(() => require("./core/helper.ts") as typeof HelperModule);
const idmap = once(() => require("./core/idmap.ts") as typeof Idmap);
const native = once(() => require("./core/native.ts") as typeof Native);
const orphans = once(() => require("./core/orphans.ts") as typeof Orphans);
const pidfd = once(() => require("./core/pidfd.ts") as typeof Pidfd);
const unshare = once(() => require("./unshare.ts") as typeof Unshare);
const usernsFd = once(() => require("./core/usernsfd.ts") as typeof UsernsFdModule);
const spawnInsideModule = once(() => require("./exec/spawn-inside.ts") as typeof SpawnInside);
const mount = once(() => require("./mount/mount.ts") as typeof Mount);
const namespaceFd = once(() => require("./ns/namespace-fd.ts") as typeof NamespaceFdModule);
const pins = once(() => require("./ns/pins.ts") as typeof Pins);
const timeOffsets = once(() => require("./ns/time-offsets.ts") as typeof TimeOffsets);
const subid = once(() => require("./rootless/subid.ts") as typeof Subid);
const sandboxModule = once(() => require("./sandbox/sandbox.ts") as typeof Sandbox);
const seccomp = once(() => require("./sandbox/seccomp.ts") as typeof Seccomp);

export const parseNamespaceList = fn(flags, "parseNamespaceList");
export const liveHelpers = fn(helper, "liveHelpers");
export const mapText = fn(idmap, "mapText");
export const parseIDMapping = fn(idmap, "parseIDMapping");
export const nativeInfo = fn(native, "nativeInfo");
export const reapOrphans = fn(orphans, "reapOrphans");
export const supportsPidFD = fn(pidfd, "supportsPidFD");
export const getUsernsFd = fn(unshare, "getUsernsFd");
export const getUsernsFdSync = fn(unshare, "getUsernsFdSync");
export const startHelper = fn(unshare, "startHelper");
export const unshareAfterEnterUserns = fn(unshare, "unshareAfterEnterUserns");
export const unshareAfterEnterUsernsSync = fn(unshare, "unshareAfterEnterUsernsSync");
export const UsernsFd = cls(usernsFd, "UsernsFd");
export type UsernsFd = UsernsFdModule.UsernsFd;
/* exec */
export const spawnInside = fn(spawnInsideModule, "spawnInside");
/* mounts */
export const IdmappedTree = cls(mount, "IdmappedTree");
export type IdmappedTree = Mount.IdmappedTree;
export const idmapMount = fn(mount, "idmapMount");
export const idmapMountSync = fn(mount, "idmapMountSync");
export const openIdmappedTree = fn(mount, "openIdmappedTree");
export const openIdmappedTreeSync = fn(mount, "openIdmappedTreeSync");
export const unmount = fn(mount, "unmount");
/* namespaces as fds and files */
export const NamespaceFd = cls(namespaceFd, "NamespaceFd", ["adopt"]);
export type NamespaceFd = NamespaceFdModule.NamespaceFd;
export const openNamespace = fn(namespaceFd, "openNamespace");
export const pinNamespaces = fn(pins, "pinNamespaces");
export const unpinNamespace = fn(pins, "unpinNamespace");
export const setTimeOffsets = fn(timeOffsets, "setTimeOffsets");
export const subordinateIds = fn(subid, "subordinateIds");
/* sandbox(): a command in a view of its own */
export const sandbox = fn(sandboxModule, "sandbox");
export const seccompFilter = fn(seccomp, "seccompFilter");
