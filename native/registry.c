/*
 * The registry: the pidfds and pipe ends a thread's calls hold, kept where
 * another thread of this process can still read them once that thread is gone.
 *
 * Bun's Workers are threads of one process, and each compiles its own copy of
 * this file (no shared statics; a gcc .so would share them, so nothing here
 * is static). A terminated Worker runs no more JS: its heap is neither
 * trusted nor reachable. Its descriptors, though, stay in the fd table every
 * thread shares, and so does a memfd. So each thread makes one memfd (its
 * registry) at its first call, and a record is written *inside the native
 * call that creates* the descriptor: a Worker is terminated only between
 * calls, so no descriptor of ours ever exists unrecorded. The call that
 * closes it clears the record. The main thread's sweep (src/core/orphans.ts)
 * finds the registries of threads that are gone and ends what they name.
 *
 * A record names its descriptor exactly, not by number alone: the inode and
 * device it had when recorded (pidfs gives each process its own inode, Linux
 * 6.9) and, where pidfds share one anonymous inode (older kernels), the pid
 * its /proc/self/fdinfo shows. Every action through a recorded pidfd checks
 * that first: a number the application closed, now naming something else,
 * is never signalled, waited on or closed. The process itself stays
 * reachable by its pid: it is our child with no exit signal, unreaped (only
 * a __WALL wait of ours reaps it), so its pid cannot name another process.
 */

#define E_BADF 9
#define WCONTINUED 8
#define WNOWAIT_ 0x01000000
#define P_PID_ 1
#define PIDFS_MAGIC 0x50494446

#define REC_SHARED_INODE 1

/* Layout mirrored in src/core/registry.ts. */
struct reg_header {
	char magic[8]; /*  0 "bunureg1" */
	s32 tid;       /*  8 the creating thread */
	s32 pad;
	u64 start;     /* 16 its start time (proc(5) stat field 22), against tid reuse */
	u8 rest[40];
};
struct rec {
	s32 kind;      /*  0 enum rec_kind */
	s32 fd;        /*  4 */
	s32 pid;       /*  8 a pidfd's process */
	s32 flags;     /* 12 REC_SHARED_INODE */
	u64 ino;       /* 16 */
	u32 dev_major; /* 24 */
	u32 dev_minor; /* 28 */
};
#define REC_AT(slot) (64 + (s64)(slot) * 32)

static const char REG_MAGIC[8] = { 'b', 'u', 'n', 'u', 'r', 'e', 'g', '1' };

/* Make this thread's registry; start is its start time. The fd, or -errno. */
static s32 reg_open(const u64 *start)
{
	struct reg_header h;
	s64 fd, rc;
	int i;
	fd = sys2(SYS_memfd_create, (s64)"bun-userns-registry", MFD_CLOEXEC);
	if (fd < 0) return (s32)fd;
	mem_zero(&h, sizeof h);
	for (i = 0; i < 8; i++) h.magic[i] = REG_MAGIC[i];
	h.tid = (s32)sys0(SYS_gettid);
	h.start = *start;
	rc = sys4(SYS_pwrite64, fd, (s64)&h, sizeof h, 0);
	if (rc != (s64)sizeof h) {
		sys1(SYS_close, fd);
		return rc < 0 ? (s32)rc : -E_INVAL;
	}
	return (s32)fd;
}

/* Is regfd a registry (of this thread, unless any)? An fd number the
 * application closed and reused must not be written to. */
static int reg_is(s32 regfd, int any)
{
	struct reg_header h;
	int i;
	if (sys4(SYS_pread64, regfd, (s64)&h, sizeof h, 0) != (s64)sizeof h) return 0;
	for (i = 0; i < 8; i++)
		if (h.magic[i] != REG_MAGIC[i]) return 0;
	return any || h.tid == (s32)sys0(SYS_gettid);
}

