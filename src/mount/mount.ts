/**
 * Idmapped mounts (containerd's IDMapMount / IDMapMountWithAttrs): a
 * detached clone of SOURCE (open_tree), idmapped with a user namespace's maps
 * (mount_setattr MOUNT_ATTR_IDMAP), attached on TARGET (move_mount).
 */
import { resolve } from "node:path";
import { invalid, UsernsError } from "../core/errors.ts";
import { FdHandle } from "../core/fd-handle.ts";
import { type IDMapInput, parseIDMapping } from "../core/idmap.ts";
import { UsernsFd } from "../core/usernsfd.ts";
import { typeError, validateBoolean, validateInteger, validateObject, validatePath } from "../core/validate.ts";
import { getUsernsFd, getUsernsFdSync } from "../unshare.ts";
import { type MountContext, mountError } from "./errors.ts";
import * as mountCodec from "./mount-codec.ts";
import { checkMountOptions, type IdmapMountOptions, type MountAttrs } from "./options.ts";

export type { IdmapMountOptions, Propagation } from "./options.ts";

/** Maps for a user namespace made for this one call (closed after it). */
export interface MountMaps {
  uidMap: IDMapInput;
  gidMap: IDMapInput;
}

/** Maps, or an existing user namespace (reused across mounts, never closed here). */
export type MountIdmap = MountMaps | UsernsFd | number;

type Resolved = { kind: "maps"; uidMap: IDMapInput; gidMap: IDMapInput } | { kind: "fd"; fd: number };

function checkPath(what: string, raw: unknown): string {
  const p = validatePath(raw, what);
  if (new TextEncoder().encode(p).length >= 4096)
    throw invalid("options", `${what} is ${p.length} characters long: paths must be shorter than 4096 bytes`);
  return p;
}

/** Read the caller's idmap argument once into plain data. */
function checkIdmap(idmap: unknown): Resolved {
  if (idmap instanceof UsernsFd) {
    const fd = idmap.fd;
    if (fd < 0) throw invalid("options", "the UsernsFd given is closed");
    return { kind: "fd", fd };
  }
  if (typeof idmap === "number")
    return { kind: "fd", fd: validateInteger(idmap, "the user-namespace fd", 0, 0x7fffffff) };
  if (idmap === null || typeof idmap !== "object" || Array.isArray(idmap))
    throw typeError("the idmap", "{ uidMap, gidMap }, a UsernsFd or an fd number", idmap);
  const o = idmap as Record<string, unknown>;
  const uid = o.uidMap;
  const gid = o.gidMap;
  if (uid === undefined || gid === undefined)
    throw new TypeError("the idmap needs both uidMap and gidMap (or pass a UsernsFd)");
  // Parsed copies: what is validated is what the helper is given.
  return {
    kind: "maps",
    uidMap: parseIDMapping(uid as IDMapInput, "uid"),
    gidMap: parseIDMapping(gid as IDMapInput, "gid"),
  };
}

/** open_tree + mount_setattr on a resolved fd: the tree's fd, or a thrown UsernsError. */
function openTree(source: string, fd: number, attrs: MountAttrs): number {
  const a = mountCodec.openTreeIdmap({
    path: resolve(source), // absolute: the walk starts at "/"
    usernsFd: fd,
    attrSet: attrs.attrSet,
    attrClr: attrs.attrClr,
    propagation: attrs.propagation,
    recursive: attrs.recursive,
  });
  if (a.rc < 0) throw mountError(a, { source, usernsFd: fd, recursive: attrs.recursive }, "open_tree");
  return a.rc;
}

/** move_mount of the tree onto TARGET: the attached mount's id (0n if unknown). */
function attachOrThrow(treeFd: number, ctx: MountContext & { target: string }): bigint {
  const a = mountCodec.attachTree(treeFd, resolve(ctx.target));
  if (a.step !== undefined) throw mountError(a, ctx, "move_mount");
  return a.mountId ?? 0n;
}

/** UnmountOptions read once into umount2 flags. */
function unmountFlags(options: unknown): number {
  if (options === undefined || options === null) return 0;
  validateObject(options, "unmount options");
  const copy = { ...options };
  for (const key of Object.keys(copy))
    if (key !== "detach") throw new TypeError(`unknown unmount option ${JSON.stringify(key)}; known: detach`);
  const d = copy.detach;
  if (d !== undefined) validateBoolean(d, "unmount option detach");
  return d === true ? 2 /* MNT_DETACH */ : 0;
}

/**
 * A detached, idmapped mount (O_CLOEXEC fd), visible nowhere until
 * `attach(target)`. Closing it unattached frees the mount: nothing is left.
 * Once attached it remembers the mount it made (its mount id), and
 * `unmount()` removes that mount only. Its fd (O_CLOEXEC, -1 once closed)
 * is closed once, by close(), `using`, or the leak net (fd-handle.ts);
 * closed unattached, the kernel frees the mount with it.
 */
export class IdmappedTree extends FdHandle {
  #attached: string | undefined;
  #mountId: bigint | undefined;
  #unmounted = false;
  readonly source: string;

  constructor(fd: number, source: string) {
    super(fd, "IdmappedTree");
    this.source = source;
  }

  /**
   * The attached mount's id (statx STATX_MNT_ID_UNIQUE where the kernel has
   * it, else STATX_MNT_ID; the mnt_id of /proc/self/mountinfo is the latter);
   * undefined until attached.
   */
  get mountId(): bigint | undefined {
    return this.#mountId;
  }

  /** Where it was attached, if it was. */
  get attachedAt(): string | undefined {
    return this.#attached;
  }

