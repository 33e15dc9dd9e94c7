/* The calling process's tie to its parent: bwrap's --die-with-parent. */

/*
 * SIG for us the moment our parent goes, then whether it already went.
 * PR_SET_PDEATHSIG is a setting of the calling thread (it ends with that
 * thread: the caller makes it on its main thread); the kernel sends SIG to
 * the whole process when the thread that created the process exits, the
 * parent process's end among them. It only covers an exit still to come:
 * a parent gone before left us reparented (to init or a subreaper), so the
 * parent is checked after it, against PPID, the one the caller knew.
 * 0; -ESRCH when that parent is gone (the signal will never come); or
 * prctl's -errno.
 */
s32 bun_userns_die_with_parent(s32 sig, s32 ppid)
{
	s64 rc = sys2(SYS_prctl, PR_SET_PDEATHSIG, sig);
	if (rc < 0) return (s32)rc;
	return sys0(SYS_getppid) == ppid ? 0 : -E_SRCH;
}