static s32 rec_put(s32 regfd, s32 slot, s32 kind, s32 fd, s32 pid)
{
	struct rec e;
	struct kstatx st;
	u64 fs[16];
	s64 rc;
	if (slot < 0) return -E_INVAL;
	mem_zero(&e, sizeof e);
	e.kind = kind;
	e.fd = fd;
	e.pid = pid;
	rc = statx_at(fd, "", &st);
	if (rc < 0) return (s32)rc;
	e.ino = st.ino;
	e.dev_major = st.dev_major;
	e.dev_minor = st.dev_minor;
	/* Before pidfs every pidfd is the one anonymous inode: the pid tells them apart. */
	if (kind != REC_PIPE && (sys2(SYS_fstatfs, fd, (s64)fs) < 0 || (u32)fs[0] != PIDFS_MAGIC))
		e.flags |= REC_SHARED_INODE;
	rc = sys4(SYS_pwrite64, regfd, (s64)&e, sizeof e, REC_AT(slot));
	return rc == (s64)sizeof e ? 0 : rc < 0 ? (s32)rc : -E_INVAL;
}

static s32 rec_get(s32 regfd, s32 slot, struct rec *e)
{
	s64 rc;
	mem_zero(e, sizeof *e);
	if (slot < 0) return -E_INVAL;
	rc = sys4(SYS_pread64, regfd, (s64)e, sizeof *e, REC_AT(slot));
	return rc < 0 ? (s32)rc : 0; /* short: past the end, a free record */
}

static void rec_forget(s32 regfd, s32 slot)
{
	struct rec e;
	mem_zero(&e, sizeof e);
	sys4(SYS_pwrite64, regfd, (s64)&e, sizeof e, REC_AT(slot));
}

/* The Pid: line of /proc/self/fdinfo/FD, or -1. */
static s32 fdinfo_pid(s32 fd)
{
	char path[64], buf[512];
	s64 n, f;
	int i;
	s32 pid = -1;
	put_decimal(path, "/proc/self/fdinfo/", fd);
	f = sys4(SYS_openat, AT_FDCWD, (s64)path, O_RDONLY | O_CLOEXEC, 0);
	if (f < 0) return -1;
	n = sys3(SYS_read, f, (s64)buf, sizeof buf - 1);
	sys1(SYS_close, f);
	if (n <= 0) return -1;
	buf[n] = 0;
	for (i = 0; i + 5 < n; i++) {
		if ((i == 0 || buf[i - 1] == '\n') && buf[i] == 'P' && buf[i + 1] == 'i' && buf[i + 2] == 'd' && buf[i + 3] == ':') {
			i += 4;
			while (buf[i] == ' ' || buf[i] == '\t') i++;
			if (buf[i] < '0' || buf[i] > '9') return -1;
			pid = 0;
			while (buf[i] >= '0' && buf[i] <= '9') pid = pid * 10 + (buf[i++] - '0');
			return pid;
		}
	}
	return -1;
}

/* Does the record's fd number still hold the file recorded? */
static int rec_names(const struct rec *e)
{
	struct kstatx st;
	if (statx_at(e->fd, "", &st) < 0) return 0;
	if (st.ino != e->ino || st.dev_major != e->dev_major || st.dev_minor != e->dev_minor) return 0;
	return !(e->flags & REC_SHARED_INODE) || fdinfo_pid(e->fd) == e->pid;
}

/* Is pid an unreaped child of this process (any state, nothing consumed)? */
static int our_child(s32 pid)
{
	u8 info[128];
	s64 rc;
	if (pid <= 0) return 0;
	rc = wait_retry(P_PID_, pid, info, WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT_ | WALL);
	return rc == 0;
}

/* Kill and reap a recorded process; close its fd if it is still ours. */
static s32 rec_end(const struct rec *e)
{
	u8 info[128];
	s64 rc;
	if (rec_names(e)) return bun_userns_release(e->fd);
	if (!our_child(e->pid)) return -E_SRCH;
	rc = sys2(SYS_kill, e->pid, SIGKILL);
	wait_retry(P_PID_, e->pid, info, WEXITED | WALL);
	return (s32)rc;
}

