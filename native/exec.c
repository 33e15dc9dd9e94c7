/*
 * Run a command INSIDE namespaces (spawnInside, CLI exec/enter).
 *
 * The caller (bun_userns_exec) clones an entering child with CLONE_VM on a
 * private stack inside the request block: no copy of Bun's page tables, and
 * the calling thread sleeps only until the child has exec'd (or died), i.e.
 * for the setns+execve, never while the command runs. It waits on a futex
 * word the kernel clears when the child lets go of Bun's mm (the "gate":
 * set_tid_address, cleared by mm_release at execve or exit), not with
 * CLONE_VFORK: from setns on, the entered user namespace's owner (another
 * uid, with owner "mapping") may signal the child, and a SIGSTOP'd vfork
 * child would hold Bun's thread for as long as that uid likes. The gate
 * wait sees a stop and kills the child instead.
 * The child shares Bun's memory until execve, so it follows the helper's
 * discipline: signals blocked from before clone, raw syscalls only, nothing
 * touched but its stack and the request block.
 *
 * A pid namespace needs a fork inside: setns(CLONE_NEWPID) only changes
 * pid_for_children. Then the entering child ("outer") clones the command
 * ("inner", CLONE_VM|CLONE_VFORK|CLONE_PARENT|CLONE_PARENT_SETTID on the
 * second half of the stack, its pid written to r->pid before it runs, so
 * the gate wait can see it stopped too): the inner is pid 1 there and a child of Bun's process, so Bun's
 * side waits on it, signals it and reaps it directly; the outer exits as
 * soon as the inner has exec'd. (util-linux unshare --fork keeps a waiting
 * parent instead; here that parent is Bun's poller, not a guest process
 * living in Bun's address space.)
 *
 * Who may reach Bun's memory through the entering child: from its first
 * setns on it holds credentials of the entered user namespace, so anyone
 * with CAP_SYS_PTRACE there (its owner, or any process inside it: a command
 * run as its root, a subordinate uid) passes ptrace_may_access against it,
 * and then only the mm's dumpable flag decides. Two ways to hold that:
 *  - a caller with CAP_SYS_PTRACE seals its mm (non-dumpable, for good: a
 *    flag per process cannot be saved and restored per thread), and keeps
 *    every access it needs through that capability;
 *  - any other caller (and every caller entering a time namespace, which
 *    timens_install allows only to a process alone in its mm: EUSERS) has
 *    the entering child make a real fork of itself ("the copy": no
 *    CLONE_VM, a copy of Bun's page tables, the one path whose cost grows
 *    with Bun's memory). The copy seals its own mm before its first setns
 *    and does all the entering; the child in Bun's mm enters nothing and
 *    changes no credential. A sealed caller could no longer write its own
 *    helpers' maps nor open their /proc/PID files, so it is not sealed.
 *    The copy reports through a MAP_SHARED page Bun's thread maps and
 *    unmaps (nobody but the caller can signal that thread). Its mm keeps
 *    Bun's user namespace as its owner (dup_mm), which only CAP_SYS_PTRACE
 *    there passes.
 */

/* Its steps (XSTEPS) and option bits (XOPT_*) are the contract's: native/abi.h. */
#define TIOCSCTTY 0x540E
#define PROT_RW 3           /* PROT_READ | PROT_WRITE */
#define MAP_SHARED_ANON 0x21 /* MAP_SHARED | MAP_ANONYMOUS */
#define PAGE 4096
#define CLONE_NEWPID 0x20000000
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#define CLOCK_MONOTONIC 1
#define CLOCK_BOOTTIME 7
#define XFD_MAX 8
#define F_DUPFD_CLOEXEC 1030
#define F_SETFD_ 2
#define FSOPEN_CLOEXEC 1
#define FSMOUNT_CLOEXEC 1
#define FSCONFIG_CMD_CREATE 6
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8
#define CLONE_VFORK 0x00004000
#define CLONE_PARENT 0x00008000
#define CLONE_PARENT_SETTID 0x00100000
#define WNOWAIT 0x01000000
#define P_PID 1
#define GATE_CHECK_NS 10000000 /* how long a stop may hold Bun's thread: 10 ms */
struct ktimespec { s64 sec, nsec; };
#define E_NOENT 2
#define E_NOTDIR 20
#define E_ACCES 13
#define E_NOEXEC 8

/* The request of one command; its layout is the contract's (native/abi.h). */
struct xreq {
	s32 step;             /*   0 out: enum xstep that failed: the head (fail.c) */
	s32 err;              /*   4 out: its errno */
	s32 pidfd;            /*   8 in: target pidfd for setns(pidfd, ns_flags), or -1 */
	u32 ns_flags;         /*  12 in */
	s32 nfds;             /*  16 in: entries of fds/types */
	s32 opts;             /*  20 in: XOPT_* */
	s32 stdio[3];         /*  24 in: fd for 0, 1, 2; -1 keep ours; -2 /dev/null */
	s32 ppid;             /*  36 caller's tgid */
	s32 pid;              /*  40 out: the command's pid (our namespace) */
	s32 cmd_pidfd;        /*  44 out */
	s32 fds[XFD_MAX];     /*  48 in: namespace fds, setns'd in this order */
	u32 types[XFD_MAX];   /*  80 in: their CLONE_NEW* type */
	s32 stack_len;        /* 112 in: bytes of stack after the block */
	s32 gate;             /* 116 futex: 1 until the child lets go of Bun's mm, then 0 */
	u64 argv;             /* 120 in: char *[] */
	u64 envp;             /* 128 in: char *[] */
	u64 path;             /* 136 in: PATH for the lookup, or 0 */
	u64 cwd;              /* 144 in: chdir here once inside, or 0 */
	s32 uid;              /* 152 in: setresuid to this once inside, or -1 */
	s32 gid;              /* 156 in: setgroups(0) + setresgid to this, or -1 */
	u64 report;           /* 160 own mm: the MAP_SHARED page the copy runs on and reports into */
	u64 fork_stack;       /* 168 in: stack top of the last fork (the command in a pid namespace) */
	u64 not_default;      /* 176 entering child: signals whose disposition is not SIG_DFL */
	s32 copy;             /* 184 own mm: the copy's pid (CLONE_PARENT_SETTID) */
	s32 ctty;             /* 188 in: with XOPT_CTTY, which of 0-2 becomes the controlling terminal */
	u32 unshare;          /* 192 in: CLONE_NEW* the command's process makes itself once inside (never user) */
	s32 kill_sig;         /* 196 in: the command's parent-death signal (0: SIGKILL) */
	u64 root;             /* 200 in: chroot here once inside (then chdir to cwd, or /), or 0 */
	u64 proc_dir;         /* 208 in: with XOPT_MOUNT_PROC, where (0: /proc) */
	s64 time_off[4];      /* 216 in: with XOPT_TIME_OFFSETS: monotonic s, ns, boottime s, ns */
	u64 pass;             /* 248 in: s32[npass], ascending, each > 2: the caller's fds the command keeps */
	s32 npass;            /* 256 in */
	s32 spare;            /* 260 */
	/* 264: the stack, then pointer tables and strings */
};

