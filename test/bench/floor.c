/*
 * The C floor: the same cycle as the Bun benchmark, from the package's own
 * native/userns.c, with no Bun and no JS. Built by run.ts with the system
 * compiler. Usage: floor FLAGS ITERATIONS → one line of per-cycle ns.
 * No libc headers: userns.c defines its own names; declare what we use.
 */
#include "../../native/userns.c"

int printf(const char *, ...);
long strtol(const char *, char **, int);
struct timespec_ { long sec, nsec; };
int clock_gettime(int, struct timespec_ *);

static char slot[sizeof(struct req) + 16384] __attribute__((aligned(64)));

static long now_ns(void)
{
	struct timespec_ t;
	clock_gettime(1 /* CLOCK_MONOTONIC */, &t);
	return t.sec * 1000000000L + t.nsec;
}

static void put(char *dst, const char *s, s32 *len)
{
	int n = 0;
	while (s[n]) { dst[n] = s[n]; n++; }
	*len = n;
}

int main(int argc, char **argv)
{
	struct req *r = (struct req *)slot;
	long flags = argc > 1 ? strtol(argv[1], 0, 0) : 0;
	long n = argc > 2 ? strtol(argv[2], 0, 0) : 1000;
	r->flags = (u64)flags;
	/* As the library does when privileged: the namespace belongs to 1000. */
	r->owner_uid = sys0(SYS_geteuid) == 0 ? 1000 : -1;
	r->setgroups = 1;
	r->stack_len = 16384;
	put(r->uid_text, "0 1000 10\n", &r->uid_len);
	put(r->gid_text, "0 1000 10\n", &r->gid_len);
	for (long i = 0; i < n; i++) {
		long t0 = now_ns();
		s32 pid = bun_userns_clone(r);
		if (pid > 0 && bun_userns_write_maps(r) < 0) pid = bun_userns_abort(r, -r->err);
		if (pid > 0) pid = bun_userns_start(r);
		if (pid < 0) { printf("error step %d errno %d\n", r->step, r->err); return 1; }
		s32 fd = bun_userns_open_ns(pid, "user");
		sys1(SYS_close, fd);
		if (bun_userns_alive(r->pidfd, pid) != 0) { printf("error: not alive\n"); return 1; }
		bun_userns_release(r->pidfd);
		printf(i ? " %ld" : "%ld", now_ns() - t0);
	}
	printf("\n");
	return 0;
}