/* One action on the record in SLOT (a struct req for RA_ABORT). */
static s32 rec_op(struct rec_args *args, s32 regfd, s32 slot)
{
	struct rec e;
	s32 rc, action = args->action, arg = args->arg;
	if (!reg_is(regfd, action == RA_SWEEP)) return -E_BADF;
	if (action == RA_ABORT) {
		struct req *r = (struct req *)(((u64)args->req_hi << 32) | args->req_lo);
		rc = bun_userns_abort(r, arg);
		if (r->pidfd < 0) rec_forget(regfd, slot);
		return rc;
	}
	rc = rec_get(regfd, slot, &e);
	if (rc < 0) return rc;
	if (action == RA_SWEEP && e.kind == REC_FREE) return 0;
	if (e.kind == REC_FREE) return -E_BADF;
	switch (action) {
	case RA_FORGET:
		break;
	case RA_CHECK:
		return rec_names(&e) ? e.fd : -E_BADF;
	case RA_KILL:
		if (rec_names(&e)) return (s32)sys4(SYS_pidfd_send_signal, e.fd, arg, 0, 0);
		return our_child(e.pid) ? (s32)sys2(SYS_kill, e.pid, arg) : -E_SRCH;
	case RA_ALIVE: {
		u8 info[128];
		/* Only the tracer, this thread, reads a parked helper's stop. */
		if (rec_names(&e)) return bun_userns_alive(e.fd, e.pid);
		return sys4(SYS_ptrace, PTRACE_GETSIGINFO, e.pid, 0, (s64)info) < 0 ? -E_SRCH : -E_BADF;
	}
	case RA_POLL: {
		int ours = rec_names(&e);
		rc = ours ? bun_userns_exec_poll(e.fd) : exec_poll_id(P_PID_, e.pid);
		if (rc == -E_AGAIN) return rc;
		if (ours) sys1(SYS_close, e.fd);
		break;
	}
	case RA_CLOSE:
		rc = rec_names(&e) ? (s32)sys1(SYS_close, e.fd) : -E_BADF;
		break;
	case RA_RELEASE:
		rc = rec_end(&e);
		break;
	case RA_SWEEP:
		if (e.kind == REC_PIPE) {
			if (rec_names(&e)) sys1(SYS_close, e.fd);
			rc = 0;
		} else {
			rec_end(&e);
			rc = e.kind;
		}
		break;
	default:
		return -E_INVAL;
	}
	rec_forget(regfd, slot);
	return rc;
}

/* pipe2(O_CLOEXEC), both ends recorded in the slots given. */
static s32 rec_pipe(struct pipe_out *out, s32 regfd)
{
	s32 fds[2];
	s32 rc;
	if (!reg_is(regfd, 0)) return -E_BADF;
	rc = bun_userns_pipe(fds);
	if (rc < 0) return rc;
	out->read_fd = fds[0];
	out->write_fd = fds[1];
	rc = rec_put(regfd, out->read_slot, REC_PIPE, out->read_fd, -1);
	if (rc == 0) rc = rec_put(regfd, out->write_slot, REC_PIPE, out->write_fd, -1);
	if (rc < 0) {
		rec_forget(regfd, out->read_slot);
		sys1(SYS_close, out->read_fd);
		sys1(SYS_close, out->write_fd);
	}
	return rc;
}

/* The command, recorded before the call returns (or ended if it cannot be). */
static s32 rec_exec(struct xreq *r, s32 regfd, s32 slot)
{
	s32 rc;
	if (!reg_is(regfd, 0)) return (s32)fail(r, X_NONE, -E_BADF);
	rc = bun_userns_exec(r);
	if (rc > 0) {
		s32 put = rec_put(regfd, slot, REC_COMMAND, r->cmd_pidfd, rc);
		if (put < 0) {
			bun_userns_release(r->cmd_pidfd);
			return (s32)fail(r, X_NONE, put);
		}
	}
	return rc;
}

/* A helper, recorded as soon as its pidfd exists. */
static s32 rec_clone(struct req *r, s32 regfd, s32 slot)
{
	s32 rc, put;
	if (!reg_is(regfd, 0)) return (s32)fail(r, STEP_NONE, -E_BADF);
	rc = bun_userns_clone(r);
	if (rc <= 0) return rc;
	put = rec_put(regfd, slot, REC_HELPER, r->pidfd, rc);
	if (put < 0) return bun_userns_abort(r, (s32)fail(r, STEP_NONE, put));
	return rc;
}

static s32 rec_start(struct req *r, s32 regfd, s32 slot)
{
	s32 rc = bun_userns_start(r);
	/* Failed: the helper was reaped and its pidfd closed. */
	if (rc <= 0 && r->pidfd < 0) rec_forget(regfd, slot);
	return rc;
}
