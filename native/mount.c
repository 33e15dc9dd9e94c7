/*
 * Idmapped mounts: the new mount API, in the order it must run.
 *
 *   open_tree(OPEN_TREE_CLONE)  a detached copy of SOURCE's mount (tree)
 *   mount_setattr(IDMAP, ...)   idmap it: only legal while it is detached
 *   move_mount(F_EMPTY_PATH)    attach it on TARGET
 *   umount2                     take a mount away again
 *
 * SOURCE and TARGET's directory are resolved once (resolve.c) and acted on
 * as descriptors, so another uid swapping a component (a symlink, a
 * renameat2 RENAME_EXCHANGE) cannot point a step at a tree or a place that
 * was not named.
 *
 * A failure returns -errno with the request's head (fail.c) naming the step
 * (MSTEPS: open_tree, mount_setattr, move_mount, umount, resolve when the
 * walk refused a component, its path then written over the request's and a
 * refused symlink's owner beside it; other_mount when the name is a mount
 * root but not the mount the caller attached), so the caller can say which
 * call refused.
 */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; };
#endif
#define AT_RECURSIVE 0x8000
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#define UMOUNT_NOFOLLOW 0x8


/* What src/mount/mount-codec.ts fills (the offsets are native/abi.h's, asserted in contract.c). */
struct mount_req {
	s32 step;        /*  0 out: enum mstep that failed: the head (fail.c) */
	s32 err;         /*  4 out: its errno */
	u32 owner;       /*  8 out: uid of a refused symlink */
	s32 userns_fd;   /* 12 the user namespace whose maps the mount takes */
	u64 attr_set;    /* 16 MOUNT_ATTR_* to set, MOUNT_ATTR_IDMAP among them */
	u64 attr_clr;    /* 24 MOUNT_ATTR_* to clear (MOUNT_ATTR__ATIME with an atime mode) */
	u64 propagation; /* 32 MS_PRIVATE / MS_SLAVE / MS_SHARED / MS_UNBINDABLE, or 0 */
	s32 recursive;   /* 40 1: clone and idmap SOURCE's submounts too */
	s32 pad;         /* 44 */
	char path[PATH_BYTES]; /* 48 SOURCE, NUL-terminated; out after a refused walk: the component */
};

/* What attach and umount take: TARGET, and the same report of a refused walk. */
struct target_req {
	s32 step;        /*  0 out: enum mstep that failed: the head (fail.c) */
	s32 err;         /*  4 out: its errno */
	u32 owner;       /*  8 out: uid of a refused symlink */
	s32 fd;          /* 12 in: the tree to attach */
	s32 flags;       /* 16 in: umount2 flags */
	s32 pad;         /* 20 */
	u64 mnt_id;      /* 24 attach out: the attached mount's id; umount in: the one to remove (0: any) */
	char path[PATH_BYTES]; /* 32 TARGET; out after a refused walk: the component */
};

/* A refused walk: the component into PATH, the owner into *OWNER, the step into the head. */
static s32 mount_walk_failed(void *head, struct walk *w, char *path, u32 *owner, s64 rc)
{
	s32 i;
	for (i = 0; i <= w->at_len; i++) path[i] = w->at[i];
	*owner = w->owner;
	return (s32)fail(head, MSTEP_RESOLVE, rc);
}


/*
 * A detached, idmapped clone of r->path: its fd (O_CLOEXEC), or a failure.
 * Never attached: on any failure the fd is closed, and the kernel frees a
 * detached tree with its last fd, so nothing is left mounted anywhere.
 */
s32 bun_userns_open_tree_idmap(struct mount_req *r)
{
	struct mount_attr attr;
	struct walk w;
	s64 src, fd, rc;
	u32 rec = r->recursive ? AT_RECURSIVE : 0;
	head_clear(r);
	/* SOURCE resolved once, to a descriptor of the top mount at its end. */
	src = walk_path(r->path, 1, 0, &w);
	if (src < 0) return mount_walk_failed(r, &w, r->path, &r->owner, src);
	/* OPEN_TREE_CLONE: a copy, not SOURCE's own mount, so changing its
	 * attributes cannot touch SOURCE; AT_EMPTY_PATH: of the descriptor just
	 * resolved, not of a name again; AT_RECURSIVE copies submounts too (a
	 * plain bind's rule); O_CLOEXEC: exec'd programs never see it. */
	fd = sys3(SYS_open_tree, src, (s64)"", OPEN_TREE_CLONE | AT_EMPTY_PATH | O_CLOEXEC | rec);
	sys1(SYS_close, src);
	if (fd < 0) return (s32)fail(r, MSTEP_OPEN_TREE, fd);
	/* MOUNT_ATTR_IDMAP is accepted only on a detached mount that is not yet
	 * idmapped (the kernel refuses it on an attached one: EINVAL/EPERM);
	 * AT_RECURSIVE applies it to every mount of the cloned tree. */
	mem_zero(&attr, sizeof attr);
	attr.attr_set = r->attr_set | MOUNT_ATTR_IDMAP;
	attr.attr_clr = r->attr_clr;
	attr.propagation = r->propagation;
	attr.userns_fd = (u64)(u32)r->userns_fd;
	rc = sys5(SYS_mount_setattr, fd, (s64)"", AT_EMPTY_PATH | rec, (s64)&attr, sizeof attr);
	if (rc < 0) {
		sys1(SYS_close, fd);
		return (s32)fail(r, MSTEP_SETATTR, rc);
	}
	return (s32)fd;
}

