/**
 * Options of the idmapped-mount calls, validated into plain data before
 * anything is created (each property of the caller's object is read once).
 */
import { validateBoolean, validateObject, validateOneOf } from "../core/validate.ts";

export type Propagation = "private" | "slave" | "shared" | "unbindable";

export interface IdmapMountOptions {
  /** Clone and idmap SOURCE's submounts too (default true, as a bind mount in containerd). */
  recursive?: boolean;
  /** MOUNT_ATTR_RDONLY: writes fail with EROFS. */
  readOnly?: boolean;
  /** MOUNT_ATTR_NOSUID */
  nosuid?: boolean;
  /** MOUNT_ATTR_NODEV */
  nodev?: boolean;
  /** MOUNT_ATTR_NOEXEC */
  noexec?: boolean;
  /** MOUNT_ATTR_NOATIME */
  noatime?: boolean;
  /** MOUNT_ATTR_NODIRATIME */
  nodiratime?: boolean;
  /** MOUNT_ATTR_NOSYMFOLLOW (kernel 5.14) */
  nosymfollow?: boolean;
  /** Propagation of the new mount (default "private"). */
  propagation?: Propagation;
}

/** What the native call takes. */
export interface MountAttrs {
  recursive: boolean;
  attrSet: number;
  attrClr: number;
  propagation: number;
  /** The options as validated, for messages and --json. */
  options: Required<Pick<IdmapMountOptions, "recursive" | "propagation">> & IdmapMountOptions;
}

/* include/uapi/linux/mount.h */
const ATTR = {
  readOnly: 0x1,
  nosuid: 0x2,
  nodev: 0x4,
  noexec: 0x8,
  noatime: 0x10,
  nodiratime: 0x80,
  nosymfollow: 0x200000,
} as const;
const MOUNT_ATTR__ATIME = 0x70;
/* MS_* propagation types of include/uapi/linux/mount.h */
export const PROPAGATION: Record<Propagation, number> = {
  unbindable: 1 << 17,
  private: 1 << 18,
  slave: 1 << 19,
  shared: 1 << 20,
};

const BOOLEANS = ["recursive", ...(Object.keys(ATTR) as (keyof typeof ATTR)[])] as const;
const KEYS = new Set<string>([...BOOLEANS, "propagation"]);

export function checkMountOptions(options: unknown): MountAttrs {
  const o: Record<string, unknown> = {};
  if (options !== undefined && options !== null) {
    validateObject(options, "mount options");
    for (const key of Object.keys(options)) {
      if (!KEYS.has(key)) {
        throw new TypeError(`unknown mount option ${JSON.stringify(key)}; known: ${[...KEYS].join(", ")}`);
      }
      o[key] = options[key]; // read once
    }
  }
  const out: MountAttrs = {
    recursive: true,
    attrSet: 0,
    attrClr: 0,
    propagation: PROPAGATION.private,
    options: { recursive: true, propagation: "private" },
  };
  for (const key of BOOLEANS) {
    const v = o[key];
    if (v === undefined) continue;
    validateBoolean(v, `mount option ${key}`);
    (out.options as unknown as Record<string, unknown>)[key] = v;
    if (key === "recursive") out.recursive = v;
    else if (v) out.attrSet |= ATTR[key];
  }
  if (out.attrSet & ATTR.noatime) out.attrClr |= MOUNT_ATTR__ATIME;
  const p = o.propagation;
  if (p !== undefined) {
    validateOneOf(p, "propagation", Object.keys(PROPAGATION));
    out.propagation = PROPAGATION[p as Propagation];
    out.options.propagation = p as Propagation;
  }
  return out;
}
