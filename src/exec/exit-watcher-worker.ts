/**
 * The exit watcher's Worker (see exit-watcher.ts). Blocks in
 * epoll_pwait on the set the main thread adds each command's pidfd to, and
 * posts "exit" when any exited. It never returns to its event loop and
 * touches no descriptor: the set and the pidfds are the main thread's.
 */
import * as processCodec from "../core/process-codec.ts";

declare const self: Worker;
const EINTR = -4;

self.onmessage = (e: MessageEvent<number>) => {
  self.onmessage = null;
  const epfd = e.data;
  postMessage("ready");
  const events = new Uint8Array(64 * processCodec.WATCH_EVENT_BYTES);
  for (;;) {
    const rc = processCodec.watchWait(events, epfd);
    if (rc === EINTR) continue;
    if (rc < 0) throw new Error(`bun-userns exit watcher: epoll_pwait failed (errno ${-rc})`);
    if (rc > 0) postMessage("exit");
  }
};
