/*
 * The sandbox's filesystem view: the ops of the request applied in order on
 * a fresh tmpfs that becomes the root (native/sandbox.c runs this in the
 * process that is pid 1 of the sandbox, in a mount namespace of its own).
 *
 * Every destination is resolved inside the new root: openat2 with
 * RESOLVE_IN_ROOT treats the root's fd as "/" for ".." and for absolute
 * symlinks, so a symlink planted in a bound host directory leads somewhere
 * in the view, never out of it; RESOLVE_NO_MAGICLINKS refuses
 * /proc/self/root-style jumps. Missing directories on the way are made one
 * component at a time (mkdirat of a single name, which follows no link).
 * Whatever had to be made outside the view's own filesystems (under a host
 * bind) is recorded with its directory's fd, for the monitor to remove.
 *
 * Sources are host paths. The monitor resolved each one on the host before
 * entering the user namespace (resolve.c: another uid's symlinks refused);
 * here it is opened again by its text in this mount namespace (open_tree
 * only clones mounts of the caller's own namespace) and must be the same
 * file, or the op fails: nobody swaps a component in between unnoticed.
 */
#if defined(__x86_64__)
#define SB_mkdirat 258
#define SB_symlinkat 266
#define SB_readlinkat 267
#define SB_umask 95
#define SB_pivot_root 155
#define SB_sethostname 170
#define SB_socket 41
#define SB_seccomp 317
#define SB_setsid 112
#define SB_rt_sigtimedwait 128
#define SB_fchdir 81
#define SB_fchmod 91
#define O_DIRECTORY_ 0200000
#else
#define SB_mkdirat 34
#define SB_symlinkat 36
#define SB_readlinkat 78
#define SB_umask 166
#define SB_pivot_root 41
#define SB_sethostname 161
#define SB_socket 198
#define SB_seccomp 277
#define SB_setsid 157
#define SB_rt_sigtimedwait 137
#define SB_fchdir 50
#define SB_fchmod 52
#define O_DIRECTORY_ 040000
#endif
/* The same number on every arch (the unified table since 5.x). */
#define SB_openat2 437
#define SB_fsopen 430
#define SB_fsconfig 431
#define SB_fsmount 432
#define SB_fchmodat2 452

#define SB_O_CREAT 0100
#define SB_O_EXCL 0200
#define SB_O_TRUNC 01000
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT 0x10
#define FSOPEN_CLOEXEC 1
#define FSMOUNT_CLOEXEC 1
#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8
#define AT_REMOVEDIR 0x200
#define SB_E_EXIST 17
#define SB_E_NOENT 2
#define SB_E_NOSPC 28
#define SB_E_STALE 116
#define SB_E_NOSYS 38
#define FRESH_MAX 128
#define OVERLAY_MAX 500 /* overlayfs's own limit on layers */

struct open_how_ { u64 flags, mode, resolve; };
struct mount_attr_ { u64 attr_set, attr_clr, propagation, userns_fd; };

/* The view being built: the new root and the filesystems made for it. */
struct view {
	struct sreq *r;
	s32 root;   /* O_PATH fd of the new root */
	s32 index;  /* the op being applied */
	s32 asked;  /* a "dir" entry: what it makes is asked for, not only had to be made */
	s32 nfresh;
	u32 fresh[FRESH_MAX][2]; /* dev major, minor of every filesystem made here */
};

static struct sout *sb_out(struct sreq *r) { return (struct sout *)r->report; }

/* Report into the shared page (the first failure of any process wins) and
 * end this process: the start fails as a whole. RC is -errno. */
static void sb_fail(struct sreq *r, s32 step, s64 rc, s32 index)
{
	struct sout *o = sb_out(r);
	if (o->step == S_NONE) {
		o->index = index;
		fail(o, step, rc);
	}
	sys1(SYS_exit_group, 126);
}

static const char *sb_str(struct sreq *r, u32 off) { return off ? (const char *)r + off : 0; }

static s64 in_root(struct view *v, const char *path, u64 flags)
{
	struct open_how_ how;
	how.flags = flags | O_CLOEXEC;
	how.mode = 0;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	return sys4(SB_openat2, v->root, (s64)path, (s64)&how, sizeof how);
}

static int is_fresh(struct view *v, s32 fd)
{
	struct kstatx st;
	int i;
	if (statx_at(fd, "", &st) < 0) return 0;
	for (i = 0; i < v->nfresh; i++)
		if (v->fresh[i][0] == st.dev_major && v->fresh[i][1] == st.dev_minor) return 1;
	return 0;
}

