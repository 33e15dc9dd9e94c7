/*
 * Exit notices for spawnInside (src/exec/exit-watcher.ts).
 *
 * Bun has no public way to put a pidfd in its event loop, so a Worker thread
 * blocks here instead, in epoll_pwait on an epoll set the owning thread adds
 * each command's pidfd to: a pidfd polls readable once its process has
 * exited. epoll_ctl from the owner takes effect in a wait already blocked, so
 * adding a command wakes nobody (a wake-up per start competed with the
 * command's own exec for the CPU). EPOLLONESHOT: an exit is reported once;
 * the registration goes when the owner closes the pidfd after the reap. The
 * Worker only watches; the owning thread reaps. Nothing here runs in a child.
 */
#define EPOLL_CLOEXEC O_CLOEXEC
#define EPOLL_CTL_ADD 1
#define EPOLLIN 0x001
#define EPOLLONESHOT (1U << 30)
/* struct epoll_event is packed on x86_64 (12 bytes), not on aarch64 (16):
 * only `events` at offset 0 is read or written here, so 16 bytes serve both. */
#define EPOLL_EVENT_MAX 16

s32 bun_userns_watch_open(void)
{
	return (s32)sys1(SYS_epoll_create1, EPOLL_CLOEXEC);
}

/* Watch one pidfd for its exit: 0 or -errno. */
s32 bun_userns_watch_add(s32 epfd, s32 pidfd)
{
	u32 ev[4];
	/* One by one: an initialised array is a memset call in TinyCC (probe.c says why not). */
	ev[0] = EPOLLIN | EPOLLONESHOT;
	ev[1] = ev[2] = ev[3] = 0;
	return (s32)sys4(SYS_epoll_ctl, epfd, EPOLL_CTL_ADD, pidfd, (s64)ev);
}

/*
 * Block until a watched process has exited; no timeout (the Worker has
 * nothing else to do). `buf` holds `max` events of EPOLL_EVENT_MAX bytes,
 * which only the kernel reads back. Returns how many fired, or -errno
 * (-EINTR when a signal landed on this thread: the caller waits again).
 */
s32 bun_userns_watch_wait(u8 *buf, s32 epfd, s32 max)
{
	if (max < 1) return -E_INVAL;
	/* x86_64 packs 12 bytes per event: max of them fit in max * 16. */
	return (s32)sys6(SYS_epoll_pwait, epfd, (s64)buf, max, -1, 0, 8);
}
