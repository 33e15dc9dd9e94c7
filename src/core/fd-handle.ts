/**
 * A descriptor owned by one handle (UsernsFd, NamespaceFd, IdmappedTree):
 * closed exactly once, by close(), a `using` block, or, when the handle is
 * dropped while still open, by the leak net when it is collected (with a
 * warning: a dropped handle holds its fd until then, an unattached tree its
 * mount).
 */
import * as processCodec from "./process-codec.ts";

interface Owned {
  fd: number;
  what: string;
}

/** Held values name the fd, never the handle (which would keep it alive). */
const leakNet = new FinalizationRegistry<Owned>(({ fd, what }) => {
  processCodec.close(fd);
  process.emitWarning(`a ${what} (fd ${fd}) was collected without close(): its fd was closed then`, {
    code: "BUN_USERNS_LEAKED_FD",
  });
});

export abstract class FdHandle implements Disposable {
  #fd: number;

  protected constructor(fd: number, what: string) {
    this.#fd = fd;
    if (fd >= 0) leakNet.register(this, { fd, what }, this);
  }

  /** The descriptor (O_CLOEXEC); -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Hand the fd to code that closes it itself: the handle is closed, the fd left open. */
  protected takeFd(): number {
    const fd = this.#fd;
    this.#fd = -1;
    leakNet.unregister(this);
    return fd;
  }

  /** Close the descriptor; later calls do nothing. */
  close(): void {
    const fd = this.takeFd();
    if (fd >= 0) processCodec.close(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
