/*
 * The bench's floor: what spawnInside does, in plain C with libc.
 * Usage: exec-floor PID FLAGS N. Per call: vfork, setns(pidfd, FLAGS),
 * execve /bin/true, waitpid. Prints N per-call nanosecond counts.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
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

int main(int argc, char **argv)
{
	if (argc != 4) return 2;
	int pidfd = (int)syscall(SYS_pidfd_open, atoi(argv[1]), 0);
	int flags = (int)strtol(argv[2], 0, 0);
	int n = atoi(argv[3]);
	char *args[] = { "true", 0 };
	char *env[] = { 0 };
	if (pidfd < 0) { perror("pidfd_open"); return 1; }
	for (int i = 0; i < n; i++) {
		long long t0 = now_ns();
		pid_t pid = vfork();
		if (pid == 0) {
			if (setns(pidfd, flags) < 0) _exit(126);
			execve("/bin/true", args, env);
			_exit(127);
		}
		int status;
		if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) { fprintf(stderr, "run %d failed\n", i); return 1; }
		printf("%s%lld", i ? " " : "", now_ns() - t0);
	}
	printf("\n");
	return 0;
}
