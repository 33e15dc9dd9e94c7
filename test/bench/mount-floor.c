/*
 * The C floor of an idmapped bind mount + umount: per iteration a fresh user
 * namespace (the package's own helper, as the library makes one for maps),
 * then open_tree, mount_setattr, move_mount, umount2, from native/mount.c
 * with no Bun. Usage: mount-floor SRC DST N → one line of per-cycle ns.
 */
#include "../../native/userns.c"

int printf(const char *, ...);
long strtol(const char *, char **, int);
struct timespec_ { long sec, nsec; };
int clock_gettime(int, struct timespec_ *);

static char slot[sizeof(struct req) + 16384] __attribute__((aligned(64)));
static struct mount_req mr;
static struct target_req tr;

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
	if (len) *len = n; else dst[n] = 0;
}

int main(int argc, char **argv)
{
	struct req *r = (struct req *)slot;
	long n = argc > 3 ? strtol(argv[3], 0, 0) : 100;
	if (argc < 3) { printf("usage: mount-floor SRC DST N\n"); return 2; }
	r->owner_uid = 100000;
	r->setgroups = 1;
	r->stack_len = 16384;
	put(r->uid_text, "0 100000 65536\n", &r->uid_len);
	put(r->gid_text, "0 100000 65536\n", &r->gid_len);
	put(mr.path, argv[1], 0);
	put(tr.path, argv[2], 0);
	mr.recursive = 1;
	mr.propagation = MS_PRIVATE;
	for (long i = 0; i < n; i++) {
		long t0 = now_ns();
		s32 pid = bun_userns_clone(r);
		if (pid > 0 && bun_userns_write_maps(r) < 0) pid = bun_userns_abort(r, -r->err);
		if (pid > 0) pid = bun_userns_start(r);
		if (pid < 0) { printf("error step %d errno %d\n", r->step, r->err); return 1; }
		char path[64];
		s32 type;
		proc_path(path, pid, "ns/user");
		s32 ns = bun_userns_ns_open(path, 1, &type);
		bun_userns_release(r->pidfd);
		mr.userns_fd = ns;
		s32 fd = bun_userns_open_tree_idmap(&mr);
		sys1(SYS_close, ns);
		if (fd < 0) { printf("error open_tree_idmap %d\n", fd); return 1; }
		tr.fd = fd;
		s32 rc = bun_userns_attach_tree(&tr);
		sys1(SYS_close, fd);
		if (rc < 0) { printf("error attach %d\n", rc); return 1; }
		tr.flags = 0;
		rc = bun_userns_umount(&tr);
		if (rc < 0) { printf("error umount %d\n", rc); return 1; }
		printf(i ? " %ld" : "%ld", now_ns() - t0);
	}
	printf("\n");
	return 0;
}