struct ksigaction { u64 handler, flags, restorer, mask; };

/* Does it enter a namespace of this type (from the pidfd or a file)? */
static int exec_enters(struct xreq *r, u32 type)
{
	int i;
	if (r->ns_flags & type) return 1;
	for (i = 0; i < r->nfds && i < XFD_MAX; i++)
		if (r->types[i] == type) return 1;
	return 0;
}

/* A failed step in a child: its head written, the child exits with STATUS (126, 127 as a shell's). */
static void xfail(struct xreq *r, s32 step, s64 err, s32 status)
{
	fail(r, step, err);
	sys1(SYS_exit_group, status);
}

/* execve(file) or, for a bare name, each PATH entry (0: none) like a shell:
 * returns only on failure, the error to report: the last EACCES (or other)
 * wins over ENOENT ("not executable" 126 over "not found" 127). */
static s64 exec_search(const char *file, char **argv, char **envp, const char *p)
{
	const char *f;
	char buf[4096];
	s64 rc, seen = -E_NOENT;
	int slash = 0, n, i;
	for (f = file; *f; f++) if (*f == '/') slash = 1;
	if (slash || !p) return sys3(SYS_execve, (s64)file, (s64)argv, (s64)envp);
	for (;;) {
		n = 0;
		while (*p && *p != ':' && n < 4000) buf[n++] = *p++;
		if (n == 0) buf[n++] = '.'; /* an empty entry is the cwd, as in sh */
		buf[n++] = '/';
		for (i = 0; file[i] && n < 4094; i++) buf[n++] = file[i];
		buf[n] = 0;
		rc = sys3(SYS_execve, (s64)buf, (s64)argv, (s64)envp);
		if (rc != -E_NOENT && rc != -E_NOTDIR) seen = rc;
		if (*p == 0) return seen;
		p++;
	}
}

static void exec_lookup(struct xreq *r)
{
	char **argv = (char **)r->argv;
	s64 rc = exec_search(argv[0], argv, (char **)r->envp, (const char *)r->path);
	xfail(r, X_EXEC, rc, rc == -E_NOENT || rc == -E_NOTDIR ? 127 : 126);
}

/* The hex mask after key (e.g. "\nSigIgn:\t") in the text, or ~0 if absent or malformed. */
static u64 exec_status_mask(const char *buf, s64 n, const char *key)
{
	s64 i, k;
	u64 mask = 0, d;
	for (i = 0; i < n; i++) {
		for (k = 0; key[k] && buf[i + k] == key[k]; k++) {}
		if (key[k]) continue;
		for (i += k, k = 0; k < 16; k++, i++) {
			d = buf[i] >= '0' && buf[i] <= '9' ? (u64)(buf[i] - '0') : buf[i] >= 'a' && buf[i] <= 'f' ? (u64)(buf[i] - 'a' + 10) : 99;
			if (d == 99) return ~0UL;
			mask = mask << 4 | d;
		}
		return mask;
	}
	return ~0UL;
}

/*
 * The signals whose disposition is not SIG_DFL (ignored or caught), from our
 * own /proc/self/status, read before setns (the entered mount namespace's
 * /proc may not show us). Our sighand is our own copy (no CLONE_SIGHAND):
 * nothing changes it after this. ~0 (reset all) if it cannot be read.
 */
static u64 exec_not_default(void)
{
	char buf[4096];
	s64 fd, n;
	fd = sys4(SYS_openat, AT_FDCWD, (s64)"/proc/self/status", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) return ~0UL;
	n = sys3(SYS_read, fd, (s64)buf, sizeof buf - 1);
	sys1(SYS_close, fd);
	if (n <= 0) return ~0UL;
	buf[n] = 0;
	return exec_status_mask(buf, n, "\nSigIgn:\t") | exec_status_mask(buf, n, "\nSigCgt:\t");
}

/* Keep every permitted capability across an execve as a non-root id
 * (util-linux --keep-caps): execve recomputes the permitted set from the
 * file and the ambient set, and the ambient set takes only what is both
 * permitted and inheritable, so the inheritable set is raised first. */
