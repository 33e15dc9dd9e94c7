/**
 * The request block of native/sandbox.c (struct sreq, struct sop and struct
 * made: their layout is the contract's, src/core/contract.ts), built from a
 * validated spec. Offsets only: the native side turns them into addresses,
 * so no pointer is ever handled here.
 */
import { at, BLOCKS, CONSTS, SANDBOX_STEPS as STEP_TABLE } from "../core/contract.ts";
import type { PlainMount, PlainSpec } from "./spec.ts";

export const SB_HEADER = BLOCKS.sreq.size;
export const SB_STACK = 256 * 1024;
const SOP_SIZE = BLOCKS.sop.size;
const MADE_SIZE = BLOCKS.made.size;
/** Records of mount points made on the host: enough for every op to make a few directories. */
const MADE_MAX_LIMIT = 4096;

const SO = {
  newPid: CONSTS.SO_NEW_PID,
  asPid1: CONSTS.SO_AS_PID1,
  newSession: CONSTS.SO_NEW_SESSION,
  net: CONSTS.SO_NET,
  ipc: CONSTS.SO_IPC,
  uts: CONSTS.SO_UTS,
  cgroup: CONSTS.SO_CGROUP,
  noUserns: CONSTS.SO_NO_USERNS,
  assertNoUserns: CONSTS.SO_ASSERT_NO_USERNS,
  callerCaps: CONSTS.SO_CALLER_CAPS,
  callerMaps: CONSTS.SO_CALLER_MAPS,
} as const;
const SOP = {
  bind: CONSTS.SOP_BIND,
  tmpfs: CONSTS.SOP_TMPFS,
  proc: CONSTS.SOP_PROC,
  dev: CONSTS.SOP_DEV,
  mqueue: CONSTS.SOP_MQUEUE,
  dir: CONSTS.SOP_DIR,
  file: CONSTS.SOP_FILE,
  symlink: CONSTS.SOP_SYMLINK,
  chmod: CONSTS.SOP_CHMOD,
  "remount-ro": CONSTS.SOP_REMOUNT_RO,
  overlay: CONSTS.SOP_OVERLAY,
} as const;
const SF = { ro: CONSTS.SF_RO, dev: CONSTS.SF_DEV, try: CONSTS.SF_TRY, fd: CONSTS.SF_FD, tmp: CONSTS.SF_TMP } as const;
/** The namespaces in the order readResult's ns gives them (bwrap's --info-fd names them so). */
export const NS_ORDER = ["cgroup", "ipc", "mnt", "net", "pid", "uts", "user"] as const;

/** SSTEPS: the sandbox's steps, by the number the C reports. */
export const SANDBOX_STEPS = STEP_TABLE.map(([name]) => name);
export type SandboxStep = (typeof STEP_TABLE)[number][0];

const encoder = new TextEncoder();

/** Bytes appended after the fixed parts, each at an 8-aligned offset. */
class Heap {
  parts: Uint8Array[] = [];
  size: number;
  constructor(start: number) {
    this.size = start;
  }
  add(bytes: Uint8Array, nul = false): number {
    const offset = this.size;
    const b = nul ? new Uint8Array(bytes.length + 1) : bytes;
    if (nul) b.set(bytes);
    this.parts.push(b);
    this.size += b.length;
    const pad = (8 - (this.size % 8)) % 8;
    if (pad) {
      this.parts.push(new Uint8Array(pad));
      this.size += pad;
    }
    return offset;
  }
  str(s: string): number {
    return this.add(encoder.encode(s), true);
  }
  zeros(n: number): number {
    return this.add(new Uint8Array(n));
  }
}

/**
 * This thread's request block, reused: sandbox() is synchronous and its
 * entering child, the one process that runs in Bun's memory, is gone when
 * it returns (the monitor has the request in its own image, or its fork),
 * so no process still reads the block. Everything but the stack is zeroed
 * again and then written; the stack needs no zeros (the monitor's image
 * has its own, a hole of the memfd), which spares 256 KB of zeroes a call.
 */
