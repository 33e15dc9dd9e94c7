/*
 * bun-userns helper sequence: a parked process in a new user namespace.
 *
 * Compiled at first use by bun:ffi's TinyCC with -nostdlib (no libc, no
 * headers: slim images have neither), or by gcc for the benchmark floor.
 * Every function returns -errno on failure; bun:ffi has no errno API.
 *
 * The helper shares the caller's memory (CLONE_VM) so that creating it does
 * not copy the page tables of a multi-gigabyte JS heap. That makes it a
 * guest in Bun's address space: between clone and park it runs raw syscalls
 * only, on its own stack, touching nothing but that stack and the request
 * block, and it never returns into Bun code.
 */

typedef unsigned long u64;
typedef long s64;
typedef unsigned int u32;
typedef int s32;
typedef unsigned char u8;

#define SIGSTOP 19

#if defined(__x86_64__)
#include "syscalls_x86_64.h"
#else
#error "bun-userns: only x86_64 is supported"
#endif

/* Kernel ABI constants (include/uapi). */
#define E_INTR 4
#define E_CHILD 10
#define E_INVAL 22
#define E_SRCH 3
#define O_WRONLY 01
#define O_RDONLY 00
#define O_CLOEXEC 02000000
#define AT_FDCWD (-100)
#define SIG_SETMASK 2
#define SIGKILL 9
#define CLONE_VM 0x00000100
#define CLONE_FILES 0x00000400
#define CLONE_PIDFD 0x00001000
#define CLOSE_RANGE_UNSHARE 2
#define CLONE_NEWNS 0x00020000
#define CLONE_NEWUSER 0x10000000
#define MS_REC 0x4000
#define MS_PRIVATE 0x40000
#define PR_SET_PDEATHSIG 1
#define PR_GET_PDEATHSIG 2
#define PR_GET_DUMPABLE 3
#define PR_SET_DUMPABLE 4
#define PR_SET_NAME 15
#define PTRACE_TRACEME 0
#define PTRACE_GETSIGINFO 0x4202
#define P_PIDFD 3
#define WSTOPPED 2
#define WEXITED 4
#define WNOHANG 1
#define WALL 0x40000000
#define CLD_EXITED 1
#define CLD_KILLED 2
#define CLD_DUMPED 3
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define CAP_V3 0x20080522
#define NS_GET_OWNER_UID 0xb704

/*
 * The request block, shared by the caller and the helper (same memory).
 * Layout mirrored in src/native.ts; offsets are fixed by the asserts below.
 */
#define MAP_TEXT_MAX 4096
struct req {
	u64 flags;       /*  0 in: namespaces the helper unshares */
	s32 owner_uid;   /*  8 in: create the userns as this euid; -1 = as caller */
	s32 setgroups;   /* 12 in: 1 = "allow", 2 = "deny", 0 = "allow", or "deny" where the parent forbids it */
	s32 uid_len;     /* 16 in: bytes of uid_text */
	s32 gid_len;     /* 20 in: bytes of gid_text */
	s32 ppid;        /* 24 helper: the caller's tgid, for the PDEATHSIG race */
	s32 go;          /* 28 futex: 0 wait, 1 maps written, <0 -errno of the caller */
	s32 step;        /* 32 out: which step failed (enum step) */
	s32 err;         /* 36 out: its errno */
	s32 pid;         /* 40 out */
	s32 pidfd;       /* 44 out */
	s32 stack_len;   /* 48 in: bytes of stack after the texts */
	s32 cpu;         /* 52 helper: the caller's CPU at clone time */
	s32 pad[2];
	char uid_text[MAP_TEXT_MAX]; /* 64 */
	char gid_text[MAP_TEXT_MAX]; /* 64 + 4096 */
	/* the helper's stack follows */
};
#define OFFSET(f) ((long)&((struct req *)0)->f)
_Static_assert(OFFSET(go) == 28, "layout");
_Static_assert(OFFSET(stack_len) == 48, "layout");
_Static_assert(OFFSET(uid_text) == 64, "layout");
_Static_assert(sizeof(struct req) == 64 + 2 * MAP_TEXT_MAX, "layout");

/* Steps, mirrored in src/errors.ts. */
enum step {
	STEP_NONE, STEP_SIGMASK, STEP_CAPGET, STEP_SETRESUID, STEP_CLONE,
	STEP_UID_MAP, STEP_SETGROUPS, STEP_GID_MAP, STEP_CLOSE_RANGE,
	STEP_UNSHARE, STEP_MOUNT, STEP_PDEATHSIG, STEP_PARENT_GONE,
	STEP_PTRACE, STEP_PARK, STEP_RESTORE
};

