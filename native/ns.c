/*
 * Namespaces as descriptors and as files: open a namespace
 * checked, bind mount one onto a file (a pin, as `ip netns attach` and
 * `unshare --net=FILE` make), and remove exactly such a pin. Runs on the
 * caller's thread in the caller's mount namespace; paths arrive validated
 * from src/ns/. Every path we act on twice is held as an fd in between and
 * reached again through /proc/self/fd/N, and every path is resolved once
 * (resolve.c) to its directory's descriptor, so a rename or symlink swap by
 * another uid cannot redirect a later step.
 */
/* O_PATH, AT_*, STATX_*, S_IF*, struct kstatx: resolve.c. O_NOFOLLOW differs
 * per arch (x86_64 0400000, arm64 0100000): syscalls_<arch>.h. */
#define O_CREAT 0100
#define O_EXCL 0200
#define MNT_DETACH 2
#define OPEN_TREE_CLONE_ 1
#define MOVE_MOUNT_F_EMPTY_PATH_ 0x4
#define MOVE_MOUNT_T_EMPTY_PATH_ 0x40
#define NS_GET_NSTYPE 0xb703
#define NSFS_MAGIC 0x6e736673
#define E_NOTTY 25
#define E_BUSY 16

/* statfs f_type is the first word of struct statfs on every 64-bit arch. */
static s64 is_nsfs(s32 fd)
{
	u64 st[16];
	s64 rc;
	mem_zero(st, sizeof st);
	rc = sys2(SYS_fstatfs, fd, (s64)st);
	if (rc < 0) return rc;
	return (u32)st[0] == NSFS_MAGIC;
}

/*
 * Open PATH as a namespace: the fd, and its CLONE_NEW* type in *type.
 * 1. O_PATH first (following links: /proc/PID/ns/X is a magic link): no
 *    open side effects, so a FIFO cannot block us nor a device wake up.
 * 2. fstatfs must say nsfs: anything else is -ENOTTY (what NS_GET_NSTYPE
 *    answers for a file that is no namespace) and never reaches JS.
 * 3. Reopen it O_RDONLY through /proc/self/fd: setns(2) and the ioctls
 *    refuse O_PATH descriptors.
 * 4. NS_GET_NSTYPE (4.11).
 * PROC says PATH is a /proc/PID/ns/X we built (a helper's user namespace,
 * a process's namespaces to enter): always a namespace link, so steps 1-3
 * are one plain open. The one op that opens a namespace.
 */
s32 bun_userns_ns_open(const char *path, s32 proc, s32 *type)
{
	char self[32];
	s64 pfd, fd, t;
	if (proc) { /* /proc/PID/ns/X, built by us: always an nsfs link, opened directly */
		fd = sys4(SYS_openat, AT_FDCWD, (s64)path, O_RDONLY | O_CLOEXEC, 0);
		if (fd < 0) return (s32)fd;
		goto typed;
	}
	pfd = sys4(SYS_openat, AT_FDCWD, (s64)path, O_PATH | O_CLOEXEC, 0);
	if (pfd < 0) return (s32)pfd;
	t = is_nsfs((s32)pfd);
	if (t <= 0) { sys1(SYS_close, pfd); return t < 0 ? (s32)t : -E_NOTTY; }
	fd_path(self, (s32)pfd);
	fd = sys4(SYS_openat, AT_FDCWD, (s64)self, O_RDONLY | O_CLOEXEC, 0);
	sys1(SYS_close, pfd);
	if (fd < 0) return (s32)fd;
typed:
	t = sys3(SYS_ioctl, fd, NS_GET_NSTYPE, 0);
	if (t < 0) { sys1(SYS_close, fd); return (s32)t; }
	*type = (s32)t;
	return (s32)fd;
}

/*
 * statx for validation before anything is created: of PATH without
 * following a last symlink, or of FD when PATH is "". out[0] the file type
 * bits, out[1] 1 if it is the root of a mount, out[2..3] the id (5.8) of
 * the mount it is on, out[4..5] its inode (a namespace's identity), out[6]
 * its owner, out[7] its size (clipped to 2^32-1): the messages' pre-checks.
 */
