/*
 * sandbox(): a command in new namespaces with a filesystem view of its own,
 * hardened, with no setuid binary and no helper program.
 *
 * The user namespace (and its maps, rootless ranges through newuidmap
 * included) is made by a parked helper (helper.c); this file only enters
 * it. Four processes, each for a reason (and two short-lived ones: I
 * below, for pidns with "pid", and W, the parked maker of the user
 * namespace below the sandbox's, for disableNestedUserns):
 *
 *  E  the entering child, CLONE_VM of Bun's thread on the block's stack: it
 *     sets up stdio and forks the monitor, then waits for the start to be
 *     over. It enters nothing and changes no credential, so nothing of the
 *     sandbox can reach Bun's memory through it. Bun's thread sleeps until
 *     E exits (the gate word the kernel clears at its exit).
 *  C  the monitor: its own image (monitor-image.c), exec'd before it does
 *     anything: our code and the request block, mapped where they are in
 *     Bun, nothing else of Bun's memory; a real fork of Bun where no image
 *     can be built or run (its own copy of Bun's memory). Either way its mm
 *     belongs to the caller's user namespace (exec and fork happen before
 *     setns) and is sealed non-dumpable before anything else: only
 *     CAP_SYS_PTRACE over Bun's user namespace can read it. It resolves
 *     every bind source on the host with the caller's credentials, enters
 *     the user namespace, makes the
 *     pid namespace, and stays outside the sandbox's mount namespace: when
 *     the sandbox ends it removes what the view had to create on the host,
 *     then exits with the command's status. Bun's handle is its pid; it
 *     forwards signals. It is a child of Bun's thread (CLONE_PARENT), and
 *     that thread's exit reaches it as SIG_KILL_SANDBOX (PDEATHSIG), which
 *     it handles like a kill: the sandbox dies, the host is cleaned.
 *  X  the sandbox's first process (pid 1 with a pid namespace), CLONE_VM of
 *     the monitor (its image or copy, never Bun's memory) and CLONE_FILES
 *     (what it records for the cleanup is the monitor's): it makes the other
 *     namespaces and the view. Then either it is the command (asPid1, or
 *     no pid namespace), or it starts the command Q and stays as a small
 *     init: it reaps, forwards signals to Q, and exits with Q's status.
 *  Q  the command, when there is an init: vfork'd by X, it takes the ids,
 *     drops capabilities, sets no_new_privs and seccomp, and execs.
 *
 * Failures are reported into a MAP_SHARED page (a memfd's, which the exec'd
 * monitor maps again) every one of them can write (step, errno, op index);
 * the monitor then kills what it started, cleans
 * the host and exits, and Bun's thread reaps it before throwing.
 */
#include "sandbox-abi.h"
#include "sandbox-view.c"
#include "monitor-image.c"

#define SIGCHLD_ 17
#define SIG_KILL_SANDBOX 64 /* SIGRTMAX: "kill the sandbox, then clean up"; never forwarded */
#define PR_SET_KEEPCAPS 8
#define PR_CAPBSET_DROP 24
#define PR_SET_NO_NEW_PRIVS 38
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#define SECCOMP_SET_MODE_FILTER 1
#define CLONE_NEWIPC_ 0x08000000
#define CLONE_NEWUTS_ 0x04000000
#define CLONE_NEWNET_ 0x40000000
#define CLONE_NEWCGROUP_ 0x02000000
#define SIOCGIFFLAGS 0x8913
#define SIOCSIFFLAGS 0x8914
#define IFF_UP 1
#define AF_INET_ 2
#define SOCK_DGRAM_ 2
#define P_ALL 0
#define SB_CHECK_NS 10000000 /* how often a wait looks for a stop: 10 ms */
#define F_OFD_SETLK 37
#define F_RDLCK_ 0
#define CLONE_NEWUSER_ 0x10000000
#define CLONE_NEWPID_ 0x20000000
#define E_PERM_ 1
#define MAP_PRIVATE_ANON 0x22 /* MAP_PRIVATE | MAP_ANONYMOUS */

/* struct flock (the same on x86_64 and arm64). */
struct flock_ { short type, whence; s32 pad; s64 start, len; s32 pid, pad2; };

struct sock_fprog_ { unsigned short len, pad[3]; u64 filter; };
struct ifreq_ { char name[16]; short flags; char pad[22]; };

/* Every stack in the block: E at the top, then C, X and Q below it, and I
 * (the lower half of Q's quarter). Each top is an address rounded down to
 * 16, not an offset: the x86_64 psABI (3.2.2) and AAPCS64 let compiled code
 * assume a 16-aligned stack at every call (gcc -O2's movaps of a 16-byte
 * local faults on one 8 off; arm64 faults on any access through a
 * misaligned sp), whatever the block's own alignment. */
static char *sb_stack_at(struct sreq *r, s64 offset)
{
	return (char *)((u64)((char *)r + SB_HEADER + offset) & ~15UL);
}
static char *sb_stack(struct sreq *r, int quarter)
{
	return sb_stack_at(r, (s64)r->stack_len * quarter / 4);
}

/* A shell's status from waitid's siginfo: the code, or 128 + the signal. */
static s32 sb_status(u8 *info)
{
	if (SI_CODE(info) == CLD_EXITED) return SI_STATUS(info) & 255;
	return 128 + (SI_STATUS(info) & 127);
}

static void sb_default_signals(u64 not_default)
{
	struct ksigaction dfl;
	int sig;
	mem_zero(&dfl, sizeof dfl);
	for (sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && ((not_default >> (sig - 1) & 1) || sig == SIGCHLD_))
			sys4(SYS_rt_sigaction, sig, (s64)&dfl, 0, 8);
}

/* ---- Q: the command ---- */

/* execve(file) or each PATH entry, as a shell does (exec.c). The file is
 * argv[0] unless argv0 gave the command another name for itself. */
static void sb_exec(struct sreq *r)
{
	char **argv = (char **)((char *)r + r->ptrs);
	const char *file = r->file ? sb_str(r, r->file) : argv[0];
	sb_fail(r, S_EXEC, exec_search(file, argv, argv + r->argc + 1, sb_str(r, r->path)), -1);
}

/* The start is over for Bun: the monitor stops waiting and lets Bun's
 * thread go. Failures after this are the sandbox's exit status. */
static void sb_ready(struct sreq *r)
{
	struct sout *o = sb_out(r);
	*(volatile s32 *)&o->ready = 1;
	sys3(SYS_futex, (s64)&o->ready, FUTEX_WAKE, 1);
}

/* One byte, or EOF, or an error: whatever ends the wait; made again when
 * a signal handler interrupted it (the one read loop of this file). */
static void sb_block(s32 fd)
{
	char byte;
	while (sys3(SYS_read, fd, (s64)&byte, 1) == -E_INTR) {}
}

/*
 * The command's own hardening, in the order the kernel's rules force:
 * capabilities leave the bounding set while we still hold CAP_SETPCAP; the
 * ids change (KEEPCAPS only when a non-root command keeps some); capset and
 * the ambient set give exactly the kept ones (a root command gets at exec
 * what the bounding set allows, so that drop is what limits it);
 * no_new_privs before seccomp (which needs it without CAP_SYS_ADMIN); the
 * filter last, so none of our own calls before exec is filtered.
 */
/* The lowest fd from LO on that is passed to the command or among the N
 * in MORE (-1 entries ignored), or -1: close_range runs between them. */