struct cap_header { u32 version; s32 pid; };
struct cap_data { u32 effective, permitted, inheritable; };

static void mem_zero(void *p, long n)
{
	u8 *b = p;
	while (n-- > 0) *b++ = 0;
}

/* "/proc/<pid>/<name>" into out (at least 64 bytes). */
static void proc_path(char *out, s32 pid, const char *name)
{
	const char *pre = "/proc/";
	char digits[12];
	int n = 0;
	while (*pre) *out++ = *pre++;
	do { digits[n++] = (char)('0' + pid % 10); pid /= 10; } while (pid);
	while (n) *out++ = digits[--n];
	*out++ = '/';
	while (*name) *out++ = *name++;
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

/* ------------------------------------------------------------------------ */
/* The helper: runs on its own stack in the caller's memory.                */
/* ------------------------------------------------------------------------ */

static void helper_fail(struct req *r, s32 step, s64 err)
{
	r->step = step;
	r->err = (s32)-err;
	sys1(SYS_exit_group, 253);
}

/* Called by the clone trampoline; never returns. Signals stay blocked (the
 * caller blocked them all before clone): Bun's handlers live in the shared
 * memory and must never run here, and a synchronous fault on a blocked
 * signal is fatal, which is what we want. */
void bun_userns_helper_main(struct req *r)
{
	u64 cpus[16];
	s64 rc;
	int i;

	/* The fd table is Bun's (CLONE_FILES): take a fresh, empty one, first
	 * thing. O_CLOEXEC acts only at exec and the helper never execs, so
	 * holding Bun's fds would keep its pipes from EOF; CLOSE_RANGE_UNSHARE
	 * copies none of them, so no cost per open fd and no refcount traffic
	 * on Bun's files. */
	rc = sys3(SYS_close_range, 0, ~0U, CLOSE_RANGE_UNSHARE);
	if (rc < 0) helper_fail(r, STEP_CLOSE_RANGE, rc);

	/* Run where the caller runs: every hand-off (futex wake, park, kill,
	 * exit) then stays on one CPU, and on a virtualised host a cross-CPU
	 * wake-up costs more than the work (~12% of a cycle here). Best effort. */
	for (i = 0; i < 16; i++) cpus[i] = 0;
	if (r->cpu >= 0 && r->cpu < 1024) {
		cpus[r->cpu / 64] = 1UL << (r->cpu % 64);
		sys3(SYS_sched_setaffinity, 0, sizeof cpus, (s64)cpus);
	}

	/* Wait until the caller has written uid_map/setgroups/gid_map. */
	while (*(volatile s32 *)&r->go == 0)
		sys4(SYS_futex, (s64)&r->go, FUTEX_WAIT, 0, 0);
	if (r->go < 0) sys1(SYS_exit_group, 253);

	/* The new namespaces are owned by the user namespace we are now in. */
	if (r->flags) {
		rc = sys1(SYS_unshare, (s64)r->flags);
		if (rc < 0) helper_fail(r, STEP_UNSHARE, rc);
	}

	/* A new mount namespace inherits shared propagation (systemd makes / shared);
	 * make it private like Go does, so nothing mounted here leaks out. */
	if (r->flags & CLONE_NEWNS) {
		rc = sys5(SYS_mount, (s64)"none", (s64)"/", 0, MS_REC | MS_PRIVATE, 0);
		if (rc < 0) helper_fail(r, STEP_MOUNT, rc);
	}

	/* PDEATHSIG is tied to the creating thread and cleared by credential
	 * changes, so set it last; if the caller died before this, nobody will
	 * send it: check the parent again. */
	rc = sys2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
	if (rc < 0) helper_fail(r, STEP_PDEATHSIG, rc);
	if (sys0(SYS_getppid) != r->ppid) helper_fail(r, STEP_PARENT_GONE, -E_SRCH);

	/* Parked as a tracee, SIGKILL is the only way out; the tracer is the
	 * creating thread. */
	rc = sys1(SYS_ptrace, PTRACE_TRACEME);
	if (rc < 0) helper_fail(r, STEP_PTRACE, rc);

	/* Named only once traced: a "bun-userns" task whose TracerPid is 0 has
	 * lost its creating thread, which is how the orphan sweep knows it. */
	sys2(SYS_prctl, PR_SET_NAME, (s64)"bun-userns");

	/* Stop, then exit without touching the stack: if the tracer thread dies,
	 * the stop is cancelled and this stack may already be reused. */
	park_then_exit();
}

/* ------------------------------------------------------------------------ */
/* The caller side.                                                         */
/* ------------------------------------------------------------------------ */

struct saved_creds {
	s32 active;
	s32 euid;
	s32 fsuid;
	s32 dumpable;
	s32 pdeathsig;
	struct cap_header hdr;
	struct cap_data caps[2];
};

/* Become owner_uid for the clone only, on this thread only (raw syscall, not
 * glibc's all-threads setresuid), so the user namespace and its ucounts
 * belong to the container's uid, as containerd 2.3 does. */
static s64 become_owner(struct req *r, struct saved_creds *s)
{
	s64 rc;
	s->active = 0;
	if (r->owner_uid < 0) return 0;
	s->euid = (s32)sys0(SYS_geteuid);
	if (s->euid == r->owner_uid) return 0;
	s->hdr.version = CAP_V3;
	s->hdr.pid = 0;
	rc = sys2(SYS_capget, (s64)&s->hdr, (s64)s->caps);
	if (rc < 0) { r->step = STEP_CAPGET; return rc; }
	s->fsuid = (s32)sys1(SYS_setfsuid, -1);
	s->dumpable = (s32)sys1(SYS_prctl, PR_GET_DUMPABLE);
	rc = sys2(SYS_prctl, PR_GET_PDEATHSIG, (s64)&s->pdeathsig);
	if (rc < 0) { r->step = STEP_CAPGET; return rc; }
	/* Refused when that uid is not mapped in our own user namespace: then the
	 * uid_map write is refused too, with the error that says why. */
	if (sys3(SYS_setresuid, -1, r->owner_uid, -1) < 0) return 0;
	s->active = 1;
	return 0;
}

/* Put back everything the euid change touched: the euid (and fsuid), the
 * effective capabilities the kernel dropped, the dumpable flag of the mm we
 * share with Bun, and this thread's own PDEATHSIG. */
static s64 restore_caller(struct saved_creds *s)
{
	s64 rc;
	if (!s->active) return 0;
	s->active = 0;
	rc = sys3(SYS_setresuid, -1, s->euid, -1);
	if (rc < 0) return rc;
	sys1(SYS_setfsuid, s->fsuid);
	s->hdr.version = CAP_V3;
	s->hdr.pid = 0;
	rc = sys2(SYS_capset, (s64)&s->hdr, (s64)s->caps);
	if (rc < 0) return rc;
	rc = sys2(SYS_prctl, PR_SET_DUMPABLE, s->dumpable);
	if (rc < 0) return rc;
	return sys2(SYS_prctl, PR_SET_PDEATHSIG, s->pdeathsig);
}

/* Reap: loop past ptrace stops (reported "regardless of options") until a
 * real exit; __WALL because the helper has no exit signal. */
static s64 reap(s32 pidfd)
{
	u8 info[128];
	s64 rc;
	for (;;) {
		mem_zero(info, sizeof info);
		rc = sys5(SYS_waitid, P_PIDFD, pidfd, (s64)info, WEXITED | WALL, 0);
		if (rc == -E_INTR) continue;
		if (rc < 0) return rc == -E_CHILD ? 0 : rc;
		s32 code = *(s32 *)(info + 8);
		if (code == CLD_EXITED || code == CLD_KILLED || code == CLD_DUMPED) return 0;
	}
}

/*
 * Start a parked helper. Returns its pid, or -errno with r->step set; on
 * failure nothing is left: no process, no descriptor.
 */
s32 bun_userns_spawn(struct req *r)
{
	u64 all = ~0UL, old = 0;
	struct saved_creds saved;
	u8 info[128];
	s64 rc, pid;
	s32 pidfd = -1;
	char *stack_top;

	r->step = STEP_NONE;
	r->err = 0;
	r->go = 0;
	r->pidfd = -1;
	r->pid = 0;
	r->ppid = (s32)sys0(SYS_getpid);
	r->cpu = -1;
	sys3(SYS_getcpu, (s64)&r->cpu, 0, 0);
	stack_top = (char *)(r + 1) + r->stack_len;
	stack_top = (char *)((u64)stack_top & ~15UL);

	/* Block every signal: the child starts with this mask and keeps it. */
	rc = sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&all, (s64)&old, 8);
	if (rc < 0) { r->step = STEP_SIGMASK; r->err = (s32)-rc; return (s32)rc; }

	rc = become_owner(r, &saved);
	if (rc >= 0) {
		/* No CLONE_VFORK: the child waits for us to write its maps. No exit
		 * signal: SIGCHLD=SIG_IGN cannot auto-reap it and wildcard waits
		 * without __WALL do not see it. CLONE_FILES: the helper drops the
		 * shared table first thing, instead of the kernel copying it. */
		pid = bun_userns_clone_trampoline(CLONE_VM | CLONE_FILES | CLONE_NEWUSER | CLONE_PIDFD, stack_top,
						   &pidfd, r, (void *)bun_userns_helper_main);
		if (pid < 0) { r->step = STEP_CLONE; rc = pid; }
		s64 rr = restore_caller(&saved);
		if (rr < 0 && rc >= 0) { r->step = STEP_RESTORE; rc = rr; }
	}
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&old, 0, 8);
	if (rc < 0) {
		if (r->step != STEP_CLONE && pidfd >= 0) goto abort;
		r->err = (s32)-rc;
		return (s32)rc;
	}

	/* uid_map, then setgroups, then gid_map (Go's order): an unprivileged
	 * writer must say "deny" before gid_map is accepted. */
	rc = write_proc_file((s32)pid, "uid_map", r->uid_text, r->uid_len);
	if (rc < 0) { r->step = STEP_UID_MAP; goto abort; }
	rc = write_proc_file((s32)pid, "setgroups", r->setgroups == 2 ? "deny" : "allow",
			     r->setgroups == 2 ? 4 : 5);
	/* "allow" is refused under a parent whose setgroups is "deny"; by default
	 * fall back to "deny" there, which is all that is possible. */
	if (rc == -1 /* EPERM */ && r->setgroups == 0) {
		r->setgroups = 2;
		rc = write_proc_file((s32)pid, "setgroups", "deny", 4);
	}
	if (rc < 0 && rc != -2 /* ENOENT: kernel before 3.19 */) { r->step = STEP_SETGROUPS; goto abort; }
	rc = write_proc_file((s32)pid, "gid_map", r->gid_text, r->gid_len);
	if (rc < 0) { r->step = STEP_GID_MAP; goto abort; }

	*(volatile s32 *)&r->go = 1;
	sys3(SYS_futex, (s64)&r->go, FUTEX_WAKE, 1);

	/* Parked (a ptrace stop) or dead: nothing else can happen next. */
	for (;;) {
		mem_zero(info, sizeof info);
		rc = sys5(SYS_waitid, P_PIDFD, pidfd, (s64)info, WEXITED | WSTOPPED | WALL, 0);
		if (rc != -E_INTR) break;
	}
	if (rc < 0) { r->step = STEP_PARK; goto abort; }
	if (*(s32 *)(info + 8) == CLD_EXITED || *(s32 *)(info + 8) == CLD_KILLED ||
	    *(s32 *)(info + 8) == CLD_DUMPED) {
		/* Reaped by that waitid. The helper left its step and errno. */
		sys1(SYS_close, pidfd);
		if (r->step == STEP_NONE) { r->step = STEP_PARK; r->err = E_SRCH; }
		return -r->err;
	}
	r->pid = (s32)pid;
	r->pidfd = pidfd;
	return (s32)pid;