  /** move_mount onto TARGET. Once only: a second attach is an error. */
  attach(target: string): void {
    const t = checkPath("target", target);
    if (this.fd < 0) throw invalid("move_mount", "the idmapped tree is closed");
    if (this.#attached !== undefined) {
      throw new UsernsError(`the idmapped tree of ${this.source} is already attached at ${this.#attached}`, {
        code: "EBUSY",
        errno: 16,
        syscall: "move_mount",
        step: "move_mount",
        hint: "open another tree (openIdmappedTree) for a second mountpoint",
      });
    }
    this.attachAs(t, {});
  }

  /** attach with the context a failure's hint needs. @internal */
  attachAs(target: string, ctx: MountContext): void {
    this.#mountId = attachOrThrow(this.fd, { ...ctx, source: this.source, target });
    this.#attached = target;
  }

  /**
   * Unmount the mount this tree attached, and only it: TARGET's directory is
   * resolved once and the mount at TARGET must have the id remembered at
   * attach, else UsernsError EINVAL (step "umount") and nothing is unmounted.
   * Closes the tree's fd first (an open fd keeps the mount busy). Once it has
   * succeeded, a second call does nothing. Never deletes anything.
   */
  unmount(options?: UnmountOptions): void {
    const flags = unmountFlags(options);
    const target = this.#attached;
    if (target === undefined)
      throw invalid("umount", `the idmapped tree of ${this.source} is not attached: there is nothing to unmount`);
    if (this.#unmounted) return;
    this.close();
    const a = mountCodec.umount(resolve(target), flags, this.#mountId ?? 0n);
    if (a.rc < 0) throw mountError(a, { target, mountId: this.#mountId }, "umount");
    this.#unmounted = true;
  }
}

function prepare(source: unknown, target: unknown | undefined, idmap: unknown, options: unknown) {
  const s = checkPath("source", source);
  const t = target === undefined ? undefined : checkPath("target", target);
  const attrs = checkMountOptions(options);
  const resolved = checkIdmap(idmap);
  return { s, t, attrs, resolved };
}

/** Run fn with a userns fd: the given one, or one made for this call and closed after. */
async function withUserns<T>(r: Resolved, fn: (fd: number) => T): Promise<T> {
  if (r.kind === "fd") return fn(r.fd);
  using ns = await getUsernsFd(r.uidMap, r.gidMap);
  return fn(ns.fd);
}
function withUsernsSync<T>(r: Resolved, fn: (fd: number) => T): T {
  if (r.kind === "fd") return fn(r.fd);
  using ns = getUsernsFdSync(r.uidMap, r.gidMap);
  return fn(ns.fd);
}

function mountWith(s: string, t: string, attrs: MountAttrs, fd: number): IdmappedTree {
  const tree = new IdmappedTree(openTree(s, fd, attrs), s);
  try {
    tree.attachAs(t, { usernsFd: fd });
  } finally {
    tree.close(); // attached or not: an attached mount stays, a detached one is freed
  }
  return tree;
}

/**
 * Mount SOURCE on TARGET, idmapped. Nothing is left mounted if it fails.
 * Returns the attached tree (its fd already closed): `.unmount()` removes
 * this mount only, `.mountId` names it.
 */
export async function idmapMount(
  source: string,
  target: string,
  idmap: MountIdmap,
  options?: IdmapMountOptions,
): Promise<IdmappedTree> {
  const { s, t, attrs, resolved } = prepare(source, target, idmap, options);
  return await withUserns(resolved, (fd) => mountWith(s, t as string, attrs, fd));
}

/** `idmapMount` without a promise. */
export function idmapMountSync(
  source: string,
  target: string,
  idmap: MountIdmap,
  options?: IdmapMountOptions,
): IdmappedTree {
  const { s, t, attrs, resolved } = prepare(source, target, idmap, options);
  return withUsernsSync(resolved, (fd) => mountWith(s, t as string, attrs, fd));
}

/** A detached idmapped clone of SOURCE, attached nowhere until `tree.attach(target)`. */
export async function openIdmappedTree(
  source: string,
  idmap: MountIdmap,
  options?: IdmapMountOptions,
): Promise<IdmappedTree> {
  const { s, attrs, resolved } = prepare(source, undefined, idmap, options);
  return new IdmappedTree(await withUserns(resolved, (fd) => openTree(s, fd, attrs)), s);
}

/** `openIdmappedTree` without a promise. */
export function openIdmappedTreeSync(source: string, idmap: MountIdmap, options?: IdmapMountOptions): IdmappedTree {
  const { s, attrs, resolved } = prepare(source, undefined, idmap, options);
  return new IdmappedTree(
    withUsernsSync(resolved, (fd) => openTree(s, fd, attrs)),
    s,
  );
}

export interface UnmountOptions {
  /** MNT_DETACH: detach now, free when no longer busy (umount --lazy). */
  detach?: boolean;
}

/**
 * umount2 of the mount at TARGET: its directory resolved once (no symlink
 * another uid owns is followed), the name checked to be a mount root in that
 * directory, then unmounted there, never following a symlink at its end.
 * By path there is no memory of which mount was meant: whatever mount is at
 * TARGET is removed. `tree.unmount()` (the handle idmapMount and attach give)
 * also checks it is the mount that handle attached. Never deletes anything.
 */
export function unmount(target: string, options?: UnmountOptions): void {
  const t = checkPath("target", target);
  const flags = unmountFlags(options);
  const a = mountCodec.umount(resolve(t), flags);
  if (a.rc < 0) throw mountError(a, { target: t }, "umount");
}
