/**
 * issue 11: the layout of the exit watcher's SharedArrayBuffer (Int32 slots):
 * the eventfd, the consumer's head, the producer's tail, then the ring of
 * dup'd pidfds. One producer (the main thread), one consumer (the Worker).
 */
export const CTL_EFD = 0;
export const CTL_HEAD = 1;
export const CTL_TAIL = 2;
export const CTL_RING = 4;
/** A power of two: indices wrap with `& (RING_SIZE - 1)`. */
export const RING_SIZE = 4096;