abort:
	/* Tell a waiting helper to exit, make sure it does, reap it. */
	r->err = (s32)-rc;
	*(volatile s32 *)&r->go = (s32)rc;
	sys3(SYS_futex, (s64)&r->go, FUTEX_WAKE, 1);
	sys4(SYS_pidfd_send_signal, pidfd, SIGKILL, 0, 0);
	reap(pidfd);
	sys1(SYS_close, pidfd);
	return (s32)rc;
}

/*
 * Liveness: 0 while the helper is parked in its ptrace stop, -ESRCH once it
 * died, was reaped elsewhere, or merely has a fatal signal pending (a kill
 * an instant ago has not made it a zombie yet, but it has left the stop).
 * Must run on the creating thread: that thread is the tracer.
 */
s32 bun_userns_alive(s32 pidfd, s32 pid)
{
	u8 info[128];
	s64 rc = sys4(SYS_pidfd_send_signal, pidfd, 0, 0, 0);
	if (rc < 0) return (s32)rc;
	rc = sys4(SYS_ptrace, PTRACE_GETSIGINFO, pid, 0, (s64)info);
	return rc < 0 ? -E_SRCH : 0;
}

/* SIGKILL, then reap. -ESRCH: already reaped by someone else (not an error
 * for the caller's Go semantics); other kill errors are reported. */