static void exec_keep_caps(struct xreq *r)
{
	struct cap_header hdr;
	struct cap_data caps[2];
	s64 rc;
	int cap;
	hdr.version = CAP_V3;
	hdr.pid = 0;
	rc = sys2(SYS_capget, (s64)&hdr, (s64)caps);
	if (rc < 0) xfail(r, X_CAPS, rc, 126);
	caps[0].inheritable = caps[0].permitted;
	caps[1].inheritable = caps[1].permitted;
	rc = sys2(SYS_capset, (s64)&hdr, (s64)caps);
	if (rc < 0) xfail(r, X_CAPS, rc, 126);
	for (cap = 0; cap < 64; cap++) {
		if (!((cap < 32 ? caps[0].permitted >> cap : caps[1].permitted >> (cap - 32)) & 1)) continue;
		rc = sys5(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
		if (rc < 0) xfail(r, X_CAPS, rc, 126);
	}
}

/*
 * Die with the thread that started us: PR_SET_PDEATHSIG, then a check that
 * it had not died before (no signal comes then; we were reparented). Needed
 * again after every credential change, which clears it (commit_creds: a
 * new user namespace's credentials, a uid change), and in every new process
 * (fork clears it), before anything that can wait on what the inside
 * controls (a path there, a stop it sends). A process in another pid
 * namespace than its parent (a new or entered one) sees that parent as 0.
 */
static void exec_die_with_parent(struct xreq *r, s32 sig)
{
	s64 rc = sys2(SYS_prctl, PR_SET_PDEATHSIG, sig);
	if (rc < 0) xfail(r, X_PDEATHSIG, rc, 126);
	rc = sys0(SYS_getppid);
	if (rc != r->ppid && !(rc == 0 && ((r->opts & XOPT_NEW_PID) || exec_enters(r, CLONE_NEWPID))))
		xfail(r, X_PARENT_GONE, -E_SRCH, 126);
}

/*
 * A directory the command's setup acts on (root, cwd, /proc's place),
 * resolved once by resolve.c's rule, in the mount namespace and root we are
 * in: whoever can write a directory on the way (another uid, a process
 * inside the namespaces) could otherwise swap in a symlink or another
 * directory between our lookup and the act, or before it, and send a root
 * command's cwd into /etc or its root to "/". A symlink that uid could
 * have placed is refused: ELOOP at STEP. "Root" is uid 0 as the user
 * namespace we are in sees it. Its own function: the walk's buffers leave
 * the stack before the exec's lookup. An O_PATH descriptor, or no return.
 */
static s64 exec_walk(struct xreq *r, const char *path, s32 step)
{
	struct walk w;
	s64 fd = walk_dir(path, &w);
	if (fd < 0) xfail(r, step, fd, 126);
	return fd;
}

/*
 * A new proc mounted on DIR, by descriptor. mount(2) takes only paths, and
 * "/proc/self/fd/N" would be one more lookup by name through the /proc of
 * the mount namespace we are in (or under the new root), which whoever holds
 * CAP_SYS_ADMIN there can replace with anything (the reason timens_offsets
 * is opened before entering). So the new mount API: fsopen + fsconfig
 * (CMD_CREATE: a proc of our pid namespace, the one mount(2) would make) +
 * fsmount (detached, nosuid, nodev, noexec), then move_mount with
 * MOVE_MOUNT_T_EMPTY_PATH onto the resolved descriptor itself.
 */
static void exec_mount_proc(struct xreq *r, const char *proc)
{
	struct mount_attr attr;
	s64 dir, fs, mnt, rc;
	dir = exec_walk(r, proc, X_RESOLVE_PROC);
	/* Our /proc must not propagate back to the namespace we copied: the
	 * mount there made private (mount_setattr, by the same descriptor). A
	 * directory with nothing mounted on it answers EINVAL (not a mount's
	 * root): nothing to change there. */
	mem_zero(&attr, sizeof attr);
	attr.propagation = MS_PRIVATE;
	rc = sys5(SYS_mount_setattr, dir, (s64)"", AT_EMPTY_PATH | AT_RECURSIVE, (s64)&attr, sizeof attr);
	if (rc < 0 && rc != -E_INVAL) xfail(r, X_PROC_PRIVATE, rc, 126);
	fs = sys2(SYS_fsopen, (s64)"proc", FSOPEN_CLOEXEC);
	if (fs < 0) xfail(r, X_PROC_FS, fs, 126);
	rc = sys5(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0);
	if (rc < 0) xfail(r, X_PROC_CREATE, rc, 126);
	mnt = sys3(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	sys1(SYS_close, fs);
	if (mnt < 0) xfail(r, X_PROC_MOUNT, mnt, 126);
	rc = sys5(SYS_move_mount, mnt, (s64)"", dir, (s64)"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	sys1(SYS_close, mnt);
	sys1(SYS_close, dir);
	if (rc < 0) xfail(r, X_MOUNT_PROC, rc, 126);
}

/* The last steps before execve, in the process that becomes the command:
 * util-linux's order (propagation, root, directory, /proc, ids, caps). */
static void exec_prepare(struct xreq *r, u64 not_default)
{
	struct ksigaction dfl;
	u64 none = 0, prop;
	s64 rc, fd;
	int sig;
	const char *proc = r->proc_dir ? (const char *)r->proc_dir : "/proc";
	/* The paths below are looked up where the inside can make them wait
	 * (a FUSE server of its own): die with our starter meanwhile. */
	exec_die_with_parent(r, SIGKILL);
	/* Default dispositions: Bun ignores some signals (SIG_IGN survives
	 * execve) and its handlers live in memory we still share (one could
	 * run between the unblock below and execve). Only those that are not
	 * SIG_DFL need a call (a call per signal shows in spawnInside's time,
	 * docs/performance.md). */
	mem_zero(&dfl, sizeof dfl);
	for (sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && (not_default >> (sig - 1) & 1))
			sys4(SYS_rt_sigaction, sig, (s64)&dfl, 0, 8);
	/* Propagation of / in the mount namespace we are in, before anything
	 * is mounted (util-linux --propagation). A copy made in our own user
	 * namespace keeps the peers of a shared mount, so private must be
	 * asked for; none of the bits leaves it as the copy (or helper) made it. */
	prop = r->opts & XOPT_PRIVATE ? MS_PRIVATE : r->opts & XOPT_SLAVE ? MS_SLAVE : r->opts & XOPT_SHARED ? MS_SHARED : 0;
	if (prop) {
		rc = sys5(SYS_mount, (s64)"none", (s64)"/", 0, MS_REC | prop, 0);
		if (rc < 0) xfail(r, X_PROPAGATION, rc, 126);
	}
	/* A new root: resolved once in the mount namespace we are in (after
	 * root, "/" is the new root), as the command's directory and /proc's
	 * place are below. Acting on the descriptor: fchdir to it, then
	 * chroot("."), the kernel's chroot taking only a path; "." is the cwd
	 * itself, no name looked up again. The directory then starts as the new
	 * root (chroot keeps the cwd, which is it). */
	if (r->root) {
		fd = exec_walk(r, (const char *)r->root, X_RESOLVE_ROOT);
		rc = sys1(SYS_fchdir, fd);
		sys1(SYS_close, fd);
		if (rc < 0) xfail(r, X_CHDIR, rc, 126);
		rc = sys1(SYS_chroot, (s64)".");
		if (rc < 0) xfail(r, X_CHROOT, rc, 126);
	}
	/* The directory: a relative one from where we are now (the entered
	 * mount namespace's root, the new root, or else the caller's cwd). */
	if (r->cwd) {
		fd = exec_walk(r, (const char *)r->cwd, X_RESOLVE_CWD);
		rc = sys1(SYS_fchdir, fd);
		sys1(SYS_close, fd);
		if (rc < 0) xfail(r, X_CHDIR, rc, 126);
	}
	if (r->opts & XOPT_MOUNT_PROC) exec_mount_proc(r, proc);
	/* The ids last of what needs privilege: a uid change drops the
	 * capabilities the steps above use. Groups first, while we still have
	 * CAP_SETGID; setgroups is refused where it was set to "deny". */
	if (r->gid >= 0) {
		rc = sys2(SYS_setgroups, 0, 0);
		if (rc < 0 && rc != -E_PERM) xfail(r, X_SETID, rc, 126);
		rc = sys3(SYS_setresgid, r->gid, r->gid, r->gid);
		if (rc < 0) xfail(r, X_SETID, rc, 126);
	}
	if (r->uid >= 0) {
		rc = sys3(SYS_setresuid, r->uid, r->uid, r->uid);
		if (rc < 0) xfail(r, X_SETID, rc, 126);
	}
	if (r->opts & XOPT_KEEP_CAPS) exec_keep_caps(r);
	/* The command dies with the thread that started it: its own signal,
	 * set after the last credential change (which clears it). */
	exec_die_with_parent(r, r->kill_sig > 0 ? r->kill_sig : SIGKILL);
	/*
	 * A terminal is a way back to the caller: a process whose controlling
	 * terminal it is may push bytes into its input with TIOCSTI (tty_ioctl
	 * refuses "current->signal->tty != tty" only; the tty's owner and the
	 * namespace do not matter while dev.tty.legacy_tiocsti is 1, and before
	 * Linux 6.2 there is no such switch), which the caller's shell then reads
	 * as typed once the command exits; and it may open it again through
	 * /dev/tty. setsid() leaves the session, and with it the controlling
	 * terminal: a new session has none, so TIOCSTI on an inherited terminal
	 * fd is EPERM and /dev/tty is ENXIO. It fails only for a process group
	 * leader, which no child of ours is (it starts in Bun's group).
	 */
	if (r->opts & (XOPT_NEW_SESSION | XOPT_CTTY)) {
		rc = sys0(SYS_setsid);
		if (rc < 0) xfail(r, X_SETSID, rc, 126);
	}
	/* The command's own terminal (a pty the CLI relays): TIOCSCTTY is granted
	 * to a session leader without one, for a tty that is no session's
	 * controlling terminal yet (a fresh pty; opened O_NOCTTY, it did not
	 * become ours by the open). Job control and ^C then work inside. */
	if (r->opts & XOPT_CTTY) {
		rc = r->ctty >= 0 && r->ctty <= 2 ? sys3(SYS_ioctl, r->ctty, TIOCSCTTY, 0) : -E_INVAL;
		if (rc < 0) xfail(r, X_CTTY, rc, 126);
	}
	/* Only now unblock: every handler is SIG_DFL, nothing of Bun can run. */
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&none, 0, 8);
	exec_lookup(r);
}

static void exec_inner_main(struct xreq *r)
{
	/* In the new pid namespace our /proc/self may not resolve: reset them all. */
	exec_prepare(r, ~0UL);
}

/*
 * Once inside, nothing of ours but 0-2 and the fds the caller passes: the
 * fd table is our own copy (no CLONE_FILES), so close_range closes nothing
 * of Bun's. A passed fd keeps its number and loses close-on-exec in this
 * table only (Bun sets it on every fd it inherits, so without that the
 * exec would close it). setns keeps our credentials (our uid may not even
 * be mapped in the entered user namespace): the ids asked for are taken
 * last, in exec_prepare, as are the root and the directory (with the
 * permissions of those ids' caller).
 */
static void exec_settle(struct xreq *r)
{
	const s32 *pass = (const s32 *)r->pass;
	s64 rc = 0;
	u32 lo = 3;
	int i;
	for (i = 0; i < r->npass && rc >= 0; i++) {
		if ((u32)pass[i] < lo) { rc = -E_INVAL; break; } /* ascending, past 2: the codec's promise */
		if ((u32)pass[i] > lo) rc = sys3(SYS_close_range, lo, (u32)pass[i] - 1, 0);
		if (rc >= 0) rc = sys3(SYS_fcntl, pass[i], F_SETFD_, 0);
		lo = (u32)pass[i] + 1;
	}
	if (rc >= 0) rc = sys3(SYS_close_range, lo, ~0U, 0);
	if (rc < 0) xfail(r, X_CLOSE_RANGE, rc, 126);
}

/* "-123" into out; returns the end. */
static char *exec_put_s64(char *out, s64 v)
{
	char tmp[24];
	int n = 0;
	u64 u = v < 0 ? (u64)-v : (u64)v;
	if (v < 0) *out++ = '-';
	do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
	while (n) *out++ = tmp[--n];
	return out;
}

/*
 * Clock offsets of the time namespace we made (unshare(CLONE_NEWTIME) sets
 * only our children's, which execve then enters): the kernel takes them
 * only while no process is in it yet, so before the execve, as
 * "<clock> <secs> <nsecs>" lines written to FD, our own
 * /proc/self/timens_offsets opened before the first setns (exec_enter_main).
 */
static void exec_time_offsets(struct xreq *r, s64 fd)
{
	char buf[128], *p = buf;
	s64 rc;
	p = exec_put_s64(p, CLOCK_MONOTONIC); *p++ = ' ';
	p = exec_put_s64(p, r->time_off[0]); *p++ = ' ';
	p = exec_put_s64(p, r->time_off[1]); *p++ = '\n';
	p = exec_put_s64(p, CLOCK_BOOTTIME); *p++ = ' ';
	p = exec_put_s64(p, r->time_off[2]); *p++ = ' ';
	p = exec_put_s64(p, r->time_off[3]); *p++ = '\n';
	rc = sys3(SYS_write, fd, (s64)buf, p - buf);
	sys1(SYS_close, fd);
	if (rc < 0) xfail(r, X_TIME_OFFSETS, rc, 126);
}

/*
 * The entering: in the entering child itself, or (own mm) in its copy. The
 * user namespace first: the others are owned by it and setns into them
 * needs CAP_SYS_ADMIN there. Never returns.
 */
static void exec_enter_main(struct xreq *r)
{
	s64 rc, toff = -1;
	int i;

	/* The copy holds Bun's memory, as readable as its mm is dumpable: sealed
	 * before the first setns, while only the caller can reach it. */
	if (r->opts & XOPT_OWN_MM) {
		rc = sys2(SYS_prctl, PR_SET_DUMPABLE, 0);
		if (rc < 0) xfail(r, X_DUMPABLE, rc, 126);
	}
	/* The time offsets' file, opened in our own /proc now: after setns the
	 * path is the entered mount namespace's, where the inside may have put a
	 * FIFO (whose open waits for a reader, holding Bun's thread in the gate)
	 * or a file of its own. The write acts on the task the file names (us)
	 * and its time_for_children as it is then; the kernel checks
	 * CAP_SYS_TIME over that namespace's owner with the opener's
	 * credentials too, which ours (the caller's, over a namespace it could
	 * enter) hold. */
	if (r->opts & XOPT_TIME_OFFSETS) {
		toff = sys4(SYS_openat, AT_FDCWD, (s64)"/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC, 0);
		if (toff < 0) xfail(r, X_TIME_OFFSETS, toff, 126);
	}

	/* A user namespace given as a file goes first. */
	for (i = 0; i < r->nfds && i < XFD_MAX; i++) {
		if (r->types[i] != CLONE_NEWUSER) continue;
		rc = sys2(SYS_setns, r->fds[i], r->types[i]);
		if (rc < 0) xfail(r, X_SETNS_FD, rc, 126);
	}
	/* setns(pidfd, flags), Linux 5.8: all of them at once, the kernel
	 * enters the user namespace first and fails as a whole. */
	if (r->pidfd >= 0 && (r->ns_flags & ~CLONE_NEWTIME)) {
		rc = sys2(SYS_setns, r->pidfd, r->ns_flags & ~CLONE_NEWTIME);
		if (rc < 0) xfail(r, X_SETNS, rc, 126);
	}
	for (i = 0; i < r->nfds && i < XFD_MAX; i++) {
		if (r->types[i] == CLONE_NEWUSER || r->types[i] == CLONE_NEWTIME) continue;
		rc = sys2(SYS_setns, r->fds[i], r->types[i]);
		if (rc < 0) xfail(r, X_SETNS_FD, rc, 126);
	}
	/* Time last of the namespaces: timens_install needs CAP_SYS_ADMIN over
	 * its owner (so after the user namespace) and a process alone in its mm
	 * (only the copy is). */
	if (r->ns_flags & CLONE_NEWTIME) {
		rc = sys2(SYS_setns, r->pidfd, CLONE_NEWTIME);
		if (rc < 0) xfail(r, X_SETNS, rc, 126);
	}
	for (i = 0; i < r->nfds && i < XFD_MAX; i++) {
		if (r->types[i] != CLONE_NEWTIME) continue;
		rc = sys2(SYS_setns, r->fds[i], CLONE_NEWTIME);
		if (rc < 0) xfail(r, X_SETNS_FD, rc, 126);
	}

	/* Entering a user namespace cleared our parent-death signal (and the
	 * copy, a fork, never had one): set before anything that can wait. */
	exec_die_with_parent(r, SIGKILL);

	/* Namespaces of its own (util-linux unshare without a user namespace):
	 * made here, in whatever user namespace we are now in, which owns them.
	 * A pid namespace is made below, a time namespace's offsets set now. */
	if (r->unshare & ~(u32)(CLONE_NEWPID | CLONE_NEWUSER)) {
		rc = sys1(SYS_unshare, r->unshare & ~(u32)(CLONE_NEWPID | CLONE_NEWUSER));
		if (rc < 0) xfail(r, X_UNSHARE, rc, 126);
	}
	if (r->opts & XOPT_TIME_OFFSETS) exec_time_offsets(r, toff); /* closes it */

	exec_settle(r);

	/* A new pid namespace is made here, not by the helper: a pid namespace
	 * with no process in it yet cannot be entered (its pid_for_children
	 * link answers ENOENT until its init exists). Owned by the user
	 * namespace we have just entered. */
	if (r->opts & XOPT_NEW_PID) {
		rc = sys1(SYS_unshare, CLONE_NEWPID);
		if (rc < 0) xfail(r, X_UNSHARE, rc, 126);
	}

	if (r->opts & XOPT_FORK) {
		/* The command is created in pid_for_children: pid 1 there. It shares
		 * our mm until its exec (CLONE_VFORK: we wait for that), and is a
		 * child of Bun's process (CLONE_PARENT), its exit signal ours (0:
		 * no SIGCHLD, wildcard waits skip it). Except after a time namespace
		 * made here: a child bound for another time namespace may not share
		 * our mm (copy_process: EINVAL; kernels before the one whose execve
		 * switches time namespaces, such as 6.1), so it is a real fork of
		 * the copy (bun_userns_exec made us one: a sealed mm, its request
		 * the shared page, both inherited). */
		rc = bun_userns_clone_trampoline((r->unshare & CLONE_NEWTIME ? 0 : CLONE_VM) | CLONE_VFORK |
							 CLONE_PARENT | CLONE_PARENT_SETTID,
						 (char *)r->fork_stack, &r->pid, r, (void *)exec_inner_main);
		if (rc < 0) xfail(r, X_FORK, rc, 126);
		sys1(SYS_exit_group, 0);
	}
	/* Own mm: the copy is the command. */
	if (r->opts & XOPT_OWN_MM) r->pid = r->copy;
	exec_prepare(r, r->not_default);
}

/*
 * STDIO (-1 keep ours, -2 /dev/null, else an fd of ours) onto 0, 1, 2: every
 * source moved above 2 first (a source may itself be 0-2, as in 2>&1), then
 * dup3 onto 0-2, which clears close-on-exec. One /dev/null, read-write, for
 * every "ignore", also above 2 (0-2 may be closed in Bun). 0 or -errno.
 */
static s64 exec_stdio(const s32 *stdio)
{
	s32 moved[3];
	s64 rc, fd, null = -1;
	int i;
	for (i = 0; i < 3; i++) {
		moved[i] = -1;
		if (stdio[i] == -1) continue;
		if (stdio[i] == -2) {
			if (null < 0) {
				null = sys4(SYS_openat, AT_FDCWD, (s64)"/dev/null", O_RDWR | O_CLOEXEC, 0);
				if (null >= 0 && null < 3) null = sys3(SYS_fcntl, null, F_DUPFD_CLOEXEC, 3);
			}
			fd = null;
		} else
			fd = sys3(SYS_fcntl, stdio[i], F_DUPFD_CLOEXEC, 3);
		if (fd < 0) return fd;
		moved[i] = (s32)fd;
	}
	for (i = 0; i < 3; i++) {
		if (moved[i] < 0) continue;
		rc = sys3(SYS_dup3, moved[i], i, 0);
		if (rc < 0) return rc;
	}
	return 0;
}

/* The entering child, called by the clone trampoline; never returns. */
static void exec_child_main(struct xreq *r)
{
	struct xreq *shared;
	s64 rc;
	int i;

	/* The gate: the kernel zeroes r->gate and wakes its futex when we let
	 * go of Bun's mm (mm_release, at execve's switch to the new mm or at
	 * exit), the moment from which nothing runs in Bun's memory. A close-on-
	 * exec pipe would tell later: its last fput is deferred to the end of
	 * execve, after the whole ELF load. */
	sys1(SYS_set_tid_address, (s64)&r->gate);
	if (sys2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) < 0 || sys0(SYS_getppid) != r->ppid)
		xfail(r, X_PARENT_GONE, -E_SRCH, 126);
	r->not_default = exec_not_default();

	rc = exec_stdio(r->stdio);
	if (rc < 0) xfail(r, X_STDIO, rc, 126);

	if (!(r->opts & XOPT_OWN_MM)) exec_enter_main(r);

	/* Own mm: the copy enters, on the middle of the stack (in its copy of
	 * this memory; its address rounded down to 16, as every stack top in
	 * bun_userns_exec), with the shared page as its request. CLONE_VFORK: we
	 * wait until it (or its own command child) has exec'd or died. It is a
	 * child of Bun's process (CLONE_PARENT), which reaps it. */
	shared = (struct xreq *)r->report;
	for (i = 0; i < (int)sizeof *r; i++) ((u8 *)shared)[i] = ((u8 *)r)[i];
	rc = bun_userns_clone_trampoline(CLONE_VFORK | CLONE_PARENT | CLONE_PARENT_SETTID,
					 (char *)((u64)((char *)(r + 1) + r->stack_len / 2) & ~15UL), &shared->copy,
					 shared, (void *)exec_enter_main);
	if (rc < 0) xfail(r, X_FORK, rc, 126);
	sys1(SYS_exit_group, 0);
}

/* Will the child's credentials change (a user namespace entered, ids set)? */
static int exec_changes_creds(struct xreq *r)
{
	int i;
	if ((r->ns_flags & CLONE_NEWUSER) || r->uid >= 0 || r->gid >= 0) return 1;
	for (i = 0; i < r->nfds && i < XFD_MAX; i++)
		if (r->types[i] == CLONE_NEWUSER) return 1;
	return 0;
}

/* Block until this child of ours has exited, leaving it for the reap. */
static void exec_reap_nowait(s32 idtype, s64 id)
{
	u8 info[128];
	wait_retry(idtype, id, info, WEXITED | WNOWAIT | WALL);
}

/* Is this child of ours in a stop? WNOWAIT: its state stays for the reap. */
static int exec_stopped(s32 idtype, s64 id)
{
	u8 info[128];
	mem_zero(info, sizeof info);
	if (sys5(SYS_waitid, idtype, id, (s64)info, WSTOPPED | WNOHANG | WNOWAIT | WALL, 0) < 0) return 0;
	return SI_CODE(info) == CLD_STOPPED;
}

/* Has this child of ours exited? WNOWAIT: it stays for the reap. */
static int exec_exited(s32 pidfd)
{
	u8 info[128];
	mem_zero(info, sizeof info);
	if (sys5(SYS_waitid, P_PIDFD, pidfd, (s64)info, WEXITED | WNOHANG | WNOWAIT | WALL, 0) < 0) return 1;
	return SI_PID(info) != 0;
}

/* Stop a child of ours (CLONE_PARENT, unreaped: the pid cannot be reused)
 * that sits in a stop. 1 if it was stopped. */
static int exec_kill_stopped(s32 pid)
{
	if (pid <= 0 || !exec_stopped(P_PID, pid)) return 0;
	sys2(SYS_kill, pid, SIGKILL);
	return 1;
}

/*
 * Wait until the child has exec'd or died: r->gate is then 0 (see
 * exec_child_main), so from here on nothing runs in Bun's memory. With a
 * command of its own (pid namespace, or own mm) the entering child exits
 * only after its CLONE_VFORK child let go of the mm too. Every
 * GATE_CHECK_NS, look for a stop: a stopped child (the entering one, its
 * copy, or the command forked for a pid namespace) stopped before exec;
 * kill it rather than wait for a SIGCONT that may never come. And for an
 * exit: a child killed before its set_tid_address never clears the word
 * (its mm is gone once it has exited). 0, -E_INTR when a stop was killed,
 * or the futex's -errno (the children killed and exited).
 */
static s32 exec_gate_wait(struct xreq *r, struct xreq *out, s32 pidfd)
{
	struct ktimespec t;
	s32 inner, copy, stopped = 0;
	s64 rc;
	for (;;) {
		if (*(volatile s32 *)&r->gate == 0) return stopped ? -E_INTR : 0;
		t.sec = 0;
		t.nsec = GATE_CHECK_NS;
		/* Not FUTEX_PRIVATE: mm_release wakes with a shared-key FUTEX_WAKE. */
		rc = sys4(SYS_futex, (s64)&r->gate, FUTEX_WAIT, 1, (s64)&t);
		if (rc == 0 || rc == -E_AGAIN || rc == -E_INTR) continue; /* look again */
		inner = (r->opts & XOPT_FORK) ? *(volatile s32 *)&out->pid : 0;
		copy = (r->opts & XOPT_OWN_MM) ? *(volatile s32 *)&out->copy : 0;
		if (rc != -E_TIMEDOUT) {
			/* Cannot wait on the word: end the children, then wait for
			 * them (an exit is reported after the mm is gone). */
			sys4(SYS_pidfd_send_signal, pidfd, SIGKILL, 0, 0);
			if (copy > 0) sys2(SYS_kill, copy, SIGKILL);
			if (inner > 0) sys2(SYS_kill, inner, SIGKILL);
			exec_reap_nowait(P_PIDFD, pidfd);
			if (copy > 0) exec_reap_nowait(P_PID, copy);
			if (inner > 0) exec_reap_nowait(P_PID, inner);
			return (s32)rc;
		}
		if (exec_exited(pidfd)) return stopped ? -E_INTR : 0;
		if (exec_stopped(P_PIDFD, pidfd)) {
			sys4(SYS_pidfd_send_signal, pidfd, SIGKILL, 0, 0);
			stopped = 1;
		}
		stopped |= exec_kill_stopped(copy);
		if (inner != copy) stopped |= exec_kill_stopped(inner);
	}
}

/* Wait for this child of ours to exit and reap it. */
static void exec_reap_pid(s32 pid, u8 *info)
{
	wait_retry(P_PID, pid, info, WEXITED | WALL);
}

/* bun_userns_exec without the shared page: clone, gate, reap what failed. */
static s64 exec_start(struct xreq *r, char *top)
{
	struct xreq *out = (r->opts & XOPT_OWN_MM) ? (struct xreq *)r->report : r;
	u64 all = ~0UL, old = 0;
	u8 info[128];
	s32 pidfd = -1;
	s64 pid, rc;

	/* Entering a user namespace (or taking ids there) is a credential change
	 * in a child that shares Bun's mm (or its copy), and commit_creds then
	 * resets the mm's dumpable flag to fs.suid_dumpable. At 1 ("debug")
	 * that unseals it to whoever holds CAP_SYS_PTRACE in the namespace:
	 * refuse rather than race it. */
	if (exec_changes_creds(r)) {
		rc = suid_dumpable();
		if (rc != 0 && rc != 2) return fail(r, X_DUMPABLE, -E_PERM);
	}

	/* The gate: 1 until the child lets go of Bun's mm (exec_child_main). */
	*(volatile s32 *)&r->gate = 1;

	/* In Bun's mm the child will enter the namespaces: seal it, for good
	 * (see the top of this file). */
	if (!(r->opts & XOPT_OWN_MM)) {
		rc = sys2(SYS_prctl, PR_SET_DUMPABLE, 0);
		if (rc < 0) return fail(r, X_DUMPABLE, rc);
	}
	rc = sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&all, (s64)&old, 8);
	if (rc < 0) return fail(r, X_SIGMASK, rc);
	pid = bun_userns_clone_trampoline(CLONE_VM | CLONE_PIDFD, top, &pidfd, r, (void *)exec_child_main);
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&old, 0, 8);
	if (pid < 0) return fail(r, X_CLONE, pid);
	rc = exec_gate_wait(r, out, pidfd);
	/* Re-seal, should fs.suid_dumpable have changed under the child. */
	if (!(r->opts & XOPT_OWN_MM)) sys2(SYS_prctl, PR_SET_DUMPABLE, 0);
	if (rc == -E_INTR) fail(r, X_STOPPED, -E_INTR);
	else if (rc < 0) fail(r, X_GATE, rc);

	if (r->opts & (XOPT_FORK | XOPT_OWN_MM)) {
		/* The command is not the entering child, which has exited (or is
		 * exiting): reap it. */
		wait_retry(P_PIDFD, pidfd, info, WEXITED | WALL);
		/* Killed during its vfork wait, the entering child let go of Bun's
		 * mm while its CLONE_VM child may still run in it before its exec:
		 * that child must not outlive this call, which then reuses that
		 * memory. */
		if (SI_CODE(info) != CLD_EXITED && r->step == X_NONE) fail(r, X_KILLED, -E_INTR);
		sys1(SYS_close, pidfd);
		pidfd = -1;
		if (r->opts & XOPT_OWN_MM) {
			/* The copy's (or its command's) failure, and which pid the
			 * command is: the copy itself, or the one it forked. A copy
			 * that forked is ended and reaped here (it exits once its
			 * command has exec'd). */
			if (r->step == X_NONE) fail(r, out->step, -(s64)out->err);
			r->pid = (r->opts & XOPT_FORK) ? out->pid : out->copy;
			if ((r->opts & XOPT_FORK) && out->copy > 0) {
				sys2(SYS_kill, out->copy, SIGKILL);
				exec_reap_pid(out->copy, info);
			}
		}
		if (r->pid > 0) {
			/* Our child (CLONE_PARENT), unreaped: the pid cannot be reused. */
			rc = sys2(SYS_pidfd_open, r->pid, 0);
			if (rc < 0) {
				sys2(SYS_kill, r->pid, SIGKILL);
				exec_reap_pid(r->pid, info);
				return fail(r, X_PIDFD_OPEN, rc);
			}
			pidfd = (s32)rc;
		}
	} else {
		r->pid = (s32)pid;
	}
	if (r->step != X_NONE && r->step != X_EXEC) {
		if (pidfd >= 0) {
			/* It may have exec'd (a stop can land after the exec): end it
			 * rather than wait for all of its life. */
			sys4(SYS_pidfd_send_signal, pidfd, SIGKILL, 0, 0);
			reap(pidfd);
			sys1(SYS_close, pidfd);
		}
		return -r->err;
	}
	if (pidfd < 0) return fail(r, X_FORK, -E_SRCH);
	r->cmd_pidfd = pidfd;
	return r->pid;
}

