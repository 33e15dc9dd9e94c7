/*
 * The bench's sandbox floor: the work of sandbox(["true"], typical view) in
 * plain C with libc, no JS, no safety beyond the kernel's. Usage:
 * sandbox-floor N. Per run: fork a child that unshares a user namespace
 * (its maps written by the parent, as the helper's are), then the mount, pid,
 * net, ipc, uts and cgroup namespaces; its child (pid 1) makes the view
 * (tmpfs root, /usr and /etc read-only binds, links, proc, a minimal dev, a
 * tmpfs /tmp), pivots into it, brings up lo, and forks the command, which
 * starts a session, drops every capability, sets no_new_privs and execs
 * /usr/bin/true. Prints N per-run nanosecond counts.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

#define TRY(x)                                                                     \
	do {                                                                       \
		if ((x) < 0) {                                                     \
			perror(#x);                                                \
			_exit(120);                                                \
		}                                                                  \
	} while (0)

static void bind_ro(const char *src, const char *dst, int ro, int file)
{
	if (file) close(open(dst, O_CREAT | O_WRONLY, 0444));
	else mkdir(dst, 0755);
	TRY(mount(src, dst, 0, MS_BIND | MS_REC, 0));
	TRY(mount(0, dst, 0, MS_REMOUNT | MS_BIND | MS_NODEV | (ro ? MS_RDONLY : 0), 0));
}

static void view(void)
{
	static const char *nodes[] = { "null", "zero", "full", "random", "urandom", "tty", 0 };
	char src[64], dst[64];
	TRY(mount("none", "/", 0, MS_REC | MS_PRIVATE, 0));
	TRY(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
	TRY(chdir("/tmp"));
	TRY(mkdir("oldroot", 0700));
	TRY(mkdir("newroot", 0755));
	TRY(syscall(SYS_pivot_root, ".", "oldroot"));
	TRY(chdir("/"));
	TRY(mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
	bind_ro("/oldroot/usr", "/newroot/usr", 1, 0);
	bind_ro("/oldroot/etc", "/newroot/etc", 1, 0);
	TRY(symlink("usr/bin", "/newroot/bin"));
	TRY(symlink("usr/lib", "/newroot/lib"));
	if (access("/oldroot/usr/lib64", F_OK) == 0) TRY(symlink("usr/lib64", "/newroot/lib64"));
	TRY(mkdir("/newroot/proc", 0755));
	TRY(mount("proc", "/newroot/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0));
	TRY(mkdir("/newroot/dev", 0755));
	TRY(mount("tmpfs", "/newroot/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755"));
	for (int i = 0; nodes[i]; i++) {
		snprintf(src, sizeof src, "/oldroot/dev/%s", nodes[i]);
		snprintf(dst, sizeof dst, "/newroot/dev/%s", nodes[i]);
		close(open(dst, O_CREAT | O_WRONLY, 0666));
		TRY(mount(src, dst, 0, MS_BIND, 0));
	}
	TRY(mkdir("/newroot/dev/pts", 0755));
	TRY(mount("devpts", "/newroot/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"));
	TRY(mkdir("/newroot/dev/shm", 0755));
	TRY(mount("tmpfs", "/newroot/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
	TRY(symlink("pts/ptmx", "/newroot/dev/ptmx"));
	TRY(symlink("/proc/self/fd", "/newroot/dev/fd"));
	TRY(mkdir("/newroot/tmp", 0755));
	TRY(mount("tmpfs", "/newroot/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
	TRY(chdir("/newroot"));
	TRY(syscall(SYS_pivot_root, ".", "."));
	TRY(umount2(".", MNT_DETACH));
	TRY(chdir("/"));
}

static void loopback(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	TRY(ioctl(fd, SIOCGIFFLAGS, &ifr));
	ifr.ifr_flags |= IFF_UP;
	TRY(ioctl(fd, SIOCSIFFLAGS, &ifr));
	close(fd);
}

static void command(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	char *args[] = { "true", 0 }, *env[] = { 0 };
	memset(d, 0, sizeof d);
	TRY(setsid());
	for (int c = 0; c <= 40; c++) prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	TRY(syscall(SYS_capset, &h, d));
	TRY(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	execve("/usr/bin/true", args, env);
	_exit(127);
}

static int one(void)
{
	int go[2], ready[2], status;
	char c = 0, path[64];
	if (pipe(go) < 0 || pipe(ready) < 0) return -1;
	pid_t a = fork();
	if (a == 0) {
		TRY(unshare(CLONE_NEWUSER));
		TRY(write(ready[1], &c, 1));
		TRY(read(go[0], &c, 1));
		TRY(unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP));
		pid_t b = fork();
		if (b == 0) { /* pid 1 */
			view();
			loopback();
			pid_t q = fork();
			if (q == 0) command();
			int st;
			while (waitpid(q, &st, 0) < 0) {}
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		int st;
		if (b < 0 || waitpid(b, &st, 0) != b) _exit(121);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	if (a < 0 || read(ready[0], &c, 1) != 1) return -1;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char text[64];
	int n = snprintf(text, sizeof text, "%u %u 1\n", uid, uid);
	snprintf(path, sizeof path, "/proc/%d/uid_map", a);
	int fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, text, n) != n) return -1;
	close(fd);
	n = snprintf(text, sizeof text, "%u %u 1\n", gid, gid);
	snprintf(path, sizeof path, "/proc/%d/gid_map", a);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, text, n) != n) return -1;
	close(fd);
	if (write(go[1], &c, 1) != 1) return -1;
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
	if (waitpid(a, &status, 0) != a) return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int main(int argc, char **argv)
{
	if (argc != 2) return 2;
	int n = atoi(argv[1]);
	for (int i = 0; i < n; i++) {
		long long t0 = now_ns();
		int rc = one();
		if (rc != 0) {
			fprintf(stderr, "run %d failed: %d\n", i, rc);
			return 1;
		}
		printf("%lld\n", now_ns() - t0);
	}
	return 0;
}