s32 bun_userns_kill_reap(s32 pidfd)
{
	s64 rc = sys4(SYS_pidfd_send_signal, pidfd, SIGKILL, 0, 0);
	if (rc < 0) return (s32)rc;
	return (s32)reap(pidfd);
}

/* Kill, reap, close the pidfd: the end of every helper, on every path. */
s32 bun_userns_release(s32 pidfd)
{
	s32 rc = bun_userns_kill_reap(pidfd);
	sys1(SYS_close, pidfd);
	return rc;
}


/* /proc/<pid>/ns/<name>, close-on-exec. */
s32 bun_userns_open_ns(s32 pid, const char *name)
{
	char path[64];
	char full[64];
	const char *ns = "ns/";
	int i = 0;
	while (*ns) full[i++] = *ns++;
	while (*name && i < 40) full[i++] = *name++;
	full[i] = 0;
	proc_path(path, pid, full);
	return (s32)sys4(SYS_openat, AT_FDCWD, (s64)path, O_RDONLY | O_CLOEXEC, 0);
}

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

/* The pidfd trio, probed on ourselves: 0, or -errno of the first failure
 * encoded as -(step * 1000 + errno) with step 1 pidfd_open, 2 send_signal,
 * 3 waitid. */
s32 bun_userns_probe_pidfd(void)
{
	u8 info[128];
	s64 fd = sys2(SYS_pidfd_open, sys0(SYS_getpid), 0);
	s64 rc;
	if (fd < 0) return (s32)(-1000 + fd);
	rc = sys4(SYS_pidfd_send_signal, fd, 0, 0, 0);
	if (rc < 0) { sys1(SYS_close, fd); return (s32)(-2000 + rc); }
	mem_zero(info, sizeof info);
	rc = sys5(SYS_waitid, P_PIDFD, fd, (s64)info, WEXITED | WNOHANG | WALL, 0);
	sys1(SYS_close, fd);
	/* Waiting on ourselves must say "not a child", not "unknown idtype". */
	if (rc != -E_CHILD) return (s32)(-3000 + (rc < 0 ? rc : -E_INVAL));
	return 0;
}