static s32 sb_next_kept(struct sreq *r, s32 lo, const s32 *more, s32 n)
{
	const s32 *pass = sb_pass(r);
	s32 i, next = -1;
	for (i = 0; i < r->npass; i++)
		if (pass[i] >= lo) {
			next = pass[i];
			break;
		}
	for (i = 0; i < n; i++)
		if (more[i] >= lo && (next < 0 || more[i] < next)) next = more[i];
	return next;
}

/* Is FD one the command keeps? */
static int sb_passed(struct sreq *r, s32 fd)
{
	s32 i;
	for (i = 0; i < r->npass; i++)
		if (sb_pass(r)[i] == fd) return 1;
	return 0;
}

/* The command's fds (0-2 and the passed ones) closed in this table, once
 * the command holds its own copy: a pipe end the command closes is then
 * closed for good, as with bwrap. */
static void sb_drop_command_fds(struct sreq *r)
{
	s32 i;
	for (i = 0; i < 3; i++) sys1(SYS_close, i);
	for (i = 0; i < r->npass; i++) sys1(SYS_close, sb_pass(r)[i]);
}

static void sb_command(struct sreq *r)
{
	struct cap_header h;
	struct cap_data d[2];
	struct sock_fprog_ prog;
	const char *cwd = r->cwd ? sb_str(r, r->cwd) : "/";
	u64 none = 0;
	u8 *filt;
	s64 rc;
	s32 keep[2], lo, next;
	int c;

	/* Checked from here, as the command would try: a new user namespace
	 * must be refused (by user.max_user_namespaces, or the namespace it
	 * was given). Had it been made, this process is in it: fail anyway. */
	if (r->opts & SO_ASSERT_NO_USERNS) {
		rc = sys1(SYS_unshare, CLONE_NEWUSER_);
		if (rc >= 0) sb_fail(r, S_USERNS_ENABLED, -E_PERM_, -1);
	}
	if (r->opts & SO_NEW_SESSION) {
		rc = sys0(SB_setsid);
		if (rc < 0) sb_fail(r, S_SETSID, rc, -1);
	}
	sb_default_signals(r->not_default);
	for (c = 0; c < 64; c++) {
		if (r->caps >> c & 1) continue;
		rc = sys2(SYS_prctl, PR_CAPBSET_DROP, c);
		if (rc == -E_INVAL) break; /* past the kernel's last capability */
		if (rc < 0) sb_fail(r, S_CAPS, rc, -1);
	}
	if (r->caps && r->uid != 0) {
		rc = sys2(SYS_prctl, PR_SET_KEEPCAPS, 1);
		if (rc < 0) sb_fail(r, S_CAPS, rc, -1);
	}
	/* Groups first, while CAP_SETGID is ours; "deny"d setgroups is EPERM: kept as they are. */
	rc = sys2(SYS_setgroups, 0, 0);
	if (rc < 0 && rc != -E_PERM) sb_fail(r, S_SETID, rc, -1);
	rc = sys3(SYS_setresgid, r->gid, r->gid, r->gid);
	if (rc >= 0) rc = sys3(SYS_setresuid, r->uid, r->uid, r->uid);
	if (rc < 0) sb_fail(r, S_SETID, rc, -1);
	h.version = CAP_V3;
	h.pid = 0;
	d[0].effective = d[0].permitted = d[0].inheritable = (u32)r->caps;
	d[1].effective = d[1].permitted = d[1].inheritable = (u32)(r->caps >> 32);
	/* SO_CALLER_CAPS (uid 0 only, checked in TS): the sets a process of the
	 * caller's gets in a new user namespace, which leaves the inheritable
	 * and ambient sets empty; only the bounding set above limits it. */
	if (r->opts & SO_CALLER_CAPS) d[0].inheritable = d[1].inheritable = 0;
	rc = sys2(SYS_capset, (s64)&h, (s64)d);
	if (rc >= 0) rc = sys5(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	/* The kept ones are ambient too, for uid 0 as well (bwrap's rule: a
	 * command that changes to another uid keeps them across its exec). */
	for (c = 0; c < 64 && rc >= 0 && !(r->opts & SO_CALLER_CAPS); c++)
		if (r->caps >> c & 1) rc = sys5(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
	if (rc < 0) sb_fail(r, S_CAPS, rc, -1);
	rc = sys5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (rc < 0) sb_fail(r, S_NNP, rc, -1);
	/* blockFd: the start is reported first (Bun's call returns, so Bun
	 * itself may be the one to write), then the command waits. */
	if (r->block_fd >= 0) {
		sb_ready(r);
		sb_block(r->block_fd);
	}
	/* Nothing of ours past 0-2 but the caller's passed fds and what bwrap
	 * leaves its command: usernsBlockFd (bwrap closes it only outside),
	 * and syncFd with asPid1 (with no init to hold it, the command does).
	 * UNSHARE first: the table may still be the monitor's. The kept ones
	 * lose close-on-exec (Bun sets it on the fds it inherits), in our own
	 * table only. */
	keep[0] = r->userns_block_fd >= 3 ? r->userns_block_fd : -1;
	keep[1] = (r->opts & SO_AS_PID1) && r->sync_fd >= 3 ? r->sync_fd : -1;
	rc = sys1(SYS_unshare, CLONE_FILES);
	for (lo = 3; rc >= 0;) {
		next = sb_next_kept(r, lo, keep, 2);
		if (next < 0) {
			rc = sys3(SYS_close_range, lo, ~0U, 0);
			break;
		}
		if (next > lo) rc = sys3(SYS_close_range, lo, next - 1, 0);
		if (rc >= 0) rc = sys3(SYS_fcntl, next, F_SETFD_, 0);
		lo = next + 1;
	}
	if (rc < 0) sb_fail(r, S_CLOSE_RANGE, rc, -1);
	rc = sys1(SYS_chdir, (s64)cwd);
	if (rc < 0) sb_fail(r, S_CHDIR, rc, -1);
	sys1(SB_umask, r->umask);
	/* Each program in order, stacked: the kernel runs them all and the
	 * strictest answer wins. A program: u32 instructions, u32 pad, then
	 * the instructions. */
	for (c = 0, filt = (u8 *)r + r->seccomp; c < r->nseccomp; c++) {
		mem_zero(&prog, sizeof prog);
		prog.len = (unsigned short)*(u32 *)filt;
		prog.filter = (u64)(filt + 8);
		rc = sys3(SB_seccomp, SECCOMP_SET_MODE_FILTER, 0, (s64)&prog);
		if (rc < 0) sb_fail(r, S_SECCOMP, rc, -1);
		filt += 8 + 8 * (u64)prog.len;
	}
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&none, 0, 8);
	sb_exec(r);
}

static void sb_command_main(struct sreq *r)
{
	/* Our parent is the init (pid 1 here): it cannot go before us unseen. */
	if (sys2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) < 0 || sys0(SYS_getppid) != 1) sb_fail(r, S_PARENT_GONE, -E_SRCH, -1);
	/* Our fd table is a copy: its end of the entering child's pipe would
	 * hold the start open while we wait on a blockFd. */
	sys1(SYS_close, r->epipe[1]);
	sb_command(r);
}

/* ---- X: the sandbox's first process ---- */

/* The init: reap everything, forward every signal to the command, and end
 * with the command's status (the kernel then ends whatever is left). */
