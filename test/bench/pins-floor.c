/*
 * The bench's floor: what pinNamespaces + unpin do, in plain C with libc.
 * Usage: pins-floor PID DIR N. Per call: open /proc/PID/ns/net, create
 * DIR/floor O_EXCL, bind mount, close both; then umount2(MNT_DETACH) and
 * unlink. Prints N per-call nanosecond counts.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
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
	char src[64], dst[4096];
	snprintf(src, sizeof src, "/proc/%s/ns/net", argv[1]);
	snprintf(dst, sizeof dst, "%s/floor", argv[2]);
	int n = atoi(argv[3]);
	for (int i = 0; i < n; i++) {
		long long t0 = now_ns();
		int ns = open(src, O_RDONLY | O_CLOEXEC);
		int f = open(dst, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (ns < 0 || f < 0 || mount(src, dst, 0, MS_BIND, 0) < 0) { perror("pin"); return 1; }
		close(f);
		close(ns);
		if (umount2(dst, MNT_DETACH) < 0 || unlink(dst) < 0) { perror("unpin"); return 1; }
		printf("%lld ", now_ns() - t0);
	}
	printf("\n");
	return 0;
}