/*
 * Start the command. Returns its pid (pidfd in r->cmd_pidfd) once it has
 * exec'd or failed: r->step == X_EXEC says the exec failed (the command
 * then exits 127/126; the caller still owns and reaps it). Any other
 * failure: nothing is left, -errno with r->step set.
 */
s32 bun_userns_exec(struct xreq *r)
{
	s64 rc;
	char *top, *base;

	head_clear(r);
	r->pid = 0;
	r->copy = 0;
	r->cmd_pidfd = -1;
	if (r->stack_len < 16384 || r->nfds < 0 || r->nfds > XFD_MAX || !r->argv || !r->envp)
		return (s32)fail(r, X_NONE, -E_INVAL);
	/* timens_install: EUSERS unless alone in the mm (see the top of this file).
	 * A time namespace made here and a forked command: that fork cannot share
	 * the mm (exec_enter_main), so it forks the copy, never Bun's memory. */
	if (exec_enters(r, CLONE_NEWTIME) || ((r->unshare & CLONE_NEWTIME) && (r->opts & XOPT_FORK)))
		r->opts |= XOPT_OWN_MM;
	r->ppid = (s32)sys0(SYS_getpid);
	base = (char *)(r + 1);
	/* The stack: the entering child from the top, its copy from the middle
	 * (own mm), the command of a pid namespace below whichever forks it.
	 * Each top is an ADDRESS rounded down to 16: the x86_64 psABI (3.2.2)
	 * and AAPCS64 (SP mod 16 = 0) let compiled code assume a 16-aligned
	 * stack at every call, and base need not be (sizeof(struct xreq) is 8-aligned), so
	 * a rounded offset from it is not either. gcc -O2 stores 16-byte locals
	 * with movaps, which faults (SIGSEGV) on a stack 8 off; arm64 faults on
	 * any access through a misaligned sp (SCTLR_EL1.SA0). */
	top = (char *)((u64)(base + r->stack_len) & ~15UL);
	r->fork_stack = (u64)(base + (r->opts & XOPT_OWN_MM ? r->stack_len / 4 : r->stack_len / 2)) & ~15UL;
	/* Own mm: the shared page is mapped here, on the thread no other uid
	 * can signal, so a killed entering child cannot leave it mapped in Bun. */
	r->report = 0;
	if (r->opts & XOPT_OWN_MM) {
		rc = sys6(SYS_mmap, 0, PAGE, PROT_RW, MAP_SHARED_ANON, -1, 0);
		if (rc < 0 && rc > -PAGE) return (s32)fail(r, X_FORK, rc);
		r->report = (u64)rc;
	}
	rc = exec_start(r, top);
	if (r->report) sys2(SYS_munmap, (s64)r->report, PAGE);
	r->report = 0;
	return (s32)rc;
}