static void sb_init(s32 cmd)
{
	u8 info[128];
	u64 all = ~0UL;
	s64 sig, rc;
	for (;;) {
		mem_zero(info, sizeof info);
		sig = sys4(SB_rt_sigtimedwait, (s64)&all, (s64)info, 0, 8);
		if (sig != SIGCHLD_) {
			if (sig > 0) sys2(SYS_kill, cmd, sig);
			continue;
		}
		for (;;) {
			mem_zero(info, sizeof info);
			rc = sys5(SYS_waitid, P_ALL, 0, (s64)info, WEXITED | WNOHANG | WALL, 0);
			if (rc < 0 || SI_PID(info) == 0) break;
			if (SI_PID(info) == cmd) sys1(SYS_exit_group, sb_status(info));
		}
	}
}

static void sb_loopback(struct sreq *r)
{
	struct ifreq_ ifr;
	s64 fd, rc;
	mem_zero(&ifr, sizeof ifr);
	ifr.name[0] = 'l';
	ifr.name[1] = 'o';
	fd = sys3(SB_socket, AF_INET_, SOCK_DGRAM_ | O_CLOEXEC, 0);
	if (fd < 0) sb_fail(r, S_LOOPBACK, fd, -1);
	rc = sys3(SYS_ioctl, fd, SIOCGIFFLAGS, (s64)&ifr);
	ifr.flags |= IFF_UP;
	if (rc >= 0) rc = sys3(SYS_ioctl, fd, SIOCSIFFLAGS, (s64)&ifr);
	sys1(SYS_close, fd);
	if (rc < 0) sb_fail(r, S_LOOPBACK, rc, -1);
}

/* Our namespaces' inodes, for the caller (bwrap's --info-fd): read here,
 * where they are sure to exist (the command may be gone before the caller
 * looks). Through the host's /proc, still visible before the pivot. */
static void sb_record_ns(struct sout *o)
{
	static const char *const kinds[] = { "/proc/self/ns/cgroup", "/proc/self/ns/ipc", "/proc/self/ns/mnt",
					     "/proc/self/ns/net", "/proc/self/ns/pid", "/proc/self/ns/uts",
					     "/proc/self/ns/user" };
	struct kstatx st;
	s64 fd;
	s32 i;
	for (i = 0; i < 7; i++) {
		fd = sys4(SYS_openat, AT_FDCWD, (s64)kinds[i], O_PATH | O_CLOEXEC, 0);
		if (fd < 0) continue;
		if (statx_at((s32)fd, "", &st) == 0) {
			if (i < 6) o->ns[i] = st.ino;
			else o->ns_user = st.ino;
		}
		sys1(SYS_close, fd);
	}
}

/* lockFiles: a read lock on each path (inside the view), held for the
 * sandbox's life. An open-file-description lock: the fd lands in the
 * monitor's table (we share it), so the monitor holds it until the end,
 * whichever process of the sandbox is still running. */
static void sb_locks(struct sreq *r)
{
	struct flock_ l;
	u32 *offs = (u32 *)((char *)r + r->locks);
	s64 fd, rc;
	s32 i;
	for (i = 0; i < r->nlocks; i++) {
		fd = sys4(SYS_openat, AT_FDCWD, (s64)sb_str(r, offs[i]), O_RDONLY | O_CLOEXEC, 0);
		if (fd < 0) sb_fail(r, S_LOCK, fd, -1);
		mem_zero(&l, sizeof l);
		l.type = F_RDLCK_;
		rc = sys3(SYS_fcntl, fd, F_OFD_SETLK, (s64)&l);
		if (rc < 0) sb_fail(r, S_LOCK, rc, -1);
	}
}

/* V in decimal, then END, at out + k: the new length. */
static s64 sb_put_u64(char *out, s64 k, u64 v, char end)
{
	char digits[24];
	int n = 0;
	do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
	while (n) out[k++] = digits[--n];
	out[k++] = end;
	return k;
}

/* TEXT (NUL-terminated) into DIR's NAME in one write, as /proc's map and sysctl files take it. */
static s64 sb_write_map(s32 dir, const char *name, const char *text)
{
	s64 fd, n, len = 0;
	while (text[len]) len++;
	fd = sys4(SYS_openat, dir, (s64)name, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0) return fd;
	n = sys3(SYS_write, fd, (s64)text, len);
	sys1(SYS_close, fd);
	return n < 0 ? n : n != len ? -E_INVAL : 0;
}

/* The pid a pidfd refers to, in the pid namespace of the /proc at DIR: the
 * "Pid:" line of its fdinfo file PATH there. */
static s64 sb_pidfd_pid_at(s32 dir, const char *path)
{
	char text[512];
	s64 fd, n, i, v = 0;
	fd = sys4(SYS_openat, dir, (s64)path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) return fd;
	n = sys3(SYS_read, fd, (s64)text, sizeof text - 1);
	sys1(SYS_close, fd);
	if (n < 0) return n;
	text[n] = 0;
	for (i = 0; i + 5 < n; i++) {
		if (!(i == 0 || text[i - 1] == '\n') || text[i] != 'P' || text[i + 1] != 'i' || text[i + 2] != 'd' ||
		    text[i + 3] != ':')
			continue;
		for (i += 4; text[i] == ' ' || text[i] == '\t'; i++) {}
		if (text[i] < '0' || text[i] > '9') return -E_SRCH; /* -1: it has exited */
		while (text[i] >= '0' && text[i] <= '9') v = v * 10 + (text[i++] - '0');
		return v;
	}
	return -E_SRCH;
}

/*
 * disableNestedUserns, as a limit nobody inside can lift. The limit
 * (user.max_user_namespaces) belongs to the user namespace it is written
 * in, and whoever holds CAP_SYS_RESOURCE there may write it again; so it is
 * written in the sandbox's user namespace as 1 (room for exactly one, the
 * next), and everything from here on runs in a user namespace below it,
 * where nobody holds a capability over the one that owns the limit. Every
 * user namespace made further down is counted against the limit of each
 * ancestor, so the one already made there refuses them all.
 *
 * The new namespace's maps must be written from the one above (only there
 * do we hold CAP_SETUID and CAP_SETGID over it, as ranges need), into the
 * /proc files of a process inside it. Ours are root's (a sealed mm: park.c
 * says why), which an unprivileged caller's namespace cannot write; so the
 * namespace is made by W, which leaves our memory at once for the park
 * program (an mm of its own, its /proc files its owner's): we write W's
 * maps (the same ids mapped through, each range of ours to itself), enter
 * its namespace, and end it.
 */
struct nest {
	s32 image;     /* the park program's sealed memfd */
	s32 pad;
};

/* Each "inside outside count" line of a map, read from our namespace, as
 * "inside inside count": the same ids, mapped through one level down. */
static s64 sb_map_through(s32 proc, const char *name, char *in, char *out)
{
	s64 fd, n, k = 0, i = 0;
	u64 v[3];
	s32 f;
	fd = sys4(SYS_openat, proc, (s64)name, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) return fd;
	n = sys3(SYS_read, fd, (s64)in, PAGE - 1);
	sys1(SYS_close, fd);
	if (n < 0) return n;
	in[n] = 0;
	while (i < n) {
		for (f = 0; f < 3; f++) {
			while (in[i] == ' ' || in[i] == '\t') i++;
			v[f] = 0;
			if (in[i] < '0' || in[i] > '9') return -E_INVAL;
			while (in[i] >= '0' && in[i] <= '9') v[f] = v[f] * 10 + (u64)(in[i++] - '0');
		}
		while (i < n && in[i] != '\n') i++;
		i++;
		if (k > PAGE - 40) return -E_INVAL;
		k = sb_put_u64(out, k, v[0], ' ');
		k = sb_put_u64(out, k, v[0], ' ');
		k = sb_put_u64(out, k, v[2], '\n');
	}
	out[k] = 0;
	return k;
}