/*
 * Can PATH be idmapped with USERNS_FD? Clone its mount tree detached
 * (open_tree), set MOUNT_ATTR_IDMAP on the clone (mount_setattr), close it:
 * never attached anywhere. 0, or -(step * 1000 + errno) with step 1 open_tree,
 * 2 mount_setattr.
 */
#define OPEN_TREE_CLONE 1
#define AT_EMPTY_PATH 0x1000
#define MOUNT_ATTR_IDMAP 0x00100000
struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; };

s32 bun_userns_idmap_probe(const char *path, s32 userns_fd)
{
	struct mount_attr attr;
	s64 fd, rc;
	fd = sys3(SYS_open_tree, AT_FDCWD, (s64)path, OPEN_TREE_CLONE | O_CLOEXEC);
	if (fd < 0) return (s32)(-1000 + fd);
	mem_zero(&attr, sizeof attr);
	attr.attr_set = MOUNT_ATTR_IDMAP;
	attr.userns_fd = (u64)userns_fd;
	rc = sys5(SYS_mount_setattr, fd, (s64)"", AT_EMPTY_PATH, (s64)&attr, sizeof attr);
	sys1(SYS_close, fd);
	return rc < 0 ? (s32)(-2000 + rc) : 0;
}

/*
 * The one symbol bun:ffi binds: each bound symbol costs ~0.35 ms of a
 * one-shot's start (Bun compiles a trampoline per symbol). Op numbers are
 * mirrored in src/native.ts.
 */
enum op {
	OP_SPAWN, OP_ALIVE, OP_RELEASE, OP_CLOSE, OP_OPEN_NS, OP_PROBE_PIDFD,
	OP_CAP_EFFECTIVE, OP_OWNER_UID, OP_IDMAP_PROBE
};

s32 bun_userns(s32 op, void *p, s32 x, s32 y)
{
	switch (op) {
	case OP_SPAWN: return bun_userns_spawn((struct req *)p);
	case OP_ALIVE: return bun_userns_alive(x, y);
	case OP_RELEASE: return bun_userns_release(x);
	case OP_CLOSE: return (s32)sys1(SYS_close, x);
	case OP_OPEN_NS: return bun_userns_open_ns(x, (const char *)p);
	case OP_PROBE_PIDFD: return bun_userns_probe_pidfd();
	case OP_CAP_EFFECTIVE: return bun_userns_cap_effective();
	case OP_OWNER_UID: return bun_userns_owner_uid(x, (u32 *)p);
	case OP_IDMAP_PROBE: return bun_userns_idmap_probe((const char *)p, x);
	}
	return -E_INVAL;
}