/* A child of ours by pidfd or pid, without blocking: -EAGAIN while it runs,
 * else its exit code, or POLL_SIGNALED+N for signal N, reaped. */
static s32 exec_poll_id(s32 idtype, s32 id)
{
	u8 info[128];
	s64 rc = wait_retry(idtype, id, info, WEXITED | WNOHANG | WALL);
	if (rc < 0) return (s32)rc;
	if (SI_CODE(info) == CLD_EXITED) return SI_STATUS(info) & 255;
	/* Apart from an exit code (0-255), so the caller can die of the same signal. */
	if (SI_CODE(info) == CLD_KILLED || SI_CODE(info) == CLD_DUMPED) return POLL_SIGNALED + SI_STATUS(info);
	return -E_AGAIN; /* no child changed state (si_pid 0) */
}

/* Without blocking: -EAGAIN while it runs, else its exit code, or
 * POLL_SIGNALED+N for signal N, reaped. */
s32 bun_userns_exec_poll(s32 pidfd)
{
	return exec_poll_id(P_PIDFD, pidfd);
}

/* pipe2(O_CLOEXEC) into out[0] (read end), out[1] (write end). */
s32 bun_userns_pipe(s32 *out)
{
	return (s32)sys2(SYS_pipe2, (s64)out, O_CLOEXEC);
}
