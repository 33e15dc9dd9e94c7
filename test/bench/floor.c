/*
 * The C floor: the same cycle as the Bun benchmark, from the package's own
 * native/userns.c, with no Bun and no JS. Built by run.ts with the system
 * compiler. Usage: floor FLAGS ITERATIONS [exec] → one line of per-cycle ns.
 * "exec": as the library does for a caller without CAP_SYS_PTRACE (own ids,
 * setgroups deny, the helper leaves the mm by exec'ing the park program);
 * otherwise as for a privileged one (the mm sealed, maps of uid 1000).
 * Both record the helper in a registry and act through its record, as the
 * library does (registry.c: a terminated Worker's helpers stay collectable,
 * a pidfd number reused by the application is never signalled).
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
	int exec = argc > 3 && argv[3][0] == 'e';
	char own[32];
	r->flags = (u64)flags;
	r->stack_len = 16384;
	if (exec) {
		/* "0 EUID 1": the one map an unprivileged writer may write. */
		long id = sys0(SYS_geteuid), d = 1;
		int k = 0;
		own[k++] = '0';
		own[k++] = ' ';
		while (d * 10 <= id) d *= 10;
		for (; d; d /= 10) own[k++] = (char)('0' + id / d % 10);
		own[k++] = ' ';
		own[k++] = '1';
		own[k++] = '\n';
		own[k] = 0;
		r->park_exec = 1;
		r->owner_uid = -1;
		r->setgroups = 2;
		put(r->uid_text, own, &r->uid_len);
		put(r->gid_text, own, &r->gid_len); /* the bench runs it with gid == uid */
	} else {
		/* As the library does when privileged: the namespace belongs to 1000. */
		r->owner_uid = sys0(SYS_geteuid) == 0 ? 1000 : -1;
		r->setgroups = 1;
		put(r->uid_text, "0 1000 10\n", &r->uid_len);
		put(r->gid_text, "0 1000 10\n", &r->gid_len);
	}
	u64 start = 0;
	s32 reg = reg_open(&start);
	struct rec_args act;
	if (reg < 0) { printf("error: registry %d\n", reg); return 1; }
	for (long i = 0; i < n; i++) {
		long t0 = now_ns();
		s32 pid = rec_clone(r, reg, 0);
		if (pid > 0 && bun_userns_write_maps(r) < 0) pid = bun_userns_abort(r, -r->err);
		if (pid > 0) pid = rec_start(r, reg, 0);
		if (pid < 0) { printf("error step %d errno %d\n", r->step, r->err); return 1; }
		char path[64];
		s32 type;
		proc_path(path, pid, "ns/user");
		s32 fd = bun_userns_ns_open(path, 1, &type);
		sys1(SYS_close, fd);
		act.action = RA_ALIVE;
		act.arg = 0;
		if (rec_op(&act, reg, 0) != 0) { printf("error: not alive\n"); return 1; }
		act.action = RA_RELEASE;
		rec_op(&act, reg, 0);
		printf(i ? " %ld" : "%ld", now_ns() - t0);
	}
	printf("\n");
	return 0;
}