let spare: Uint8Array | undefined;
function requestBlock(size: number): Uint8Array {
  if (spare === undefined || spare.length < size) spare = new Uint8Array(Math.max(size, 2 * (SB_HEADER + SB_STACK)));
  const b = spare.subarray(0, size);
  b.fill(0, 0, SB_HEADER);
  b.fill(0, SB_HEADER + SB_STACK);
  return b;
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
  exitFd: number,
): Block {
  const n = s.mounts.length;
  const fixed = SB_HEADER + SB_STACK;
  const heap = new Heap(fixed + n * SOP_SIZE);
  const u32s = (list: number[]) => heap.add(new Uint8Array(new Uint32Array(list).buffer));
  const ops: { m: PlainMount; source: number; target: number; data: number }[] = s.mounts.map((m) => {
    if (m.kind === "overlay") {
      // Layers bottom first, then upper and work (0: none); the monitor's fds beside them.
      const paths = [...m.sources, m.upper, m.work].map((p) => (p === null ? 0 : heap.str(p)));
      return { m, source: u32s(paths), target: heap.str(m.target), data: heap.zeros(paths.length * 4) };
    }
    return {
      m,
      source: m.kind === "bind" && m.fd < 0 ? heap.str(m.source) : m.kind === "symlink" ? heap.str(m.linkTo) : 0,
      target: heap.str(m.target),
      data: m.kind === "file" ? heap.add(m.data) : 0,
    };
  });
  // argv0: the command's argv[0]; the file executed keeps the name given first.
  const fileAt = s.argv0 === null ? 0 : heap.str(s.argv[0] as string);
  const argvOffs = s.argv.map((a, i) => heap.str(i === 0 && s.argv0 !== null ? s.argv0 : a));
  const lockOffs = s.lockFiles.map((p) => heap.str(p));
  const locksAt = lockOffs.length ? u32s(lockOffs) : 0;
  const envOffs = s.env.map((e) => heap.str(e));
  const argvTable = heap.add(new Uint8Array(new Uint32Array(argvOffs).buffer));
  const envTable = heap.add(new Uint8Array(new Uint32Array(envOffs).buffer));
  const ptrs = heap.zeros((s.argv.length + s.env.length + 2) * 8);
  const pathAt = path === null ? 0 : heap.str(path);
  const cwdAt = s.cwd === null ? 0 : heap.str(s.cwd);
  const hostAt = s.hostname === null ? 0 : heap.str(s.hostname);
  // Each program: u32 instructions, u32 pad, the instructions.
  const seccompAt = s.seccomp.length
    ? heap.add(
        (() => {
          const all = new Uint8Array(s.seccomp.reduce((n, p) => n + 8 + p.length, 0));
          const dv = new DataView(all.buffer);
          let o = 0;
          for (const p of s.seccomp) {
            dv.setUint32(o, p.length / 8, true);
            all.set(p, o + 8);
            o += 8 + p.length;
          }
          return all;
        })(),
      )
    : 0;
  const passAt = s.passFds.length ? heap.add(new Uint8Array(new Int32Array(s.passFds).buffer)) : 0;
  const madeMax = Math.min(MADE_MAX_LIMIT, 16 + n * 4);
  const madeAt = heap.zeros(madeMax * MADE_SIZE);
  if (heap.size > 2 ** 31) throw new RangeError("sandbox: the request is larger than 2 GiB");

  const bytes = requestBlock(heap.size);
  let cursor = fixed + n * SOP_SIZE;
  for (const p of heap.parts) {
    bytes.set(p, cursor);
    cursor += p.length;
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
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
      flags = m.readOnly ? SF.ro : 0;
    } else if (m.kind === "overlay") {
      size = m.sources.length;
      flags = m.tmp ? SF.tmp : m.upper === null ? SF.ro : 0;
    }
    v.setInt32(o + at("sop", "type"), SOP[m.kind], true);
    v.setInt32(o + at("sop", "flags"), flags, true);
    v.setInt32(o + at("sop", "mode"), mode, true);
    v.setInt32(o + at("sop", "fd"), fd, true);
    v.setBigUint64(o + at("sop", "size"), BigInt(size), true);
    v.setUint32(o + at("sop", "source"), source, true);
    v.setUint32(o + at("sop", "target"), target, true);
    v.setUint32(o + at("sop", "data"), data, true);
    v.setInt32(o + at("sop", "src"), -1, true);
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
    (s.disableNestedUserns ? SO.noUserns : 0) |
    (s.assertUsernsDisabled ? SO.assertNoUserns : 0) |
    (s.callerCaps ? SO.callerCaps : 0) |
    (s.uidMap === "none" || s.gidMap === "none" ? SO.callerMaps : 0);
  const S = (f: Parameters<typeof at<"sreq">>[1]) => at("sreq", f);
  v.setInt32(S("helper_pidfd"), usernsFd, true);
  v.setInt32(S("opts"), opts, true);
  v.setInt32(S("nops"), n, true);
  v.setUint32(S("ops"), fixed, true);
  for (let i = 0; i < 3; i++) v.setInt32(S("stdio") + 4 * i, stdio[i] as number, true);
  v.setInt32(S("stack_len"), SB_STACK, true);
  v.setUint32(S("size"), bytes.length, true);
  v.setInt32(S("uid"), s.uid | 0, true);
  v.setInt32(S("gid"), s.gid | 0, true);
  v.setInt32(S("nseccomp"), s.seccomp.length, true);
  v.setBigUint64(S("caps"), s.caps, true);
  v.setInt32(S("argc"), s.argv.length, true);
  v.setUint32(S("argv"), argvTable, true);
  v.setInt32(S("envc"), s.env.length, true);
  v.setUint32(S("envp"), envTable, true);
  v.setUint32(S("ptrs"), ptrs, true);
  v.setUint32(S("path"), pathAt, true);
  v.setUint32(S("cwd"), cwdAt, true);
  v.setUint32(S("hostname"), hostAt, true);
  v.setUint32(S("seccomp"), seccompAt, true);
  v.setInt32(S("made_max"), madeMax, true);
  v.setUint32(S("made"), madeAt, true);
  v.setUint32(S("file"), fileAt, true);
  v.setInt32(S("userns2"), s.userns2, true);
  v.setInt32(S("pidns"), s.pidns, true);
  v.setInt32(S("block_fd"), s.blockFd, true);
  v.setInt32(S("sync_fd"), s.syncFd, true);
  v.setInt32(S("nlocks"), s.lockFiles.length, true);
  v.setUint32(S("locks"), locksAt, true);
  v.setInt32(S("userns_block_fd"), s.usernsBlockFd, true);
  v.setInt32(S("exit_fd"), exitFd, true);
  v.setInt32(S("npass"), s.passFds.length, true);
  v.setUint32(S("pass"), passAt, true);
  return { bytes, view: v };
}

/** What the native call left in the block. */
export function readResult(b: Block): {
  pidfd: number;
  step: SandboxStep;
  errno: number;
  index: number;
  first: number;
  /** cgroup, ipc, mnt, net, pid, uts (sreq.ns), then user. */
  ns: bigint[];
} {
  const ns = at("sreq", "ns");
  return {
    first: b.view.getInt32(at("sreq", "first"), true),
    ns: [
      ...[0, 1, 2, 3, 4, 5].map((i) => b.view.getBigUint64(ns + 8 * i, true)),
      b.view.getBigUint64(at("sreq", "ns_user"), true),
    ],
    pidfd: b.view.getInt32(at("sreq", "pidfd"), true),
    step: SANDBOX_STEPS[b.view.getInt32(at("sreq", "step"), true)] ?? "none",
    errno: b.view.getInt32(at("sreq", "err"), true),
    index: b.view.getInt32(at("sreq", "index"), true),
  };
}