static void add_fresh(struct view *v, s32 mfd)
{
	struct kstatx st;
	if (v->nfresh >= FRESH_MAX || statx_at(mfd, "", &st) < 0) return;
	v->fresh[v->nfresh][0] = st.dev_major;
	v->fresh[v->nfresh][1] = st.dev_minor;
	v->nfresh++;
}

/* NAME was just made in DIRFD: remember it unless it is on a filesystem of
 * the view (those vanish with the sandbox). */
static void record_made(struct view *v, s32 dirfd, const char *name, s32 is_dir)
{
	struct sreq *r = v->r;
	struct made *m;
	struct kstatx st;
	s64 fd;
	int i;
	if (is_fresh(v, dirfd)) return;
	if (r->nmade >= r->made_max) sb_fail(r, S_MADE, -SB_E_NOSPC, v->index);
	if (statx_at(dirfd, name, &st) < 0) sb_fail(r, S_MADE, -SB_E_STALE, v->index);
	fd = sys3(SYS_fcntl, dirfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) sb_fail(r, S_MADE, fd, v->index);
	m = (struct made *)((char *)r + r->made) + r->nmade;
	m->dirfd = (s32)fd;
	m->is_dir = is_dir;
	m->ino = st.ino;
	m->dev_major = st.dev_major;
	m->dev_minor = st.dev_minor;
	for (i = 0; name[i] && i < 255; i++) m->name[i] = name[i];
	m->name[i] = 0;
	r->nmade++;
}

/*
 * The directory PATH (absolute, normalized) inside the root, made where
 * missing, one component at a time. Returns its O_PATH fd. END: how many
 * bytes of PATH to take (its parent directory: up to the last '/').
 */
static s32 ensure_dir(struct view *v, const char *path, s32 end)
{
	char pre[PATH_BYTES];
	s32 k = 0, cut;
	s64 fd, dfd;
	if (end >= PATH_BYTES) sb_fail(v->r, S_RESOLVE, -E_NAMETOOLONG, v->index);
	dfd = in_root(v, "/", O_PATH | O_DIRECTORY_);
	if (dfd < 0) sb_fail(v->r, S_RESOLVE, dfd, v->index);
	while (k < end) {
		while (k < end && path[k] == '/') k++;
		if (k >= end) break;
		cut = k;
		while (k < end && path[k] != '/') k++;
		mem_zero(pre, sizeof pre);
		for (cut = 0; cut < k; cut++) pre[cut] = path[cut];
		fd = in_root(v, pre, O_PATH | O_DIRECTORY_);
		if (fd == -SB_E_NOENT) {
			/* The last component of PRE, made in the directory reached so far. */
			s32 s = k;
			while (s > 0 && pre[s - 1] != '/') s--;
			fd = sys3(SB_mkdirat, dfd, (s64)(pre + s), 0755);
			if (fd < 0 && fd != -SB_E_EXIST) sb_fail(v->r, S_MKDIR, fd, v->index);
			if (fd == 0) record_made(v, (s32)dfd, pre + s, v->asked ? 2 : 1);
			fd = in_root(v, pre, O_PATH | O_DIRECTORY_);
		}
		if (fd < 0) sb_fail(v->r, S_RESOLVE, fd, v->index);
		sys1(SYS_close, dfd);
		dfd = fd;
	}
	return (s32)dfd;
}

static s32 last_slash(const char *path)
{
	s32 i, at = 0;
	for (i = 0; path[i]; i++)
		if (path[i] == '/') at = i;
	return at;
}

/* PATH's parent directory (made where missing) and its last component. */
static s32 parent_of(struct view *v, const char *path, const char **name)
{
	s32 at = last_slash(path);
	*name = path + at + 1;
	return ensure_dir(v, path, at);
}

/* The mount point PATH inside the root (a directory, or a file when FILE),
 * made if missing. Returns its O_PATH fd. */
