/**
 * issue 11: the exit watcher's Worker (see exit-watcher.ts). Takes pidfd dups
 * from the ring, blocks in ppoll on them and the eventfd, closes each dup
 * whose process has exited and posts "exit". It never returns to its event
 * loop: everything it needs comes through the SharedArrayBuffer.
 */
import * as native from "../core/native.ts";
import { CTL_EFD, CTL_HEAD, CTL_RING, CTL_TAIL, RING_SIZE } from "./exit-watcher-ring.ts";

declare const self: Worker;
const POLLIN = 1;
const EINTR = -4;

self.onmessage = (e: MessageEvent<SharedArrayBuffer>) => {
  self.onmessage = null;
  const ctl = new Int32Array(e.data);
  postMessage("ready");
  watch(ctl);
};

function watch(ctl: Int32Array): never {
  const efd = ctl[CTL_EFD] as number;
  let fds: number[] = [];
  let pollfds = new Uint8Array(8 * 64);
  let view = new DataView(pollfds.buffer);
  try {
    for (;;) {
      let head = Atomics.load(ctl, CTL_HEAD);
      const tail = Atomics.load(ctl, CTL_TAIL);
      for (; head !== tail; head = (head + 1) | 0) fds.push(ctl[CTL_RING + (head & (RING_SIZE - 1))] as number);
      Atomics.store(ctl, CTL_HEAD, head);
      const n = fds.length + 1;
      if (pollfds.length < 8 * n) {
        pollfds = new Uint8Array(16 * n);
        view = new DataView(pollfds.buffer);
      }
      for (let i = 0; i < n; i++) {
        view.setInt32(8 * i, i === 0 ? efd : (fds[i - 1] as number), true);
        view.setInt16(8 * i + 4, POLLIN, true);
        view.setInt16(8 * i + 6, 0, true);
      }
      const rc = native.watchWait(pollfds, n);
      if (rc === EINTR) continue;
      if (rc < 0) throw new Error(`bun-userns exit watcher: ppoll failed (errno ${-rc})`);
      const left: number[] = [];
      for (let i = 1; i < n; i++) {
        const fd = fds[i - 1] as number;
        // POLLIN once the process has exited; POLLHUP/POLLERR end the watch too.
        if (view.getInt16(8 * i + 6, true) !== 0) native.close(fd);
        else left.push(fd);
      }
      const exited = fds.length - left.length;
      fds = left;
      if (exited > 0) postMessage("exit");
    }
  } finally {
    for (const fd of fds) native.close(fd);
  }
}
