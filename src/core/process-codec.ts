/**
 * Process primitives below both commands and namespaces (native/probe.c,
 * native/parent.c, native/pty.c, native/watch.c, native/ns.c's open): closing an fd, opening
 * a namespace and a user namespace's owner, pidfds, pipes, a pty and its window size, the
 * exit watcher's epoll set, and what this process may do (capabilities,
 * RLIMIT_NPROC, the kernel's pidfd support).
 */
import { newBlock, putCut, readHead } from "./block.ts";
import { at, BLOCKS, OPS, PROBE_STEPS } from "./contract.ts";
import { call } from "./native.ts";
import { freeRecord, registry, takeRecord } from "./registry-codec.ts";

/** close(fd): 0 or -errno. */
export function close(fd: number): number {
  return call(OPS.close, null, fd, 0);
}

/**
 * Open PATH as a namespace (O_PATH, nsfs check, O_RDONLY|O_CLOEXEC reopen;
 * one open for a /proc/PID/ns link we built, PROCLINK): fd and CLONE_NEW*
 * type, or -errno (-ENOTTY: not a namespace).
 */
export function nsOpen(path: string, procLink = false): { fd: number; type: number } | number {
  const b = newBlock("ns_query");
  putCut(b.bytes, at("ns_query", "path"), BLOCKS.ns_query.fields.path[1], path);
  const fd = call(OPS.ns_open, b.bytes, procLink ? 1 : 0, 0);
  return fd < 0 ? fd : { fd, type: b.view.getInt32(at("ns_query", "answer"), true) };
}

/** NS_GET_OWNER_UID of a user-namespace fd: uid or -errno. */
export function ownerUid(fd: number): number {
  const out = new Uint32Array(1);
  const rc = call(OPS.owner_uid, new Uint8Array(out.buffer), fd, 0);
  return rc < 0 ? rc : (out[0] as number);
}

/** Capabilities 0-30 of this thread's effective set (0 on error). */
export function capEffective(): number {
  return Math.max(call(OPS.cap_effective, null, 0, 0), 0);
}

/** What every helper needs from the kernel: ok, or the first call that failed (PSTEPS) and its errno. */
export function probeKernel(): { ok: true } | { ok: false; step: ProbeStep; errno: number } {
  const b = newBlock("head");
  const rc = call(OPS.probe_kernel, b.bytes, 0, 0);
  if (rc >= 0) return { ok: true };
  const head = readHead(b.view, "head");
  return { ok: false, step: PROBE_STEPS[head.step]?.[0] ?? "none", errno: head.errno || -rc };
}
export type ProbeStep = (typeof PROBE_STEPS)[number][0];

/** Soft RLIMIT_NPROC (2147483647 for unlimited), or -errno. */
export function nprocLimit(): number {
  return call(OPS.nproc_limit, null, 0, 0);
}

/** pidfd_send_signal(pidfd, sig): 0 or -errno. */
export function pidfdSignal(pidfd: number, sig: number): number {
  return call(OPS.pidfd_signal, null, pidfd, sig);
}

/** pipe2(O_CLOEXEC), both ends recorded: [read, write] fds and their records, or -errno. */
export function pipe(): { fds: [number, number]; recs: [number, number] } | number {
  const reg = registry();
  const recs: [number, number] = [takeRecord(), takeRecord()];
  const out = new Uint8Array(BLOCKS.pipe_out.size);
  const v = new DataView(out.buffer);
  v.setInt32(at("pipe_out", "read_slot"), recs[0], true);
  v.setInt32(at("pipe_out", "write_slot"), recs[1], true);
  const rc = call(OPS.pipe, out, reg, 0);
  if (rc < 0) {
    freeRecord(recs[0]);
    freeRecord(recs[1]);
    return rc;
  }
  return { fds: [v.getInt32(at("pipe_out", "read_fd"), true), v.getInt32(at("pipe_out", "write_fd"), true)], recs };
}

/**
 * Signal SIG to this process the moment its parent goes (PR_SET_PDEATHSIG:
 * a setting of the calling thread that ends with it, so call it from the
 * main thread), then check the parent is still PPID: 0, -ESRCH when it already went (no signal will
 * come), or prctl's -errno.
 */
export function dieWithParent(sig: number, ppid: number): number {
  return call(OPS.die_with_parent, null, sig, ppid);
}

/** pidfd_open(pid, 0) (always close-on-exec): fd or -errno. */
export function openPidfd(pid: number): number {
  return call(OPS.pidfd_open, null, pid, 0);
}

/**
 * A new pty, both ends O_CLOEXEC|O_NOCTTY: { master, slave } or -errno. The
 * slave starts with the settings and window size of terminal `like` (-1: the
 * kernel's defaults). The caller closes both.
 */
export function ptyOpen(like: number): { master: number; slave: number } | number {
  const out = new Uint8Array(BLOCKS.pty_out.size);
  const rc = call(OPS.pty_open, out, like, 0);
  if (rc < 0) return rc;
  const v = new DataView(out.buffer);
  return { master: v.getInt32(at("pty_out", "master"), true), slave: v.getInt32(at("pty_out", "slave"), true) };
}

export interface Winsize {
  rows: number;
  cols: number;
  xpixel?: number;
  ypixel?: number;
}

/** A terminal's window size (struct winsize) or -errno. */
export function getWinsize(fd: number): Winsize | number {
  const ws = new Uint8Array(BLOCKS.winsize_io.size);
  const rc = call(OPS.winsize, ws, fd, 0);
  if (rc < 0) return rc;
  const v = new DataView(ws.buffer);
  const W = (f: Parameters<typeof at<"winsize_io">>[1]) => v.getUint16(at("winsize_io", f), true);
  return { rows: W("rows"), cols: W("cols"), xpixel: W("xpixel"), ypixel: W("ypixel") };
}

/** Set a terminal's window size (on a pty master: SIGWINCH to the slave's foreground group); 0 or -errno. */
export function setWinsize(fd: number, size: Winsize): number {
  const ws = new Uint8Array(BLOCKS.winsize_io.size);
  const v = new DataView(ws.buffer);
  v.setUint16(at("winsize_io", "rows"), size.rows, true);
  v.setUint16(at("winsize_io", "cols"), size.cols, true);
  v.setUint16(at("winsize_io", "xpixel"), size.xpixel ?? 0, true);
  v.setUint16(at("winsize_io", "ypixel"), size.ypixel ?? 0, true);
  return call(OPS.winsize, ws, fd, 1);
}

/** epoll_create1(EPOLL_CLOEXEC): the exit watcher's set; fd or -errno. */
export function watchOpen(): number {
  return call(OPS.watch_open, null, 0, 0);
}

/** Add a pidfd to the set (EPOLLIN|EPOLLONESHOT): 0 or -errno. */
export function watchAdd(epfd: number, pidfd: number): number {
  return call(OPS.watch_add, null, epfd, pidfd);
}

/** Bytes per event slot of watchWait's buffer (native/watch.c). */
export const WATCH_EVENT_BYTES = 16;

/** Block in epoll_pwait until a watched process exited: how many did, or -errno. */
export function watchWait(events: Uint8Array, epfd: number): number {
  const max = Math.floor(events.length / WATCH_EVENT_BYTES);
  if (max < 1) return -22;
  return call(OPS.watch_wait, events, epfd, max);
}
