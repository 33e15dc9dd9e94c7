/* Small pieces shared by the helper and the caller: no libc, no allocation. */

static void mem_zero(void *p, long n)
{
	u8 *b = p;
	while (n-- > 0) *b++ = 0;
}

/* PRE, then the decimal of a non-negative V, into out; NUL-terminated.
 * Returns the end (the NUL), so more can follow. */
static char *put_decimal(char *out, const char *pre, s32 v)
{
	char digits[12];
	int n = 0;
	while (*pre) *out++ = *pre++;
	do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
	while (n) *out++ = digits[--n];
	*out = 0;
	return out;
}

/* "/proc/<pid>/<name>" into out (at least 64 bytes). */
static void proc_path(char *out, s32 pid, const char *name)
{
	int n = 0;
	out = put_decimal(out, "/proc/", pid);
	*out++ = '/';
	while (*name && n++ < 40) *out++ = *name++;
	*out = 0;
}

/* One open, one write(): the kernel takes each map file in a single write at
 * offset 0 and refuses a second one. */
static s64 write_proc_file(s32 pid, const char *name, const char *text, s64 len)
{
	char path[64];
	s64 fd, n;
	proc_path(path, pid, name);
	fd = sys4(SYS_openat, AT_FDCWD, (s64)path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0) return fd;
	n = sys3(SYS_write, fd, (s64)text, len);
	sys1(SYS_close, fd);
	if (n >= 0 && n != len) return -E_INVAL;
	return n < 0 ? n : 0;
}

/*
 * waitid(IDTYPE, ID) into INFO (128 bytes, zeroed first), made again when a
 * signal handler interrupted it (EINTR: the caller's thread runs Bun's
 * handlers; a thread with every signal blocked is never interrupted, so the
 * loop costs it nothing). 0 or -errno.
 */
static s64 wait_retry(s32 idtype, s64 id, u8 *info, s32 options)
{
	s64 rc;
	do {
		mem_zero(info, 128);
		rc = sys5(SYS_waitid, idtype, id, (s64)info, options, 0);
	} while (rc == -E_INTR);
	return rc;
}

/* Reap: loop past ptrace stops (reported "regardless of options") until a
 * real exit; __WALL because the helper has no exit signal. */
static s64 reap(s32 pidfd)
{
	u8 info[128];
	s64 rc;
	for (;;) {
		rc = wait_retry(P_PIDFD, pidfd, info, WEXITED | WALL);
		if (rc < 0) return rc == -E_CHILD ? 0 : rc;
		if (SI_CODE(info) == CLD_EXITED || SI_CODE(info) == CLD_KILLED || SI_CODE(info) == CLD_DUMPED) return 0;
	}
}