static s32 mount_point(struct view *v, const char *path, int file)
{
	const char *name;
	s64 fd, pfd;
	fd = in_root(v, path, O_PATH);
	if (fd != -SB_E_NOENT) {
		if (fd < 0) sb_fail(v->r, S_RESOLVE, fd, v->index);
		return (s32)fd;
	}
	pfd = parent_of(v, path, &name);
	if (file) {
		fd = sys4(SYS_openat, pfd, (s64)name, SB_O_CREAT | SB_O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0444);
		if (fd >= 0) sys1(SYS_close, fd);
	} else
		fd = sys3(SB_mkdirat, pfd, (s64)name, 0755);
	if (fd < 0 && fd != -SB_E_EXIST) sb_fail(v->r, S_MKDIR, fd, v->index);
	if (fd >= 0) record_made(v, (s32)pfd, name, !file);
	sys1(SYS_close, pfd);
	fd = in_root(v, path, O_PATH);
	if (fd < 0) sb_fail(v->r, S_RESOLVE, fd, v->index);
	return (s32)fd;
}

static void attach(struct view *v, s32 mfd, s32 target)
{
	s64 rc = sys5(SYS_move_mount, mfd, (s64)"", target, (s64)"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	if (rc < 0) sb_fail(v->r, S_MOVE_MOUNT, rc, v->index);
}

/* A mount on "/" covers the root: from now on the root is that mount (a
 * resolution starting at the old root's fd would not see it). */
static void attach_op(struct view *v, s32 mfd, s32 target, const char *path)
{
	s64 fd;
	attach(v, mfd, target);
	if (path[0] == '/' && path[1] == 0) {
		fd = sys3(SYS_fcntl, mfd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0) sb_fail(v->r, S_RESOLVE, fd, v->index);
		sys1(SYS_close, v->root);
		v->root = (s32)fd;
	}
}

static void set_attr(struct view *v, s32 mfd, u64 set, int recursive)
{
	struct mount_attr_ a;
	s64 rc;
	mem_zero(&a, sizeof a);
	a.attr_set = set;
	rc = sys5(SYS_mount_setattr, mfd, (s64)"", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), (s64)&a, sizeof a);
	if (rc < 0) sb_fail(v->r, S_SETATTR, rc, v->index);
}

/* A new filesystem of TYPE with string options KEYS[i]=VALS[i] ("" = a flag), detached. */
static s32 new_fs(struct view *v, const char *type, const char **keys, const char **vals, u64 attrs)
{
	s64 fd, mfd, rc = 0;
	int i;
	fd = sys2(SB_fsopen, (s64)type, FSOPEN_CLOEXEC);
	if (fd < 0) sb_fail(v->r, S_FSMOUNT, fd, v->index);
	for (i = 0; keys && keys[i] && rc >= 0; i++)
		rc = vals[i][0] ? sys5(SB_fsconfig, fd, FSCONFIG_SET_STRING, (s64)keys[i], (s64)vals[i], 0)
				: sys5(SB_fsconfig, fd, FSCONFIG_SET_FLAG, (s64)keys[i], 0, 0);
	if (rc >= 0) rc = sys5(SB_fsconfig, fd, FSCONFIG_CMD_CREATE, 0, 0, 0);
	if (rc < 0) sb_fail(v->r, S_FSMOUNT, rc, v->index);
	mfd = sys3(SB_fsmount, fd, FSMOUNT_CLOEXEC, attrs);
	sys1(SYS_close, fd);
	if (mfd < 0) sb_fail(v->r, S_FSMOUNT, mfd, v->index);
	add_fresh(v, (s32)mfd);
	return (s32)mfd;
}

/* Decimal or octal text of N into out. */
static void num_text(char *out, u64 n, int base)
{
	char d[24];
	int k = 0;
	do { d[k++] = (char)('0' + n % base); n /= base; } while (n);
	if (base == 8) *out++ = '0';
	while (k) *out++ = d[--k];
	*out = 0;
}

static s32 tmpfs(struct view *v, u64 size, s32 mode, u64 attrs)
{
	char sz[24], md[24];
	const char *keys[3], *vals[3];
	int n = 0;
	if (size) { num_text(sz, size, 10); keys[n] = "size"; vals[n++] = sz; }
	num_text(md, (u64)(mode >= 0 ? mode : 0755), 8);
	keys[n] = "mode"; vals[n++] = md;
	keys[n] = 0;
	return new_fs(v, "tmpfs", keys, vals, attrs);
}

/* Clone SRC (a path in this mount namespace) with its submounts, checked to
 * be the file the monitor resolved on the host (EXPECT). */
