/*
 * issue 11: exit notices for spawnInside (src/exec/exit-watcher.ts).
 *
 * Bun has no public way to put a pidfd in its event loop, so a Worker thread
 * blocks here instead, on dups of the commands' pidfds: a pidfd polls
 * readable once its process has exited (zombie or reaped). The Worker only
 * watches; the owning thread reaps. Nothing here runs in a child.
 */
#define EFD_CLOEXEC O_CLOEXEC
#define EFD_NONBLOCK 04000 /* O_NONBLOCK: the same on x86_64 and aarch64 */

/* The wake-up for the watcher: an eventfd the owner writes when it adds a pidfd. */
s32 bun_userns_watch_open(void)
{
	return (s32)sys2(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
}

s32 bun_userns_watch_kick(s32 efd)
{
	u64 one = 1;
	s64 rc = sys3(SYS_write, efd, (s64)&one, 8);
	/* EAGAIN: the counter is full of earlier kicks, so one is pending anyway. */
	return rc == 8 || rc == -E_AGAIN ? 0 : (s32)rc;
}

/*
 * Block until fds[0] (the eventfd) or any pidfd after it is readable; no
 * timeout (the Worker has nothing else to do). The eventfd is drained here
 * so that one kick wakes one wait. Returns ppoll's count or -errno (-EINTR
 * when a signal landed on this thread: the caller waits again).
 */
s32 bun_userns_watch_wait(struct kpollfd *fds, s32 n)
{
	u64 count;
	s64 rc;
	if (n < 1) return -E_INVAL;
	rc = sys5(SYS_ppoll, (s64)fds, n, 0, 0, 8);
	if (rc > 0 && fds[0].revents) sys3(SYS_read, fds[0].fd, (s64)&count, 8);
	return (s32)rc;
}