/* W: into a new user namespace, then out of our memory (vfork: we wait for the exec). */
static void sb_nest_maker(struct nest *w)
{
	u64 all = ~0UL;
	char *argv[2];
	char *envp[1];
	s64 rc;
	/* Every signal blocked (the mask survives execve): the park program's
	 * only stop is its own SIGSTOP. */
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&all, 0, 8);
	if (sys2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) < 0) sys1(SYS_exit_group, 1);
	rc = sys1(SYS_unshare, CLONE_NEWUSER_);
	if (rc < 0) sys1(SYS_exit_group, 2);
	argv[0] = (char *)"bun-userns-nest";
	argv[1] = 0;
	envp[0] = 0;
	sys5(SYS_execveat, w->image, (s64)"", (s64)argv, (s64)envp, AT_EMPTY_PATH);
	sys1(SYS_exit_group, 3);
}

/* PROC: O_PATH fd of the host's /proc. */
static void sb_nest_userns(struct sreq *r, s32 proc)
{
	struct nest w;
	u8 info[128];
	char path[64], *text;
	s64 rc, pid, host, fd;
	s32 pidfd = -1;
	mem_zero(&w, sizeof w);
	rc = sys6(SYS_mmap, 0, 4 * PAGE, PROT_RW, MAP_PRIVATE_ANON, -1, 0);
	if (rc < 0 && rc > -PAGE) sb_fail(r, S_NESTED_MAPS, rc, -1);
	text = (char *)rc;
	rc = sb_map_through(proc, "self/uid_map", text, text + PAGE);
	if (rc >= 0) rc = sb_map_through(proc, "self/gid_map", text + 2 * PAGE, text + 3 * PAGE);
	if (rc < 0) sb_fail(r, S_NESTED_MAPS, rc, -1);
	/* Room for exactly the one below us. */
	rc = sb_write_map(proc, "sys/user/max_user_namespaces", "1\n");
	if (rc < 0) sb_fail(r, S_USERNS_LIMIT, rc, -1);
	w.image = (s32)park_image();
	if (w.image < 0) sb_fail(r, S_NESTED_USERNS, w.image, -1);
	pid = bun_userns_clone_trampoline(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD_, sb_stack(r, 1), &pidfd, &w,
					  (void *)sb_nest_maker);
	sys1(SYS_close, w.image);
	if (pid < 0) sb_fail(r, S_FORK, pid, -1);
	/* Parked (its own SIGSTOP), or failed before. */
	wait_retry(P_PID, pid, info, WEXITED | WSTOPPED | WALL);
	if (SI_CODE(info) != CLD_STOPPED) sb_fail(r, S_NESTED_USERNS, -E_PERM_, -1);
	/* Its /proc is the host's, where its pid is not the one we know: the pidfd says which. */
	put_decimal(path, "self/fdinfo/", pidfd);
	host = sb_pidfd_pid_at(proc, path);
	rc = host;
	if (host > 0) {
		put_decimal(path, "", (s32)host);
		fd = sys4(SYS_openat, proc, (s64)path, O_PATH | O_DIRECTORY_ | O_CLOEXEC, 0);
		rc = fd;
		if (fd >= 0) {
			rc = sb_write_map((s32)fd, "uid_map", text + PAGE);
			if (rc >= 0) rc = sb_write_map((s32)fd, "gid_map", text + 3 * PAGE);
			if (rc >= 0) {
				s64 ns = sys4(SYS_openat, fd, (s64)"ns/user", O_RDONLY | O_CLOEXEC, 0);
				rc = ns < 0 ? ns : sys2(SYS_setns, ns, CLONE_NEWUSER_);
				if (ns >= 0) sys1(SYS_close, ns);
			}
			sys1(SYS_close, fd);
		}
	}
	sys4(SYS_pidfd_send_signal, pidfd, SIGKILL, 0, 0);
	wait_retry(P_PID, pid, info, WEXITED | WALL);
	sys1(SYS_close, pidfd);
	sys2(SYS_munmap, (s64)text, 4 * PAGE);
	if (rc < 0) sb_fail(r, S_NESTED_MAPS, rc, -1);
	/* New credentials: sealed again, as after setns. */
	sys2(SYS_prctl, PR_SET_DUMPABLE, 0);
}

static void sb_first_main(struct sreq *r)
{
	struct sout *o = sb_out(r);
	const char *host = sb_str(r, r->hostname);
	u64 ns = CLONE_NEWNS;
	s64 rc, q;
	s32 n, proc = -1;

	/* The gate: the kernel clears it at our exec (the command's) or exit,
	 * which the monitor waits for when there is no init to say "ready". */
	sys1(SYS_set_tid_address, (s64)&o->xgate);
	/* Our parent is the monitor: seen as 0 from a new pid namespace. */
	rc = sys0(SYS_getppid);
	if (sys2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) < 0 ||
	    rc != ((r->opts & SO_NEW_PID) || r->pidns >= 0 ? 0 : r->monitor))
		sb_fail(r, S_PARENT_GONE, -E_SRCH, -1);
	/* Modes asked for are the modes made. */
	sys1(SB_umask, 0);
	/* The other namespaces are ours to make: we hold every capability in the
	 * user namespace the monitor entered. */
	if (r->opts & SO_NET) ns |= CLONE_NEWNET_;
	if (r->opts & SO_IPC) ns |= CLONE_NEWIPC_;
	if (r->opts & SO_UTS) ns |= CLONE_NEWUTS_;
	if (r->opts & SO_CGROUP) ns |= CLONE_NEWCGROUP_;
	rc = sys1(SYS_unshare, (s64)ns);
	if (rc < 0) sb_fail(r, S_UNSHARE, rc, -1);
	sb_record_ns(o);
	/* usernsBlockFd: the namespaces exist (their ids are reported), the
	 * start is over for Bun; the view waits for the fd. */
	if (r->userns_block_fd >= 0) {
		/* Maps the caller writes: /proc/<us>/uid_map must be the caller's
		 * to open, and a non-dumpable process's /proc files are root's.
		 * Dumpable for this wait alone (the flag is our mm's, the
		 * monitor's too): nothing else is in these namespaces yet, and
		 * who may then trace us, the caller's own uid, may trace Bun
		 * itself. Sealed again before anything of the view runs. */
		if (r->opts & SO_CALLER_MAPS) sys2(SYS_prctl, PR_SET_DUMPABLE, 1);
		sb_ready(r);
		sb_block(r->userns_block_fd);
		if (r->opts & SO_CALLER_MAPS) {
			rc = sys2(SYS_prctl, PR_SET_DUMPABLE, 0);
			if (rc < 0) sb_fail(r, S_DUMPABLE, rc, -1);
		}
	}
	/* disableNestedUserns works through the host's /proc once the view
	 * is built: held while it is still visible. */
	if (r->opts & SO_NO_USERNS) {
		proc = (s32)sys4(SYS_openat, AT_FDCWD, (s64)"/proc", O_PATH | O_DIRECTORY_ | O_CLOEXEC, 0);
		if (proc < 0) sb_fail(r, S_USERNS_LIMIT, proc, -1);
	}
	build_view(r);
	if (host) {
		for (n = 0; host[n]; n++) {}
		rc = sys2(SB_sethostname, (s64)host, n);
		if (rc < 0) sb_fail(r, S_HOSTNAME, rc, -1);
	}
	if (r->opts & SO_NET) sb_loopback(r);
	sb_locks(r);
	/* userns2: from here on, this user namespace (a descendant of the one
	 * the view was built in, so we may enter it). */
	if (r->userns2 >= 0) {
		rc = sys2(SYS_setns, r->userns2, CLONE_NEWUSER_);
		if (rc < 0) sb_fail(r, S_SETNS, rc, -1);
	}
	if (r->opts & SO_NO_USERNS) {
		sb_nest_userns(r, proc);
		sys1(SYS_close, proc);
	}
	if (!(r->opts & SO_NEW_PID) || (r->opts & SO_AS_PID1)) sb_command(r);

	/* The command, pid 2: it shares our memory until its exec (CLONE_VFORK). */
	q = bun_userns_clone_trampoline(CLONE_VM | CLONE_VFORK | SIGCHLD_, sb_stack(r, 1), 0, r, (void *)sb_command_main);
	if (q < 0) sb_fail(r, S_FORK, q, -1);
	if (o->step != S_NONE) sys1(SYS_exit_group, 126);
	/* The command has its own table (a copy at the clone; the vfork ended
	 * at its exec). Its fds go from the one we share with the monitor,
	 * which keeps its records there: a start reported before the command
	 * ran (blockFd, usernsBlockFd) leaves the monitor past its own closing. */
	sb_drop_command_fds(r);
	/* An init holds nothing: our own fd table, emptied (the monitor's stays). */
	rc = sys1(SYS_unshare, CLONE_FILES);
	if (rc >= 0) rc = sys3(SYS_close_range, 0, ~0U, 0);
	if (rc < 0) sb_fail(r, S_CLOSE_RANGE, rc, -1);
	o->cmd = (s32)q;
	*(volatile s32 *)&o->ready = 1;
	sys3(SYS_futex, (s64)&o->ready, FUTEX_WAKE, 1);
	sb_init((s32)q);
}