static s32 clone_tree(struct view *v, const char *src, s32 expect, u64 attrs)
{
	struct kstatx a, b;
	char host[PATH_BYTES + 16];
	const char *pre = "/oldroot";
	s32 k = 0, i;
	s64 tfd;
	while (*pre) host[k++] = *pre++;
	for (i = 0; src[i] && k < PATH_BYTES + 8; i++) host[k++] = src[i];
	host[k] = 0;
	tfd = sys3(SYS_open_tree, AT_FDCWD, (s64)host, OPEN_TREE_CLONE | AT_RECURSIVE | O_CLOEXEC);
	if (tfd < 0) sb_fail(v->r, S_OPEN_TREE, tfd, v->index);
	if (expect >= 0) {
		if (statx_at((s32)tfd, "", &a) < 0 || statx_at(expect, "", &b) < 0 || a.ino != b.ino ||
		    a.dev_major != b.dev_major || a.dev_minor != b.dev_minor)
			sb_fail(v->r, S_SOURCE_CHANGED, -SB_E_STALE, v->index);
	}
	if (attrs) set_attr(v, (s32)tfd, attrs, 1);
	return (s32)tfd;
}

static void op_bind(struct view *v, struct sop *op)
{
	struct kstatx st;
	char link[80], text[PATH_BYTES];
	const char *src = sb_str(v->r, op->source);
	s64 n;
	s32 tfd, dst;
	if (op->src < 0) {
		if ((op->flags & SF_TRY) && op->src == -SB_E_NOENT) return;
		sb_fail(v->r, S_SOURCE, op->src, v->index);
	}
	if (op->flags & SF_FD) {
		/* The fd's path on the host, by its /proc link's text (checked below to be that file). */
		link[0] = '/'; link[1] = 'o'; link[2] = 'l'; link[3] = 'd'; link[4] = 'r'; link[5] = 'o'; link[6] = 'o'; link[7] = 't';
		fd_path(link + 8, op->src); /* the host's /proc, under /oldroot */
		n = sys4(SB_readlinkat, AT_FDCWD, (s64)link, (s64)text, PATH_BYTES - 1);
		if (n < 0) sb_fail(v->r, S_SOURCE, n, v->index);
		text[n] = 0;
		src = text;
	}
	tfd = clone_tree(v, src, op->src,
			 ((op->flags & SF_RO) ? MOUNT_ATTR_RDONLY : 0) | ((op->flags & SF_DEV) ? 0 : MOUNT_ATTR_NODEV));
	statx_at(tfd, "", &st);
	dst = mount_point(v, sb_str(v->r, op->target), (st.mode & S_IFMT) != S_IFDIR);
	attach_op(v, tfd, dst, sb_str(v->r, op->target));
	sys1(SYS_close, tfd);
	sys1(SYS_close, dst);
}

/* /proc: this pid namespace's. The kernel knobs under it stay read-only
 * even to a process with every capability in the sandbox. */
