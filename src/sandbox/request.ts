/**
 * The request block of native/sandbox.c (layout: native/sandbox-abi.h),
 * built from a validated spec. Offsets only: the native side turns them
 * into addresses, so no pointer is ever handled here.
 */
import type { PlainMount, PlainSpec } from "./spec.ts";

export const SB_HEADER = 256;
export const SB_STACK = 256 * 1024;
const SOP_SIZE = 48;
const MADE_SIZE = 280;
/** Records of mount points made on the host: enough for every op to make a few directories. */
const MADE_MAX_LIMIT = 4096;

const SO = { newPid: 1, asPid1: 2, newSession: 4, net: 8, ipc: 16, uts: 32, cgroup: 64, noUserns: 128 } as const;
const SOP = {
  bind: 1,
  tmpfs: 2,
  proc: 3,
  dev: 4,
  mqueue: 5,
  dir: 6,
  file: 7,
  symlink: 8,
  chmod: 9,
  "remount-ro": 10,
} as const;
const SF = { ro: 1, dev: 2, try: 4, fd: 8 } as const;

/** enum sstep of native/sandbox-abi.h, in order. */
export const SANDBOX_STEPS = [
  "none",
  "sigmask",
  "clone",
  "pipe",
  "parent_gone",
  "stdio",
  "dumpable",
  "source",
  "setns",
  "unshare",
  "propagation",
  "newroot",
  "mkdir",
  "resolve",
  "open_tree",
  "source_changed",
  "mount_setattr",
  "move_mount",
  "fsmount",
  "write",
  "symlink",
  "chmod",
  "made",
  "pivot_root",
  "hostname",
  "loopback",
  "userns_limit",
  "fork",
  "setsid",
  "setid",
  "caps",
  "no_new_privs",
  "close_range",
  "chdir",
  "seccomp",
  "exec",
  "stopped",
  "killed",
  "gate",
  "pidfd_open",
] as const;
export type SandboxStep = (typeof SANDBOX_STEPS)[number];

const encoder = new TextEncoder();

/** Bytes appended after the fixed parts, each at an 8-aligned offset. */
class Heap {
  parts: Uint8Array[] = [];
  size: number;
  constructor(start: number) {
    this.size = start;
  }
  add(bytes: Uint8Array, nul = false): number {
    const at = this.size;
    const b = nul ? new Uint8Array(bytes.length + 1) : bytes;
    if (nul) b.set(bytes);
    this.parts.push(b);
    this.size += b.length;
    const pad = (8 - (this.size % 8)) % 8;
    if (pad) {
      this.parts.push(new Uint8Array(pad));
      this.size += pad;
    }
    return at;
  }
  str(s: string): number {
    return this.add(encoder.encode(s), true);
  }
  zeros(n: number): number {
    return this.add(new Uint8Array(n));
  }
}

export interface Block {
  bytes: Uint8Array;
  view: DataView;
}