/* ---- C: the monitor ---- */

/* Remove what the view made on the host, newest first, each only if it is
 * still the file we made. Once the sandbox STARTED, directories a "dir"
 * entry asked for stay (like the files and symlinks entries write): only
 * what had to be made as mount points goes. A start that failed leaves
 * nothing. */
static void sb_cleanup(struct sreq *r, int started)
{
	struct made *m = (struct made *)((char *)r + r->made);
	struct kstatx st;
	s32 i;
	for (i = r->nmade - 1; i >= 0; i--) {
		if (!(started && m[i].is_dir == 2) && statx_at(m[i].dirfd, m[i].name, &st) >= 0 && st.ino == m[i].ino &&
		    st.dev_major == m[i].dev_major && st.dev_minor == m[i].dev_minor)
			sys3(SYS_unlinkat, m[i].dirfd, (s64)m[i].name, m[i].is_dir ? AT_REMOVEDIR : 0);
		sys1(SYS_close, m[i].dirfd);
	}
	r->nmade = 0;
}

/* Close every fd but 0-2, those the start still needs and the ones passed
 * to the command. */
static void sb_keep_fds(struct sreq *r)
{
	struct sop *ops = (struct sop *)((char *)r + r->ops);
	s32 fixed[SB_IMAGE_FDS], lo = 3, next, i, fd;
	sb_fixed_fds(r, fixed);
	for (;;) {
		next = sb_next_kept(r, lo, fixed, 0);
		for (i = -SB_IMAGE_FDS; i < r->nops; i++) {
			fd = i < 0 ? fixed[i + SB_IMAGE_FDS] : (ops[i].type == SOP_BIND && (ops[i].flags & SF_FD)) ? ops[i].fd : -1;
			if (fd >= lo && (next < 0 || fd < next)) next = fd;
		}
		if (next < 0) {
			sys3(SYS_close_range, lo, ~0U, 0);
			return;
		}
		if (next > lo) sys3(SYS_close_range, lo, next - 1, 0);
		lo = next + 1;
	}
}

/* The sandbox's first process failed or we were told to end it: end it,
 * clean the host, exit. */
static void sb_abandon(struct sreq *r, s32 x, s32 status)
{
	u8 info[128];
	if (x > 0) {
		sys2(SYS_kill, x, SIGKILL);
		wait_retry(P_PID, x, info, WEXITED | WALL);
		if (status < 0) status = sb_status(info);
	}
	sb_cleanup(r, 0);
	sys1(SYS_exit_group, status < 0 ? 1 : status);
}

/* Until WORD (in the report page) is no longer WAS: the init said the
 * command runs (ready), or the first process exec'd or exited (its gate,
 * cleared by the kernel). 0 if it died or sits in a stop first, or Bun's
 * thread is gone: its SIG_KILL_SANDBOX, blocked like every signal here, is
 * looked for each time, or a view held up (a FIFO's open, say) would keep
 * us and the first process for good. */
static int sb_wait_start(struct sreq *r, s32 x, s32 *word, s32 was)
{
	struct sout *o = sb_out(r);
	struct ktimespec t;
	u8 info[128];
	u64 death = 1UL << (SIG_KILL_SANDBOX - 1);
	for (;;) {
		if (*(volatile s32 *)word != was) return 1;
		t.sec = 0;
		t.nsec = SB_CHECK_NS;
		sys4(SYS_futex, (s64)word, FUTEX_WAIT, was, (s64)&t);
		if (*(volatile s32 *)word != was) return 1;
		t.nsec = 0;
		if (sys4(SB_rt_sigtimedwait, (s64)&death, (s64)info, (s64)&t, 8) == SIG_KILL_SANDBOX) {
			if (o->step == S_NONE) fail(o, S_KILLED, -E_INTR);
			return 0;
		}
		mem_zero(info, sizeof info);
		if (sys5(SYS_waitid, P_PID, x, (s64)info, WEXITED | WSTOPPED | WNOHANG | WNOWAIT | WALL, 0) < 0) return 0;
		if (SI_PID(info) == 0) continue;
		/* It may have got there just before it exited. */
		if (*(volatile s32 *)word != was) return 1;
		if (SI_CODE(info) == CLD_STOPPED && o->step == S_NONE) fail(o, S_STOPPED, -E_INTR);
		return 0;
	}
}

/* HELD: the command's fds are still in our table, shared with the first
 * process until it becomes the command: dropped once its exec (which gives
 * it a table of its own) or exit clears its gate, looked at every
 * SB_CHECK_NS meanwhile. */
static void sb_monitor(struct sreq *r, s32 x, s32 held)
{
	struct ktimespec t;
	u8 info[128];
	u64 all = ~0UL;
	s64 sig;
	for (;;) {
		if (held && *(volatile s32 *)&sb_out(r)->xgate == 0) {
			sb_drop_command_fds(r);
			held = 0;
		}
		t.sec = 0;
		t.nsec = SB_CHECK_NS;
		mem_zero(info, sizeof info);
		sig = sys4(SB_rt_sigtimedwait, (s64)&all, (s64)info, held ? (s64)&t : 0, 8);
		if (sig == SIGCHLD_) {
			mem_zero(info, sizeof info);
			if (sys5(SYS_waitid, P_PID, x, (s64)info, WEXITED | WNOHANG | WALL, 0) >= 0 && SI_PID(info) == x) {
				sb_cleanup(r, 1);
				sys1(SYS_exit_group, sb_status(info));
			}
		} else if (sig == SIG_KILL_SANDBOX) {
			sys2(SYS_kill, x, SIGKILL);
		} else if (sig > 0) {
			sys2(SYS_kill, x, sig);
		}
	}
}

