export { type Step, UsernsError, type UsernsErrorFields } from "./errors.ts";
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
} from "./flags.ts";
export { type Helper, liveHelpers } from "./helper.ts";
export { type IDMap, type IDMapInput, mapText, parseIDMapping } from "./idmap.ts";
/* issue 9: mounts */
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
} from "./mount.ts";
export { type NativeInfo, nativeInfo } from "./native.ts";
export type { UnshareOptions } from "./options.ts";
export { reapOrphans } from "./orphans.ts";
export { supportsPidFD } from "./pidfd.ts";
export { type SubordinateIds, subordinateIds } from "./subid.ts";
export {
  type CallbackContext,
  getUsernsFd,
  getUsernsFdSync,
  startHelper,
  type UnshareCallback,
  unshareAfterEnterUserns,
  unshareAfterEnterUsernsSync,
} from "./unshare.ts";
export { UsernsFd } from "./usernsfd.ts";
