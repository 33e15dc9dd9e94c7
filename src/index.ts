export { type Step, UsernsError, type UsernsErrorFields } from "./core/errors.ts";
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
  type NamespaceName,
  parseNamespaceList,
} from "./core/flags.ts";
export { type Helper, liveHelpers } from "./core/helper.ts";
export { type IDMap, type IDMapInput, mapText, parseIDMapping } from "./core/idmap.ts";
export { type NativeInfo, nativeInfo } from "./core/native.ts";
export type { UnshareOptions } from "./core/options.ts";
export { reapOrphans } from "./core/orphans.ts";
export { supportsPidFD } from "./core/pidfd.ts";
export {
  type CallbackContext,
  getUsernsFd,
  getUsernsFdSync,
  startHelper,
  type UnshareCallback,
  unshareAfterEnterUserns,
  unshareAfterEnterUsernsSync,
} from "./core/unshare.ts";
export { UsernsFd } from "./core/usernsfd.ts";
/* exec */
export {
  type ExecNamespace,
  type InsideProcess,
  type SpawnInsideOptions,
  type StdioSpec,
  spawnInside,
} from "./exec/spawn-inside.ts";
/* mounts */
export {
  type IdmapMountOptions,
  IdmappedTree,
  idmapMount,
  idmapMountSync,
  type MountIdmap,
  type MountMaps,
  openIdmappedTree,
  openIdmappedTreeSync,
  type Propagation,
  type UnmountOptions,
  unmount,
} from "./mount/mount.ts";
/* namespaces as fds and files */
export { NAMESPACE_KINDS, type NamespaceKind } from "./ns/kinds.ts";
export { NamespaceFd, openNamespace } from "./ns/namespace-fd.ts";
export { type PinOptions, type PinSpec, type Pins, pinNamespaces, unpinNamespace } from "./ns/pins.ts";
export { setTimeOffsets, type TimeOffsets } from "./ns/time-offsets.ts";
export { type SubordinateIds, subordinateIds } from "./rootless/subid.ts";
/* sandbox(): a command in a view of its own */
export { type SandboxMount, type SandboxNamespace, type SandboxSpec, sandbox } from "./sandbox/sandbox.ts";
export { type SeccompFilterOptions, seccompFilter } from "./sandbox/seccomp.ts";