s32 bun_userns_ns_stat(const char *path, s32 fd, u32 *out)
{
	struct kstatx st;
	s64 rc;
	mem_zero(&st, sizeof st);
	rc = sys5(SYS_statx, path[0] ? AT_FDCWD : fd, (s64)path, path[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH,
		  STATX_TYPE | STATX_INO | STATX_MNT_ID | STATX_UID | STATX_SIZE, (s64)&st);
	if (rc < 0) return (s32)rc;
	out[0] = st.mode & S_IFMT;
	out[1] = (st.attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	out[2] = (u32)st.mnt_id;
	out[3] = (u32)(st.mnt_id >> 32);
	out[4] = (u32)st.ino;
	out[5] = (u32)(st.ino >> 32);
	out[6] = st.uid;
	out[7] = st.size > 0xffffffffu ? 0xffffffffu : (u32)st.size;
	return 0;
}

/* Its steps (NSSTEPS), refusals (PIN_WHYS) and flags (PIN_*) are the contract's: native/abi.h. */

/* The request of a pin and an unpin (src/ns/ns-codec.ts mirrors it). */
struct pin_req {
	s32 step;        /*  0 out: enum ns_step that failed, 0 when done: the head (fail.c) */
	s32 err;         /*  4 out: its errno */
	s32 why;         /*  8 out: enum pin_why */
	u32 owner;       /* 12 out: uid of the refused symlink or file */
	s32 flags;       /* 16 in: PIN_* */
	s32 pad;         /* 20 */
	u64 mnt_id;      /* 24 pin out, unpin in (0: not known) */
	u64 ns_ino;      /* 32 pin out, unpin in (0: not known) */
	u64 file_ino;    /* 40 pin out, unpin in (0: not known) */
	u32 dev_major;   /* 48 the file's device, with file_ino */
	u32 dev_minor;   /* 52 */
	s32 unlinked;    /* 56 unpin out: 1 if the file was removed */
	s32 pad2;        /* 60 */
	char path[PATH_BYTES]; /* 64 in: PATH; out after NS_RESOLVE: the component that refused */
};

/* A refused walk: report where, over the caller's copy of the path. */
static s32 walk_failed(struct pin_req *r, struct walk *w, s32 rc)
{
	s32 i;
	r->why = w->owner != ~0u ? WHY_SYMLINK : WHY_NONE;
	r->owner = w->owner;
	for (i = 0; i <= w->at_len; i++) r->path[i] = w->at[i];
	return (s32)fail(r, NS_RESOLVE, rc);
}

static s32 same_file(struct kstatx *a, struct pin_req *r)
{
	return a->ino == r->file_ino && a->dev_major == r->dev_major && a->dev_minor == r->dev_minor;
}

/*
 * Pin namespace fd NSFD onto r->path. Returns 0 or -errno, with the head
 * (fail.c) and r->why; on success r says what was made (mount id,
 * namespace, file).
 * 1. Resolve the directory once (resolve.c): every later step is relative
 *    to its descriptor, so the pin lands in the directory that was named.
 * 2. The target: created O_EXCL|O_NOFOLLOW mode 0444 as util-linux does
 *    (an existing file or any symlink is EEXIST: never reuse or follow what
 *    someone else put there), or an existing one opened O_PATH|O_NOFOLLOW.
 * 3. It must be a regular file and not already a mount root (a bind of an
 *    nsfs inode needs a non-directory, and a second pin on top would hide
 *    the first); an existing one must be the caller's own (a file of
 *    another uid is never hidden under a pin) and empty, unless the caller
 *    asked to bind over content (PIN_OVERWRITE).
 * 4. open_tree(OPEN_TREE_CLONE) of NSFD and move_mount onto the target's
 *    descriptor (MOVE_MOUNT_T_EMPTY_PATH): the namespace we checked, onto
 *    the inode we checked, whatever its name is by now. The kernel refuses a
 *    mount namespace bound where it could loop (ELOOP: not newer than ours).
 * 5. statx of the attached tree: its mount id, which unpin compares.
 * 6. On failure a file we created is unlinked, if the name in that same
 *    directory still is that file.
 */
s32 bun_userns_ns_pin(s32 nsfd, struct pin_req *r)
{
	struct walk w;
	struct kstatx st, now;
	char name[256];
	s64 dfd, tfd, tree = -1, rc;
	s32 create = r->flags & PIN_CREATE, step;
	head_clear(r);
	r->why = WHY_NONE;
	dfd = walk_path(r->path, 0, name, &w);
	if (dfd < 0) return walk_failed(r, &w, (s32)dfd);
	tfd = create ? sys4(SYS_openat, dfd, (s64)name, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444)
		     : sys4(SYS_openat, dfd, (s64)name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
	if (tfd < 0) { sys1(SYS_close, dfd); return (s32)fail(r, NS_OPEN, tfd); }
	step = NS_CHECK;
	rc = statx_at((s32)tfd, "", &st);
	if (rc == 0 && (st.mode & S_IFMT) != S_IFREG) { rc = -E_EXIST; r->why = WHY_NOT_FILE; }
	else if (rc == 0 && (st.attributes & STATX_ATTR_MOUNT_ROOT)) { rc = -E_BUSY; r->why = WHY_MOUNTED; }
	else if (rc == 0 && !create && st.size != 0 && !(r->flags & PIN_OVERWRITE)) { rc = -E_EXIST; r->why = WHY_NOT_EMPTY; }
	else if (rc == 0 && !create && st.uid != (u32)sys0(SYS_geteuid)) {
		rc = -E_PERM;
		r->why = WHY_OWNER;
		r->owner = st.uid;
	}
	if (rc == 0) {
		r->file_ino = st.ino;
		r->dev_major = st.dev_major;
		r->dev_minor = st.dev_minor;
		step = NS_MOUNT;
		tree = sys3(SYS_open_tree, nsfd, (s64)"", OPEN_TREE_CLONE_ | AT_EMPTY_PATH | O_CLOEXEC);
		rc = tree < 0 ? tree
			      : sys5(SYS_move_mount, tree, (s64)"", tfd, (s64)"",
				     MOVE_MOUNT_F_EMPTY_PATH_ | MOVE_MOUNT_T_EMPTY_PATH_);
	}
	if (rc == 0) {
		/* The tree's fd is the new mount's root: its id; the nsfs inode is the namespace. */
		rc = statx_at((s32)tree, "", &now);
		r->mnt_id = now.mnt_id;
		r->ns_ino = now.ino;
	}
	if (tree >= 0) sys1(SYS_close, tree); /* attached: the mount stays; detached: freed with its fd */
	if (rc < 0 && create && statx_at((s32)tfd, "", &st) == 0 && statx_at((s32)dfd, name, &now) == 0 &&
	    now.ino == st.ino && now.dev_major == st.dev_major && now.dev_minor == st.dev_minor)
		sys3(SYS_unlinkat, dfd, (s64)name, 0);
	sys1(SYS_close, tfd);
	sys1(SYS_close, dfd);
	return rc < 0 ? (s32)fail(r, step, rc) : 0;
}

/*
 * Remove the pin at r->path. Returns 0 or -errno with the head (fail.c) and r->why.
 * 1. Resolve the directory once, as the pin did.
 * 2. Open the name O_PATH|O_NOFOLLOW: the top mount there, not a link's target.
 * 3. It must be an nsfs inode at a mount root: with O_NOFOLLOW only a bind
 *    mount of a namespace is that, so no other mount is ever unmounted here
 *    (-EINVAL). With a remembered pin (r->mnt_id, r->ns_ino), it must be
 *    that very mount of that namespace; if the name is the remembered file,
 *    uncovered (someone unmounted it), only the unlink is left to do.
 * 4. umount2(MNT_DETACH) through /proc/self/fd/N, the mount we checked, as
 *    `ip netns delete` does: a process inside keeps the namespace alive, the
 *    name is free at once.
 * 5. The file now uncovered is unlinked only if it is the one the pin
 *    created (PIN_UNLINK: the remembered inode) or, for a pin made by
 *    another call (PIN_UNLINK_MADE), what a pin creates: an empty regular
 *    file, one link, no write permission, the caller's. unlinkat is by name:
 *    whoever could swap another file in between the check and the unlink
 *    could already have removed that file itself (the same rights on its
 *    directory). The kernel refuses a mountpoint (EBUSY: a pin below stays).
 */
s32 bun_userns_ns_unpin(struct pin_req *r)
{
	struct walk w;
	struct kstatx st;
	char name[256], self[32];
	s64 dfd, fd, rc;
	s32 step;
	head_clear(r);
	r->why = WHY_NONE;
	r->unlinked = 0;
	dfd = walk_path(r->path, 0, name, &w);
	if (dfd < 0) return walk_failed(r, &w, (s32)dfd);
	fd = sys4(SYS_openat, dfd, (s64)name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0) { sys1(SYS_close, dfd); return (s32)fail(r, NS_OPEN, fd); }
	step = NS_CHECK;
	rc = statx_at((s32)fd, "", &st);
	if (rc == 0) rc = is_nsfs((s32)fd);
	if (rc == 0 && r->file_ino && same_file(&st, r)) rc = 0; /* our file, uncovered: only the unlink is left */
	else if (rc == 0 || (rc > 0 && !(st.attributes & STATX_ATTR_MOUNT_ROOT))) { rc = -E_INVAL; r->why = WHY_NOT_PIN; }
	else if (rc > 0 && ((r->mnt_id && st.mnt_id != r->mnt_id) || (r->ns_ino && st.ino != r->ns_ino))) {
		rc = -E_INVAL;
		r->why = WHY_OTHER_PIN;
	}
	if (rc > 0) {
		step = NS_UMOUNT;
		fd_path(self, (s32)fd);
		rc = sys2(SYS_umount2, (s64)self, MNT_DETACH);
	}
	sys1(SYS_close, fd);
	if (rc < 0 || !(r->flags & (PIN_UNLINK | PIN_UNLINK_MADE))) {
		sys1(SYS_close, dfd);
		return rc < 0 ? (s32)fail(r, step, rc) : 0;
	}
	step = NS_UNLINK;
	rc = statx_at((s32)dfd, name, &st);
	if (rc == 0) {
		s32 ours = (r->flags & PIN_UNLINK)
				   ? r->file_ino && same_file(&st, r)
				   : (st.mode & S_IFMT) == S_IFREG && st.size == 0 && st.nlink == 1 && (st.mode & 0222) == 0 &&
					     st.uid == (u32)sys0(SYS_geteuid);
		if (ours) {
			rc = sys3(SYS_unlinkat, dfd, (s64)name, 0);
			if (rc == 0) r->unlinked = 1;
		} else r->why = WHY_KEPT;
	} else if (rc == -E_NOENT) rc = 0; /* gone already: nothing of ours is left */
	sys1(SYS_close, dfd);
	return rc < 0 ? (s32)fail(r, step, rc) : 0;
}