/* An overlay's layers, upper and work directories, resolved on the host as
 * the caller (another uid's symlink refused), kept as fds: the view names
 * them by /proc/self/fd, so what is mounted is what was resolved. */
static void sb_overlay_sources(struct sreq *r, struct sop *op, s32 index)
{
	struct walk w;
	u32 *offs = (u32 *)((char *)r + op->source);
	s32 *fds = (s32 *)((char *)r + op->data);
	s32 k, n = (s32)op->size + 2;
	for (k = 0; k < n; k++) fds[k] = -1;
	for (k = 0; k < n; k++) {
		if (!offs[k]) continue;
		fds[k] = walk_path(sb_str(r, offs[k]), 1, 0, &w);
		if (fds[k] < 0) sb_fail(r, S_SOURCE, fds[k], index);
	}
}

static void sb_overlay_close(struct sreq *r, struct sop *op)
{
	s32 *fds = (s32 *)((char *)r + op->data);
	s32 k;
	for (k = 0; k < (s32)op->size + 2; k++)
		if (fds[k] >= 0) sys1(SYS_close, fds[k]);
}

/* How the sandbox's first process is cloned: it shares our memory and fd
 * table. Not CLONE_VFORK, even where we wait for the command it becomes to
 * exec: a vfork wait ends only for a fatal signal, and ours are blocked, so
 * Bun's death would go unseen while the view is held up (sb_wait_start
 * waits on its gate instead). */
static u64 sb_first_flags(struct sreq *r)
{
	(void)r;
	return CLONE_VM | CLONE_FILES | SIGCHLD_;
}

/* The intermediate I (pidns with "pid"): setns left our children's pid
 * namespace the one given, and unshare(CLONE_NEWPID) is refused to a
 * process whose children's namespace is not its own; I lives in the one
 * given, so it may make one below it. Its child, the sandbox's first
 * process, is ours (CLONE_PARENT): we wait for it and signal it as usual.
 * Its pidfd lands in our table (CLONE_FILES) and its number in the report. */
static void sb_intermediate_main(struct sreq *r)
{
	struct sout *o = sb_out(r);
	s64 rc;
	if (sys2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) < 0) sb_fail(r, S_PARENT_GONE, -E_SRCH, -1);
	rc = sys1(SYS_unshare, CLONE_NEWPID);
	if (rc < 0) sb_fail(r, S_UNSHARE, rc, -1);
	rc = bun_userns_clone_trampoline(sb_first_flags(r) | CLONE_PARENT | CLONE_PIDFD, sb_stack(r, 2), &o->first_fd, r,
					 (void *)sb_first_main);
	if (rc < 0) sb_fail(r, S_FORK, rc, -1);
	sys1(SYS_exit_group, 0);
}

/* pidns with "pid": the first process, made below the pid namespace given
 * through I. Returns its pid (ours); a failure is reported and ends us. */
static s64 sb_first_below(struct sreq *r)
{
	struct sout *o = sb_out(r);
	u8 info[128];
	char path[64];
	s64 i, x;
	o->first_fd = -1;
	o->xgate = 1;
	/* I's stack: the lower half of the command's quarter (the command and
	 * the nesting child run on its upper half, while I may still wait). */
	i = bun_userns_clone_trampoline(CLONE_VM | CLONE_FILES | SIGCHLD_,
					sb_stack_at(r, (s64)r->stack_len / 8), 0, r,
					(void *)sb_intermediate_main);
	if (i < 0) sb_fail(r, S_FORK, i, -1);
	/* I exits once the first process is running. */
	wait_retry(P_PID, i, info, WEXITED | WALL);
	if (o->first_fd < 0) {
		if (o->step == S_NONE) fail(o, S_FORK, -E_SRCH);
		sb_abandon(r, -1, -1);
	}
	put_decimal(path, "/proc/self/fdinfo/", o->first_fd); /* the host's /proc: we never enter the view */
	x = sb_pidfd_pid_at(AT_FDCWD, path);
	sys1(SYS_close, o->first_fd);
	if (x < 0) {
		if (o->step == S_NONE) fail(o, S_FORK, x);
		sb_abandon(r, -1, -1);
	}
	return x;
}

static void sb_monitor_main(struct sreq *r)
{
	struct sout *o = sb_out(r);
	struct sop *ops = (struct sop *)((char *)r + r->ops);
	struct walk w;
	s64 rc, x, pidns_rc;
	s32 i, init = (r->opts & SO_NEW_PID) && !(r->opts & SO_AS_PID1);
	/* Wait for "ready" rather than for the exec when there is an init, or
	 * when the start is reported before a wait on a caller's fd. */
	s32 early = r->block_fd >= 0 || r->userns_block_fd >= 0, wait = init || early;

	/* Sealed first: this is a copy of Bun's memory, or (exec'd) our code
	 * and the request, which the exec made dumpable again. */
	rc = sys2(SYS_prctl, PR_SET_DUMPABLE, 0);
	if (rc < 0) sb_fail(r, S_DUMPABLE, rc, -1);
	if (sys2(SYS_prctl, PR_SET_PDEATHSIG, SIG_KILL_SANDBOX) < 0 || sys0(SYS_getppid) != r->ppid)
		sb_fail(r, S_PARENT_GONE, -E_SRCH, -1);
	r->monitor = (s32)sys0(SYS_getpid);
	sb_default_signals(r->not_default);
	/* Bun's descriptors stay Bun's: another command's pipe end held here
	 * would keep that pipe open for as long as this sandbox lives. The
	 * passed ones are the command's: close-on-exec here (a fork of Bun
	 * has them as the caller opened them), so the view's own children
	 * (the nesting one execs the park program) get none. */
	sb_keep_fds(r);
	for (i = 0; i < r->npass; i++) sys3(SYS_fcntl, sb_pass(r)[i], F_SETFD_, FD_CLOEXEC_);
	/* Sources, on the host, as the caller: another uid's symlink is refused. */
	for (i = 0; i < r->nops; i++) {
		if (ops[i].type == SOP_OVERLAY) { sb_overlay_sources(r, &ops[i], i); continue; }
		if (ops[i].type != SOP_BIND) continue;
		if (ops[i].flags & SF_FD) { ops[i].src = ops[i].fd; continue; }
		ops[i].src = walk_path(sb_str(r, ops[i].source), 1, 0, &w);
		if (ops[i].src < 0 && !((ops[i].flags & SF_TRY) && ops[i].src == -E_NOENT))
			sb_fail(r, S_SOURCE, ops[i].src, i);
	}
	/* pidns: entered while we are still the caller (a pid namespace the
	 * host's root made needs CAP_SYS_ADMIN there), else from inside the
	 * user namespace (one that namespace owns). It is where our children
	 * go; with "pid" too, the sandbox's own is made below it. */
	pidns_rc = r->pidns >= 0 ? sys2(SYS_setns, r->pidns, CLONE_NEWPID_) : 0;
	rc = sys2(SYS_setns, r->helper_pidfd, CLONE_NEWUSER);
	if (rc < 0) sb_fail(r, S_SETNS, rc, -1);
	if (pidns_rc == -E_PERM_) pidns_rc = sys2(SYS_setns, r->pidns, CLONE_NEWPID_);
	if (pidns_rc < 0) sb_fail(r, S_SETNS, pidns_rc, -1);
	/* setns changed our credentials, and commit_creds set the dumpable flag
	 * to fs.suid_dumpable: seal again. */
	sys2(SYS_prctl, PR_SET_DUMPABLE, 0);
	if (!sb_passed(r, r->helper_pidfd)) sys1(SYS_close, r->helper_pidfd); /* a passed one is the command's too */
	if ((r->opts & SO_NEW_PID) && r->pidns >= 0) {
		x = sb_first_below(r);
	} else {
		if (r->opts & SO_NEW_PID) {
			rc = sys1(SYS_unshare, CLONE_NEWPID);
			if (rc < 0) sb_fail(r, S_UNSHARE, rc, -1);
		}
		o->xgate = 1;
		x = bun_userns_clone_trampoline(sb_first_flags(r), sb_stack(r, 2), 0, r, (void *)sb_first_main);
		if (x < 0) sb_fail(r, S_FORK, x, -1);
	}
	o->first = (s32)x; /* in the report page: our memory is a copy */
	if (wait ? !sb_wait_start(r, (s32)x, &o->ready, 0) : !sb_wait_start(r, (s32)x, &o->xgate, 1) || o->step != S_NONE) {
		if (o->step == S_NONE) fail(o, S_KILLED, -E_INTR);
		sb_abandon(r, (s32)x, -1);
	}
	/* No init: the command exec'd (its gate cleared), or failed and said
	 * so above. One that exits at once is reaped by the monitor's loop. */
	/* Started: let the entering child go (EOF), keep nothing but the records. */
	for (i = 0; i < r->nops && !early; i++) {
		if (ops[i].type == SOP_BIND && ops[i].src >= 0) sys1(SYS_close, ops[i].src);
		if (ops[i].type == SOP_OVERLAY) sb_overlay_close(r, &ops[i]);
	}
	sys1(SYS_close, r->epipe[1]);
	/* The command has its own copy of its fds (the init dropped ours from
	 * the table it shares with us, before its "ready"). Reported early
	 * without an init, the first process may still be using our table:
	 * they go at its exec (sb_monitor). */
	if (!early) sb_drop_command_fds(r);
	sb_monitor(r, (s32)x, early && !init);
}