/*
 * Attach the tree r->fd on r->path.
 * 1. TARGET's directory resolved once; its last component opened
 *    O_PATH|O_NOFOLLOW relative to it (the top mount there, if any).
 * 2. A symlink there is refused (ELOOP): a mount never lands on a link's
 *    target, nor on the link itself.
 * 3. move_mount(MOVE_MOUNT_T_EMPTY_PATH) onto that descriptor: the place
 *    checked is the place mounted on.
 * 4. statx of the tree's fd, the attached mount's root: its id into
 *    r->mnt_id, so an unmount through the handle removes this mount only
 *    (STATX_MNT_ID_UNIQUE where the kernel has it: never reused).
 */
s32 bun_userns_attach_tree(struct target_req *r)
{
	struct walk w;
	struct kstatx st;
	char name[256];
	s64 dfd, tfd, rc;
	head_clear(r);
	dfd = walk_path(r->path, 0, name, &w);
	if (dfd < 0) return mount_walk_failed(r, &w, r->path, &r->owner, dfd);
	tfd = sys4(SYS_openat, dfd, (s64)name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
	sys1(SYS_close, dfd);
	if (tfd < 0) return (s32)fail(r, MSTEP_MOVE, tfd);
	rc = statx_at((s32)tfd, "", &st);
	if (rc == 0 && (st.mode & S_IFMT) == S_IFLNK) rc = -E_LOOP;
	if (rc == 0)
		rc = sys5(SYS_move_mount, r->fd, (s64)"", tfd, (s64)"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	sys1(SYS_close, tfd);
	if (rc < 0) return (s32)fail(r, MSTEP_MOVE, rc);
	/* Attached: a failing statx leaves the id 0 (unknown) rather than undoing the mount. */
	r->mnt_id = statx_at(r->fd, "", &st) == 0 ? st.mnt_id : 0;
	return 0;
}

/*
 * umount2 of what r->path names. Nothing under the mountpoint is touched.
 * 1. TARGET's directory resolved once.
 * 2. statx of the name in it: it must be a mount root (else EINVAL, as
 *    umount2 says), and that mount is the one the next step removes. With
 *    r->mnt_id (a handle that remembers what it attached) it must be that
 *    very mount: another mount there now, stacked on it or in its place
 *    after it went, is refused untouched.
 * 3. umount2("/proc/self/fd/DIR/NAME", flags | UMOUNT_NOFOLLOW): the magic
 *    link is the directory we hold, NAME is looked up in it once more (the
 *    kernel refuses to rename a mountpoint, so it is the same mount), and a
 *    symlink at NAME is not followed. Through a descriptor of the mount
 *    itself the descriptor would make it busy.
 */
s32 bun_userns_umount(struct target_req *r)
{
	struct walk w;
	struct kstatx st;
	char name[256], at[32 + 256];
	s64 dfd, rc;
	s32 i, n;
	head_clear(r);
	dfd = walk_path(r->path, 0, name, &w);
	if (dfd < 0) return mount_walk_failed(r, &w, r->path, &r->owner, dfd);
	rc = statx_at((s32)dfd, name, &st);
	if (rc == 0 && !(st.attributes & STATX_ATTR_MOUNT_ROOT)) rc = -E_INVAL;
	if (rc == 0 && r->mnt_id && st.mnt_id != r->mnt_id) {
		sys1(SYS_close, dfd);
		return (s32)fail(r, MSTEP_OTHER_MOUNT, -E_INVAL);
	}
	if (rc == 0) {
		fd_path(at, (s32)dfd);
		n = str_len(at);
		at[n++] = '/';
		for (i = 0; name[i]; i++) at[n++] = name[i];
		at[n] = 0;
		rc = sys2(SYS_umount2, (s64)at, (s64)(u32)r->flags | UMOUNT_NOFOLLOW);
	}
	sys1(SYS_close, dfd);
	return rc < 0 ? (s32)fail(r, MSTEP_UMOUNT, rc) : 0;
}

/* statfs(PATH)'s f_type (the filesystem's magic) into out[0], for hints: 0 or -errno. */
s32 bun_userns_fs_type(const char *path, u64 *out)
{
	u64 buf[15]; /* struct statfs: 120 bytes on 64-bit */
	s64 rc = sys2(SYS_statfs, (s64)path, (s64)buf);
	if (rc < 0) return (s32)rc;
	out[0] = buf[0];
	return 0;
}