static void op_proc(struct view *v, struct sop *op)
{
	static const char *const ro[] = { "sys", "sysrq-trigger", "irq", "bus", 0 };
	s32 mfd, dst, i;
	s64 sub, at;
	mfd = new_fs(v, "proc", 0, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	dst = mount_point(v, sb_str(v->r, op->target), 0);
	attach(v, mfd, dst);
	for (i = 0; ro[i]; i++) {
		sub = sys3(SYS_open_tree, mfd, (s64)ro[i], OPEN_TREE_CLONE | O_CLOEXEC);
		if (sub == -SB_E_NOENT) continue;
		if (sub < 0) sb_fail(v->r, S_OPEN_TREE, sub, v->index);
		set_attr(v, (s32)sub, MOUNT_ATTR_RDONLY, 1);
		at = sys4(SYS_openat, mfd, (s64)ro[i], O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
		if (at < 0) sb_fail(v->r, S_RESOLVE, at, v->index);
		attach(v, (s32)sub, (s32)at);
		sys1(SYS_close, sub);
		sys1(SYS_close, at);
	}
	sys1(SYS_close, mfd);
	sys1(SYS_close, dst);
}

/* A minimal /dev: the host's harmless character devices bound in (a user
 * namespace may not mknod), a private devpts, a tmpfs for shm, and links. */
static void op_dev(struct view *v, struct sop *op)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty", 0 };
	static const char *const links[][2] = { { "ptmx", "pts/ptmx" }, { "fd", "/proc/self/fd" },
						 { "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" },
						 { "stderr", "/proc/self/fd/2" }, { 0, 0 } };
	static const char *const pts_keys[] = { "newinstance", "ptmxmode", "mode", 0 };
	static const char *const pts_vals[] = { "", "0666", "0620", 0 };
	char host[32];
	s32 mfd, dst, i, k;
	s64 fd, tfd, sub;
	mfd = tmpfs(v, 0, 0755, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	dst = mount_point(v, sb_str(v->r, op->target), 0);
	attach(v, mfd, dst);
	sys1(SYS_close, dst);
	for (i = 0; nodes[i]; i++) {
		const char *pre = "/dev/";
		for (k = 0; pre[k]; k++) host[k] = pre[k];
		for (dst = 0; nodes[i][dst]; dst++) host[k + dst] = nodes[i][dst];
		host[k + dst] = 0;
		fd = sys4(SYS_openat, mfd, (s64)nodes[i], SB_O_CREAT | SB_O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0) sb_fail(v->r, S_MKDIR, fd, v->index);
		sys1(SYS_close, fd);
		tfd = clone_tree(v, host, -1, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
		fd = sys4(SYS_openat, mfd, (s64)nodes[i], O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0) sb_fail(v->r, S_RESOLVE, fd, v->index);
		attach(v, (s32)tfd, (s32)fd);
		sys1(SYS_close, tfd);
		sys1(SYS_close, fd);
	}
	for (i = 0; i < 2; i++) {
		const char *name = i ? "shm" : "pts";
		fd = sys3(SB_mkdirat, mfd, (s64)name, 0755);
		if (fd < 0) sb_fail(v->r, S_MKDIR, fd, v->index);
		sub = i ? tmpfs(v, 0, 01777, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
			: new_fs(v, "devpts", (const char **)pts_keys, (const char **)pts_vals,
				 MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
		fd = sys4(SYS_openat, mfd, (s64)name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0) sb_fail(v->r, S_RESOLVE, fd, v->index);
		attach(v, (s32)sub, (s32)fd);
		sys1(SYS_close, sub);
		sys1(SYS_close, fd);
	}
	for (i = 0; links[i][0]; i++) {
		fd = sys3(SB_symlinkat, (s64)links[i][1], mfd, (s64)links[i][0]);
		if (fd < 0) sb_fail(v->r, S_SYMLINK, fd, v->index);
	}
	sys1(SYS_close, mfd);
}

static void op_fs(struct view *v, struct sop *op)
{
	s32 mfd, dst;
	if (op->type == SOP_TMPFS)
		mfd = tmpfs(v, op->size, op->mode, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	else
		mfd = new_fs(v, "mqueue", 0, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	dst = mount_point(v, sb_str(v->r, op->target), 0);
	attach_op(v, mfd, dst, sb_str(v->r, op->target));
	sys1(SYS_close, mfd);
	sys1(SYS_close, dst);
}

static void old_fd_path(char *out, s32 fd);

/* fchmodat2 (Linux 6.6) changes the mode of an O_PATH fd itself; before
 * it, chmod through the fd's /proc link (followed to exactly that file). */
static void chmod_fd(struct view *v, s32 fd, s32 mode)
{
	char path[64];
	s64 rc = sys4(SB_fchmodat2, fd, (s64)"", mode, AT_EMPTY_PATH);
	if (rc == -SB_E_NOSYS) {
		old_fd_path(path, fd);
		rc = sys3(SYS_fchmodat, AT_FDCWD, (s64)path, mode);
	}
	if (rc < 0) sb_fail(v->r, S_CHMOD, rc, v->index);
}

/* A file with the request's bytes. O_NOFOLLOW: a symlink there is refused, not written through. */
static void op_file(struct view *v, struct sop *op)
{
	const char *name;
	const u8 *data = (const u8 *)v->r + op->data;
	u64 done = 0;
	s64 fd, pfd, n;
	pfd = parent_of(v, sb_str(v->r, op->target), &name);
	fd = sys4(SYS_openat, pfd, (s64)name, SB_O_CREAT | SB_O_TRUNC | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	sys1(SYS_close, pfd);
	if (fd < 0) sb_fail(v->r, S_WRITE, fd, v->index);
	while (done < op->size) {
		n = sys3(SYS_write, fd, (s64)(data + done), (s64)(op->size - done));
		if (n == -E_INTR) continue;
		if (n <= 0) sb_fail(v->r, S_WRITE, n ? n : -E_AGAIN, v->index);
		done += (u64)n;
	}
	n = sys2(SB_fchmod, fd, op->mode >= 0 ? op->mode : 0644);
	if (n < 0) sb_fail(v->r, S_CHMOD, n, v->index);
	/* readOnly: the file bound onto itself, that bind read-only (whoever
	 * holds capabilities inside could otherwise write it: its mode binds
	 * nobody with CAP_DAC_OVERRIDE). */
	if (op->flags & SF_RO) {
		s64 tfd = sys3(SYS_open_tree, fd, (s64)"", OPEN_TREE_CLONE | AT_EMPTY_PATH | O_CLOEXEC);
		if (tfd < 0) sb_fail(v->r, S_OPEN_TREE, tfd, v->index);
		set_attr(v, (s32)tfd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV, 0);
		attach(v, (s32)tfd, (s32)fd);
		sys1(SYS_close, tfd);
	}
	sys1(SYS_close, fd);
}

/* "/proc/self/fd/N": an fd of ours as a path the kernel resolves to
 * exactly that directory (the host's /proc is under the old root). */
static void old_fd_path(char *out, s32 fd)
{
	const char *pre = "/oldroot";
	while (*pre) *out++ = *pre++;
	fd_path(out, fd);
}

/* A host directory, opened in this mount namespace by its text (overlayfs
 * takes only mounts of the caller's namespace), checked to be the one the
 * monitor resolved (EXPECT), as clone_tree does. */
static s32 host_dir(struct view *v, const char *src, s32 expect)
{
	struct kstatx a, b;
	char host[PATH_BYTES + 16];
	const char *pre = "/oldroot";
	s32 k = 0, i;
	s64 fd;
	while (*pre) host[k++] = *pre++;
	for (i = 0; src[i] && k < PATH_BYTES + 8; i++) host[k++] = src[i];
	host[k] = 0;
	fd = sys4(SYS_openat, AT_FDCWD, (s64)host, O_PATH | O_DIRECTORY_ | O_CLOEXEC, 0);
	if (fd < 0) sb_fail(v->r, S_RESOLVE, fd, v->index);
	if (statx_at((s32)fd, "", &a) < 0 || statx_at(expect, "", &b) < 0 || a.ino != b.ino ||
	    a.dev_major != b.dev_major || a.dev_minor != b.dev_minor)
		sb_fail(v->r, S_SOURCE_CHANGED, -SB_E_STALE, v->index);
	return (s32)fd;
}

/*
 * overlayfs: layers (top first, as the kernel wants them; the request has
 * them bottom first, as bwrap's --overlay-src), and an upper and work
 * directory from the host, or on a fresh tmpfs, or none (read-only). The
 * kernel is given each directory's fd as a /proc path, so it mounts what
 * was checked. In a user namespace (ours always is) overlayfs keeps its
 * metadata in user.* xattrs: "userxattr" (Linux 5.11). Layers are added one
 * by one ("lowerdir+", Linux 6.7: fsconfig takes at most 256 bytes a
 * value), or, before that, as one "lowerdir" list.
 */
static void op_overlay(struct view *v, struct sop *op)
{
	char path[64], list[256], name[32];
	u32 *offs = (u32 *)((char *)v->r + op->source);
	s32 *fds = (s32 *)((char *)v->r + op->data);
	s32 mine[OVERLAY_MAX + 2];
	s32 n = (s32)op->size, k, len = 0, j, dst;
	s64 fd, mfd, rc = 0, tfs = -1, at;
	if (n < 1 || n > OVERLAY_MAX) sb_fail(v->r, S_FSMOUNT, -E_INVAL, v->index);
	for (k = 0; k < n + 2; k++) mine[k] = fds[k] >= 0 ? host_dir(v, sb_str(v->r, offs[k]), fds[k]) : -1;
	if (op->flags & SF_TMP) {
		/* The upper layer on a tmpfs of its own, mounted on the base (which
		 * is detached with the old root at the end: nobody else sees it). */
		tfs = tmpfs(v, 0, 0755, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
		name[0] = '/';
		num_text(name + 1, (u64)v->index, 10);
		rc = sys3(SB_mkdirat, AT_FDCWD, (s64)name, 0700);
		at = rc < 0 ? rc : sys4(SYS_openat, AT_FDCWD, (s64)name, O_PATH | O_DIRECTORY_ | O_CLOEXEC, 0);
		if (at < 0) sb_fail(v->r, S_MKDIR, at, v->index);
		attach(v, (s32)tfs, (s32)at);
		sys1(SYS_close, at);
		if ((rc = sys3(SB_mkdirat, tfs, (s64)"upper", 0755)) < 0 || (rc = sys3(SB_mkdirat, tfs, (s64)"work", 0755)) < 0)
			sb_fail(v->r, S_MKDIR, rc, v->index);
		mine[n] = (s32)sys4(SYS_openat, tfs, (s64)"upper", O_PATH | O_CLOEXEC, 0);
		mine[n + 1] = (s32)sys4(SYS_openat, tfs, (s64)"work", O_PATH | O_CLOEXEC, 0);
		if (mine[n] < 0 || mine[n + 1] < 0) sb_fail(v->r, S_RESOLVE, mine[n] < 0 ? mine[n] : mine[n + 1], v->index);
		sys1(SYS_close, tfs);
	}
	fd = sys2(SB_fsopen, (s64)"overlay", FSOPEN_CLOEXEC);
	if (fd < 0) sb_fail(v->r, S_FSMOUNT, fd, v->index);
	for (k = n - 1; k >= 0 && rc >= 0; k--) {
		old_fd_path(path, mine[k]);
		rc = sys5(SB_fsconfig, fd, FSCONFIG_SET_STRING, (s64)"lowerdir+", (s64)path, 0);
		if (rc == -E_INVAL && k == n - 1) {
			/* No "lowerdir+": the whole list at once, if it fits. */
			for (k = n - 1; k >= 0; k--) {
				old_fd_path(path, mine[k]);
				j = str_len(path);
				if (len + j + 2 > (s32)sizeof list) sb_fail(v->r, S_FSMOUNT, -E_NAMETOOLONG, v->index);
				if (len) list[len++] = ':';
				for (j = 0; path[j]; j++) list[len++] = path[j];
			}
			list[len] = 0;
			rc = sys5(SB_fsconfig, fd, FSCONFIG_SET_STRING, (s64)"lowerdir", (s64)list, 0);
			break;
		}
	}
	if (rc >= 0 && mine[n] >= 0) {
		old_fd_path(path, mine[n]);
		rc = sys5(SB_fsconfig, fd, FSCONFIG_SET_STRING, (s64)"upperdir", (s64)path, 0);
		old_fd_path(path, mine[n + 1]);
		if (rc >= 0) rc = sys5(SB_fsconfig, fd, FSCONFIG_SET_STRING, (s64)"workdir", (s64)path, 0);
	}
	if (rc >= 0) rc = sys5(SB_fsconfig, fd, FSCONFIG_SET_FLAG, (s64)"userxattr", 0, 0);
	if (rc >= 0) rc = sys5(SB_fsconfig, fd, FSCONFIG_CMD_CREATE, 0, 0, 0);
	if (rc < 0) sb_fail(v->r, S_FSMOUNT, rc, v->index);
	mfd = sys3(SB_fsmount, fd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV | ((op->flags & SF_RO) ? MOUNT_ATTR_RDONLY : 0));
	sys1(SYS_close, fd);
	if (mfd < 0) sb_fail(v->r, S_FSMOUNT, mfd, v->index);
	for (k = 0; k < n + 2; k++)
		if (mine[k] >= 0) sys1(SYS_close, mine[k]);
	add_fresh(v, (s32)mfd);
	dst = mount_point(v, sb_str(v->r, op->target), 0);
	attach_op(v, (s32)mfd, dst, sb_str(v->r, op->target));
	sys1(SYS_close, mfd);
	sys1(SYS_close, dst);
}

/* A symlink; one already there with the same text is fine. */
static void op_symlink(struct view *v, struct sop *op)
{
	char have[PATH_BYTES];
	const char *name, *text = sb_str(v->r, op->source);
	s64 pfd, rc, n;
	s32 i;
	pfd = parent_of(v, sb_str(v->r, op->target), &name);
	rc = sys3(SB_symlinkat, (s64)text, pfd, (s64)name);
	if (rc == -SB_E_EXIST) {
		n = sys4(SB_readlinkat, pfd, (s64)name, (s64)have, PATH_BYTES - 1);
		if (n >= 0) {
			have[n] = 0;
			for (i = 0; text[i] && text[i] == have[i]; i++) {}
			if (text[i] == have[i]) rc = 0;
		}
	}
	sys1(SYS_close, pfd);
	if (rc < 0) sb_fail(v->r, S_SYMLINK, rc, v->index);
}

static void op_other(struct view *v, struct sop *op)
{
	const char *path = sb_str(v->r, op->target);
	s64 fd;
	if (op->type == SOP_DIR) {
		v->asked = 1;
		fd = ensure_dir(v, path, str_len(path));
		v->asked = 0;
		if (op->mode >= 0) chmod_fd(v, (s32)fd, op->mode);
	} else {
		fd = in_root(v, path, O_PATH);
		if (fd < 0) sb_fail(v->r, S_RESOLVE, fd, v->index);
		if (op->type == SOP_CHMOD) chmod_fd(v, (s32)fd, op->mode);
		else set_attr(v, (s32)fd, MOUNT_ATTR_RDONLY, 0); /* SOP_REMOUNT_RO: that mount only, as bind remounts do */
	}
	sys1(SYS_close, fd);
}

/*
 * Build the view and make it our root. Runs in a mount namespace of our own
 * (copied from the host's, owned by the sandbox's user namespace).
 */
static void build_view(struct sreq *r)
{
	struct view v;
	struct sop *ops = (struct sop *)((char *)r + r->ops);
	s64 rc, mfd;
	s32 i, base;
	mem_zero(&v, sizeof v);
	v.r = r;
	v.index = -1;
	/* Nothing we mount may reach back into the namespace we copied: every
	 * mount private (a copy made for a less privileged user namespace has
	 * shared mounts turned into slaves already; private also stops what
	 * the host mounts later from showing up in the view). */
	rc = sys5(SYS_mount, (s64)"none", (s64)"/", 0, MS_REC | MS_PRIVATE, 0);
	if (rc < 0) sb_fail(r, S_PROPAGATION, rc, -1);
	/* A base to stand on: a tmpfs on /tmp, made our root with the host's
	 * tree under /oldroot (pivot_root, as into a chroot). The host's /tmp is
	 * no longer covered there (the tmpfs moved to "/"), so every host path
	 * is /oldroot + its text, and the host's /proc stays visible (proc in a
	 * user namespace mounts only where a full one is). */
	mfd = tmpfs(&v, 0, 0755, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	rc = sys4(SYS_openat, AT_FDCWD, (s64)"/tmp", O_PATH | O_DIRECTORY_ | O_CLOEXEC, 0);
	if (rc < 0) sb_fail(r, S_NEWROOT, rc, -1);
	attach(&v, (s32)mfd, (s32)rc);
	sys1(SYS_close, rc);
	rc = sys3(SB_mkdirat, mfd, (s64)"oldroot", 0700);
	if (rc >= 0) rc = sys3(SB_mkdirat, mfd, (s64)"newroot", 0755);
	if (rc >= 0) rc = sys1(SB_fchdir, mfd);
	if (rc >= 0) rc = sys2(SB_pivot_root, (s64)".", (s64)"oldroot");
	if (rc >= 0) rc = sys1(SYS_chdir, (s64)"/");
	if (rc < 0) sb_fail(r, S_NEWROOT, rc, -1);
	base = (s32)mfd;
	/* The view's root: its own tmpfs on /newroot. */
	mfd = tmpfs(&v, 0, 0755, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	rc = sys4(SYS_openat, base, (s64)"newroot", O_PATH | O_DIRECTORY_ | O_CLOEXEC, 0);
	if (rc < 0) sb_fail(r, S_NEWROOT, rc, -1);
	attach(&v, (s32)mfd, (s32)rc);
	sys1(SYS_close, rc);
	sys1(SYS_close, base);
	v.root = (s32)mfd; /* after move_mount, the fd names the attached mount's root */
	for (i = 0; i < r->nops; i++) {
		struct sop *op = &ops[i];
		v.index = i;
		switch (op->type) {
		case SOP_BIND: op_bind(&v, op); break;
		case SOP_PROC: op_proc(&v, op); break;
		case SOP_DEV: op_dev(&v, op); break;
		case SOP_TMPFS:
		case SOP_MQUEUE: op_fs(&v, op); break;
		case SOP_FILE: op_file(&v, op); break;
		case SOP_SYMLINK: op_symlink(&v, op); break;
		case SOP_OVERLAY: op_overlay(&v, op); break;
		default: op_other(&v, op); break;
		}
	}
	v.index = -1;
	/* pivot_root(".", "."): the view goes to "/", the base (with the host's
	 * tree under it) is stacked on it and detached at once, recursively:
	 * nothing of the host's tree stays reachable (our cwd and root move
	 * with the pivot). */
	rc = sys1(SB_fchdir, v.root);
	if (rc >= 0) rc = sys2(SB_pivot_root, (s64)".", (s64)".");
	if (rc >= 0) rc = sys2(SYS_umount2, (s64)".", MNT_DETACH);
	if (rc >= 0) rc = sys1(SYS_chdir, (s64)"/");
	if (rc < 0) sb_fail(r, S_PIVOT, rc, -1);
	sys1(SYS_close, v.root);
}