/* ---- C exec'd: the monitor as its own image (monitor-image.c) ---- */

/* Before the exec, in Bun's memory (CLONE_VM | CLONE_VFORK of the entering
 * child, which waits) and as the caller: only the fds the monitor needs
 * cross the exec. A failed exec ends us; the entering child then forks. */
static void sb_image_exec(struct sreq *r)
{
	char *argv[2];
	char *envp[1];
	sb_keep_fds(r);
	sb_set_cloexec(r, 0);
	argv[0] = (char *)"bun-userns-monitor";
	argv[1] = 0;
	envp[0] = 0;
	sys5(SYS_execveat, r->image_fd, (s64)"", (s64)argv, (s64)envp, AT_EMPTY_PATH);
	sys1(SYS_exit_group, 127);
}

/* After the exec (SB_IMAGE_ENTRY calls it on the new stack): the report
 * page mapped again from its memfd, the image said to run, and the
 * monitor's sequence. Until the report page is mapped nothing can be
 * reported: an exit then reads as "the image never ran". */
void bun_userns_image_main(void)
{
	struct sreq *r = (struct sreq *)*(volatile u64 *)&sb_image_block; /* written in the image, not here */
	s64 rc;
	rc = sys6(SYS_mmap, 0, PAGE, PROT_RW, MAP_SHARED_, r->report_fd, 0);
	if (rc < 0 && rc > -PAGE) sys1(SYS_exit_group, 127);
	r->report = (u64)rc;
	sys1(SYS_close, r->report_fd);
	r->report_fd = -1;
	r->image_fd = -1;
	*(volatile s32 *)&sb_out(r)->image = 1;
	/* What crossed the exec is close-on-exec again: the view's own
	 * children (the nesting one execs the park program) inherit none. */
	sb_set_cloexec(r, 1);
	sb_monitor_main(r);
	sys1(SYS_exit_group, 1);
}

/* ---- E: the entering child, in Bun's memory ---- */

/* The monitor: a child of Bun's process (CLONE_PARENT), no exit signal
 * (Bun reaps it by pidfd). Its own image when one can be built and run,
 * else a fork. Returns once the start is over (EOF on the pipe). */
static void sb_start_monitor(struct sreq *r)
{
	struct sout *o = sb_out(r);
	s64 rc;
	r->image_fd = (s32)sb_image(r);
	if (r->image_fd >= 0) {
		rc = bun_userns_clone_trampoline(CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PARENT_SETTID, sb_stack(r, 3),
						 &r->copy, r, (void *)sb_image_exec);
		sys1(SYS_close, r->image_fd);
		r->image_fd = -1;
		if (rc < 0) sb_fail(r, S_CLONE, rc, -1);
		sys1(SYS_close, r->epipe[1]);
		sb_block(r->epipe[0]);
		if (*(volatile s32 *)&o->image) return;
		/* Its image never ran (the exec was refused, or a segment could
		 * not be placed): it is gone, for Bun to reap; a fork instead. */
		r->dead = r->copy;
		sys1(SYS_close, r->epipe[0]);
		rc = sys2(SYS_pipe2, (s64)r->epipe, O_CLOEXEC);
		if (rc < 0) sb_fail(r, S_PIPE, rc, -1);
	}
	rc = bun_userns_clone_trampoline(CLONE_PARENT | CLONE_PARENT_SETTID, sb_stack(r, 3), &r->copy, r,
					 (void *)sb_monitor_main);
	if (rc < 0) sb_fail(r, S_CLONE, rc, -1);
	sys1(SYS_close, r->epipe[1]);
	sb_block(r->epipe[0]);
}

static void sb_entering_main(struct sreq *r)
{
	s64 rc;
	sys1(SYS_set_tid_address, (s64)&r->gate);
	if (sys2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) < 0 || sys0(SYS_getppid) != r->ppid)
		sb_fail(r, S_PARENT_GONE, -E_SRCH, -1);
	r->not_default = exec_not_default();
	/* stdio onto 0-2, as a command's (exec.c). */
	rc = exec_stdio(r->stdio);
	if (rc < 0) sb_fail(r, S_STDIO, rc, -1);
	/* Our fd table is a copy of Bun's whole table, other threads' pipe
	 * ends among them (a running command's stdin): held until the start
	 * ends, which the view may hold up, they would keep those pipes open.
	 * Only what the start needs stays. */
	r->epipe[0] = r->epipe[1] = -1;
	sb_keep_fds(r);
	rc = sys2(SYS_pipe2, (s64)r->epipe, O_CLOEXEC);
	if (rc < 0) sb_fail(r, S_PIPE, rc, -1);
	sb_start_monitor(r);
	sys1(SYS_exit_group, 0);
}

/* ---- Bun's thread ---- */

/* Wait until the entering child let go of Bun's memory; a stop (of it or
 * of the monitor) is ended with SIGKILL rather than waited out. */