/** The block for this spec, with the user namespace's fd and the stdio fds given. */
export function buildRequest(
  s: PlainSpec,
  usernsFd: number,
  stdio: readonly [number, number, number],
  path: string | null,
): Block {
  const n = s.mounts.length;
  const fixed = SB_HEADER + SB_STACK;
  const heap = new Heap(fixed + n * SOP_SIZE);
  const ops: { m: PlainMount; source: number; target: number; data: number }[] = s.mounts.map((m) => ({
    m,
    source: m.kind === "bind" && m.fd < 0 ? heap.str(m.source) : m.kind === "symlink" ? heap.str(m.linkTo) : 0,
    target: heap.str(m.target),
    data: m.kind === "file" ? heap.add(m.data) : 0,
  }));
  const argvOffs = s.argv.map((a) => heap.str(a));
  const envOffs = s.env.map((e) => heap.str(e));
  const argvTable = heap.add(new Uint8Array(new Uint32Array(argvOffs).buffer));
  const envTable = heap.add(new Uint8Array(new Uint32Array(envOffs).buffer));
  const ptrs = heap.zeros((s.argv.length + s.env.length + 2) * 8);
  const pathAt = path === null ? 0 : heap.str(path);
  const cwdAt = s.cwd === null ? 0 : heap.str(s.cwd);
  const hostAt = s.hostname === null ? 0 : heap.str(s.hostname);
  const seccompAt = s.seccomp === null ? 0 : heap.add(s.seccomp);
  const madeMax = Math.min(MADE_MAX_LIMIT, 16 + n * 4);
  const madeAt = heap.zeros(madeMax * MADE_SIZE);
  if (heap.size > 2 ** 31) throw new RangeError("sandbox: the request is larger than 2 GiB");

  const bytes = new Uint8Array(heap.size);
  let at = fixed + n * SOP_SIZE;
  for (const p of heap.parts) {
    bytes.set(p, at);
    at += p.length;
  }
  const v = new DataView(bytes.buffer);
  ops.forEach(({ m, source, target, data }, i) => {
    const o = fixed + i * SOP_SIZE;
    let flags = 0;
    let mode = -1;
    let fd = -1;
    let size = 0;
    if (m.kind === "bind") {
      flags = (m.ro ? SF.ro : 0) | (m.dev ? SF.dev : 0) | (m.try ? SF.try : 0) | (m.fd >= 0 ? SF.fd : 0);
      fd = m.fd;
    } else if (m.kind === "tmpfs") {
      mode = m.mode;
      size = m.size;
    } else if (m.kind === "dir" || m.kind === "chmod") mode = m.mode;
    else if (m.kind === "file") {
      mode = m.mode;
      size = m.data.length;
    }
    v.setInt32(o, SOP[m.kind], true);
    v.setInt32(o + 4, flags, true);
    v.setInt32(o + 8, mode, true);
    v.setInt32(o + 12, fd, true);
    v.setBigUint64(o + 16, BigInt(size), true);
    v.setUint32(o + 24, source, true);
    v.setUint32(o + 28, target, true);
    v.setUint32(o + 32, data, true);
    v.setInt32(o + 36, -1, true);
  });
  const ns = s.namespaces;
  const opts =
    (ns.has("pid") ? SO.newPid : 0) |
    (s.asPid1 ? SO.asPid1 : 0) |
    (s.newSession ? SO.newSession : 0) |
    (ns.has("net") ? SO.net : 0) |
    (ns.has("ipc") ? SO.ipc : 0) |
    (ns.has("uts") ? SO.uts : 0) |
    (ns.has("cgroup") ? SO.cgroup : 0) |
    (s.disableNestedUserns ? SO.noUserns : 0);
  v.setInt32(0, usernsFd, true);
  v.setInt32(4, opts, true);
  v.setInt32(8, n, true);
  v.setUint32(12, fixed, true);
  for (let i = 0; i < 3; i++) v.setInt32(16 + 4 * i, stdio[i] as number, true);
  v.setInt32(56, SB_STACK, true);
  v.setInt32(60, s.uid | 0, true);
  v.setInt32(64, s.gid | 0, true);
  v.setInt32(68, s.seccomp === null ? 0 : s.seccomp.length / 8, true);
  v.setBigUint64(72, s.caps, true);
  v.setInt32(80, s.argv.length, true);
  v.setUint32(84, argvTable, true);
  v.setInt32(88, s.env.length, true);
  v.setUint32(92, envTable, true);
  v.setUint32(96, ptrs, true);
  v.setUint32(100, pathAt, true);
  v.setUint32(104, cwdAt, true);
  v.setUint32(108, hostAt, true);
  v.setUint32(112, seccompAt, true);
  v.setInt32(116, madeMax, true);
  v.setUint32(120, madeAt, true);
  return { bytes, view: v };
}

/** What the native call left in the block. */
export function readResult(b: Block): { pidfd: number; step: SandboxStep; errno: number; index: number } {
  return {
    pidfd: b.view.getInt32(36, true),
    step: SANDBOX_STEPS[b.view.getInt32(40, true)] ?? "none",
    errno: b.view.getInt32(44, true),
    index: b.view.getInt32(48, true),
  };
}
