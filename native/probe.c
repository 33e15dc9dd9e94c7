/* Read-only questions to the kernel about this process and its descriptors: nothing is made. */

/* Owner uid of a user-namespace fd (ioctl NS_GET_OWNER_UID) into *uid. */
s32 bun_userns_owner_uid(s32 fd, u32 *uid)
{
	return (s32)sys3(SYS_ioctl, fd, NS_GET_OWNER_UID, (s64)uid);
}

/* Capabilities 0-30 of this thread's effective set (bit 31 dropped so the
 * result stays a non-negative s32), or -errno. */
s32 bun_userns_cap_effective(void)
{
	struct cap_header hdr;
	struct cap_data caps[2];
	s64 rc;
	hdr.version = CAP_V3;
	hdr.pid = 0;
	rc = sys2(SYS_capget, (s64)&hdr, (s64)caps);
	return rc < 0 ? (s32)rc : (s32)(caps[0].effective & 0x7fffffff);
}

/* This process's soft RLIMIT_NPROC, capped to fit an s32 (RLIM_INFINITY too). */
s32 bun_userns_nproc_limit(void)
{
	u64 lim[2];
	s64 rc;
	/* Set one by one: TinyCC fills an initialised array by calling memset,
	 * code outside ours (the sandbox monitor's image holds only ours). */
	lim[0] = lim[1] = 0;
	rc = sys4(SYS_prlimit64, 0, 6 /* RLIMIT_NPROC */, 0, (s64)lim);
	if (rc < 0) return (s32)rc;
	return lim[0] > 0x7fffffff ? 0x7fffffff : (s32)lim[0];
}

/*
 * What every helper needs from the kernel, probed on ourselves: 0, or the
 * first failure's -errno with its step (PSTEPS) in the head H: pidfd_open,
 * pidfd_send_signal, waitid(P_PIDFD), close_range (5.9; the helper's first
 * syscall, so without it every start would fail late).
 */
s32 bun_userns_probe_kernel(struct head *h)
{
	u8 info[128];
	s64 fd, rc;
	head_clear(h);
	fd = sys2(SYS_pidfd_open, sys0(SYS_getpid), 0);
	if (fd < 0) return (s32)fail(h, PROBE_PIDFD_OPEN, fd);
	rc = sys4(SYS_pidfd_send_signal, fd, 0, 0, 0);
	if (rc < 0) { sys1(SYS_close, fd); return (s32)fail(h, PROBE_PIDFD_SIGNAL, rc); }
	mem_zero(info, sizeof info);
	rc = sys5(SYS_waitid, P_PIDFD, fd, (s64)info, WEXITED | WNOHANG | WALL, 0);
	sys1(SYS_close, fd);
	/* Waiting on ourselves must say "not a child", not "unknown idtype". */
	if (rc != -E_CHILD) return (s32)fail(h, PROBE_WAITID, rc < 0 ? rc : -E_INVAL);
	/* An empty range far above any open fd: closes nothing. */
	rc = sys3(SYS_close_range, ~0U - 1, ~0U, 0);
	if (rc < 0) return (s32)fail(h, PROBE_CLOSE_RANGE, rc);
	return 0;
}