static void sb_gate_wait(struct sreq *r, s32 pidfd)
{
	struct ktimespec t;
	s64 rc;
	for (;;) {
		if (*(volatile s32 *)&r->gate == 0) return;
		t.sec = 0;
		t.nsec = SB_CHECK_NS;
		rc = sys4(SYS_futex, (s64)&r->gate, FUTEX_WAIT, 1, (s64)&t);
		if (rc == 0 || rc == -E_AGAIN || rc == -E_INTR) continue;
		if (rc != -E_TIMEDOUT) {
			sys4(SYS_pidfd_send_signal, pidfd, SIGKILL, 0, 0);
			exec_reap_nowait(P_PIDFD, pidfd);
			return;
		}
		if (exec_exited(pidfd)) return;
		if (exec_stopped(P_PIDFD, pidfd)) sys4(SYS_pidfd_send_signal, pidfd, SIGKILL, 0, 0);
		if (*(volatile s32 *)&r->copy > 0 && exec_stopped(P_PID, r->copy)) sys2(SYS_kill, r->copy, SIGKILL);
	}
}

/*
 * Start the sandbox. Returns the monitor's pid (its pidfd in r->pidfd), or
 * -errno with r->step, r->err and r->index saying what failed; nothing of
 * the start is left then (the monitor cleaned the host and was reaped).
 */
s32 bun_userns_sandbox(struct sreq *r)
{
	struct sout *o;
	u64 all = ~0UL, old = 0;
	u32 *offs;
	char **ptrs;
	u8 info[128];
	s32 pidfd = -1, i;
	s64 rc, pid;

	head_clear(r);
	r->index = -1;
	r->pid = 0;
	r->copy = 0;
	r->pidfd = -1;
	r->nmade = 0;
	r->first = 0;
	r->dead = 0;
	r->image_fd = -1;
	r->report_fd = -1;
	if (r->stack_len < SB_STACK_MIN || r->nops < 0 || r->argc < 1 || r->envc < 0 || r->nseccomp < 0 ||
	    r->nseccomp > 4096 || r->made_max < 0 || r->nlocks < 0)
		return -E_INVAL;
	r->ppid = (s32)sys0(SYS_getpid);
	/* The monitor's credentials change at setns, and its mm's dumpable flag
	 * follows fs.suid_dumpable: at 1 its copy of Bun's memory would be open
	 * to every process of the caller's uid. */
	rc = suid_dumpable();
	if (rc != 0 && rc != 2) return (s32)fail(r, S_DUMPABLE, -E_PERM);
	/* argv and envp as execve wants them: pointers, valid in every copy. */
	ptrs = (char **)((char *)r + r->ptrs);
	offs = (u32 *)((char *)r + r->argv);
	for (i = 0; i < r->argc; i++) ptrs[i] = (char *)r + offs[i];
	ptrs[r->argc] = 0;
	offs = (u32 *)((char *)r + r->envp);
	for (i = 0; i < r->envc; i++) ptrs[r->argc + 1 + i] = (char *)r + offs[i];
	ptrs[r->argc + 1 + r->envc] = 0;
	/* The report page: a memfd's, so that a monitor with an image of its
	 * own maps it too (monitor-image.c); a shared anonymous page without. */
	rc = sys2(SYS_memfd_create, (s64)"bun-userns-report", MFD_CLOEXEC | MFD_NOEXEC_SEAL);
	if (rc == -E_INVAL) rc = sys2(SYS_memfd_create, (s64)"bun-userns-report", MFD_CLOEXEC);
	if (rc >= 0 && sys2(SYS_ftruncate, rc, PAGE) < 0) {
		sys1(SYS_close, rc);
		rc = -1;
	}
	r->report_fd = (s32)rc;
	rc = r->report_fd >= 0 ? sys6(SYS_mmap, 0, PAGE, PROT_RW, MAP_SHARED_, r->report_fd, 0)
			       : sys6(SYS_mmap, 0, PAGE, PROT_RW, MAP_SHARED_ANON, -1, 0);
	if (rc < 0 && rc > -PAGE) {
		if (r->report_fd >= 0) sys1(SYS_close, r->report_fd);
		r->report_fd = -1;
		return (s32)fail(r, S_CLONE, rc);
	}
	r->report = (u64)rc;
	o = sb_out(r);
	o->index = -1;
	r->umask = (s32)sys1(SB_umask, 022);
	sys1(SB_umask, r->umask);

	*(volatile s32 *)&r->gate = 1;
	rc = sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&all, (s64)&old, 8);
	if (rc < 0) { fail(r, S_SIGMASK, rc); goto out; }
	pid = bun_userns_clone_trampoline(CLONE_VM | CLONE_PIDFD, sb_stack(r, 4), &pidfd, r, (void *)sb_entering_main);
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&old, 0, 8);
	if (pid < 0) { rc = fail(r, S_CLONE, pid); goto out; }
	sb_gate_wait(r, pidfd);
	wait_retry(P_PIDFD, pidfd, info, WEXITED | WALL);
	sys1(SYS_close, pidfd);
	fail(r, o->step, -(s64)o->err);
	r->index = o->index;
	r->first = o->first;
	for (i = 0; i < 6; i++) r->ns[i] = o->ns[i];
	r->ns_user = o->ns_user;
	if (r->step == S_NONE && (SI_CODE(info) != CLD_EXITED || SI_STATUS(info) != 0)) fail(r, S_KILLED, -E_INTR);
	/* A monitor whose image never ran: our child (CLONE_PARENT), gone. The
	 * entering child may have died before it forked another: then copy
	 * still names this one, whose pid is free once reaped (never signalled). */
	if (r->dead > 0) {
		exec_reap_pid(r->dead, info);
		if (r->copy == r->dead) r->copy = 0;
	}
	if (r->copy > 0) {
		if (r->step != S_NONE) {
			/* It cleans the host and exits by itself; told again in case it still waits. */
			sys2(SYS_kill, r->copy, SIG_KILL_SANDBOX);
			exec_reap_pid(r->copy, info);
		} else {
			/* Our child (CLONE_PARENT), unreaped: the pid cannot be reused. */
			rc = sys2(SYS_pidfd_open, r->copy, 0);
			if (rc < 0) {
				sys2(SYS_kill, r->copy, SIG_KILL_SANDBOX);
				exec_reap_pid(r->copy, info);
				fail(r, S_PIDFD_OPEN, rc);
			} else {
				r->pidfd = (s32)rc;
				r->pid = r->copy;
			}
		}
	} else if (r->step == S_NONE) {
		fail(r, S_CLONE, -E_SRCH);
	}
	rc = r->step == S_NONE ? r->pid : -r->err;
out:
	sys2(SYS_munmap, (s64)r->report, PAGE);
	r->report = 0;
	if (r->report_fd >= 0) sys1(SYS_close, r->report_fd);
	r->report_fd = -1;
	return (s32)rc;
}

/* The monitor recorded in the registry as a command (its pidfd, its exit). */
static s32 rec_sandbox(struct sreq *r, s32 regfd, s32 slot)
{
	s32 rc, put;
	if (!reg_is(regfd, 0)) return (s32)fail(r, S_NONE, -E_BADF);
	rc = bun_userns_sandbox(r);
	if (rc > 0) {
		put = rec_put(regfd, slot, REC_COMMAND, r->pidfd, rc);
		if (put < 0) {
			sys2(SYS_kill, rc, SIG_KILL_SANDBOX);
			reap(r->pidfd);
			sys1(SYS_close, r->pidfd);
			return (s32)fail(r, S_PIDFD_OPEN, put);
		}
	}
	return rc;
}

