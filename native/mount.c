/*
 * Idmapped mounts (issue 9): the new mount API, in the order it must run.
 *
 *   open_tree(OPEN_TREE_CLONE)  a detached copy of SOURCE's mount (tree)
 *   mount_setattr(IDMAP, ...)   idmap it: only legal while it is detached
 *   move_mount(F_EMPTY_PATH)    attach it on TARGET
 *   umount2                     take a mount away again
 *
 * Failures are -(step * 1000 + errno), step 1 open_tree, 2 mount_setattr,
 * 3 move_mount, 4 umount2, 5 statfs, so the caller can say which call refused.
 */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; };
#endif
#define AT_RECURSIVE 0x8000
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define UMOUNT_NOFOLLOW 0x8

#define MSTEP_OPEN_TREE 1
#define MSTEP_SETATTR 2
#define MSTEP_MOVE 3
#define MSTEP_UMOUNT 4
#define MSTEP_STATFS 5

/* What src/native.ts fills (offsets fixed by the asserts). */
struct mount_req {
	u64 attr_set;    /*  0 MOUNT_ATTR_* to set, MOUNT_ATTR_IDMAP among them */
	u64 attr_clr;    /*  8 MOUNT_ATTR_* to clear (MOUNT_ATTR__ATIME with an atime mode) */
	u64 propagation; /* 16 MS_PRIVATE / MS_SLAVE / MS_SHARED / MS_UNBINDABLE, or 0 */
	s32 userns_fd;   /* 24 the user namespace whose maps the mount takes */
	s32 recursive;   /* 28 1: clone and idmap SOURCE's submounts too */
	char path[4096]; /* 32 SOURCE, NUL-terminated */
};
#define OFFSET_M(f) ((long)&((struct mount_req *)0)->f)
_Static_assert(OFFSET_M(userns_fd) == 24, "layout");
_Static_assert(OFFSET_M(path) == 32, "layout");

static s32 mount_fail(s32 step, s64 rc) { return (s32)(-(step * 1000) + rc); }

/*
 * A detached, idmapped clone of r->path: its fd (O_CLOEXEC), or a failure.
 * Never attached: on any failure the fd is closed, and the kernel frees a
 * detached tree with its last fd, so nothing is left mounted anywhere.
 */
s32 bun_userns_open_tree_idmap(struct mount_req *r)
{
	struct mount_attr attr;
	s64 fd, rc;
	u32 rec = r->recursive ? AT_RECURSIVE : 0;
	/* OPEN_TREE_CLONE: a copy, not SOURCE's own mount, so changing its
	 * attributes cannot touch SOURCE; AT_RECURSIVE copies submounts too
	 * (a plain bind's rule); O_CLOEXEC: exec'd programs never see it. */
	fd = sys3(SYS_open_tree, AT_FDCWD, (s64)r->path, OPEN_TREE_CLONE | O_CLOEXEC | rec);
	if (fd < 0) return mount_fail(MSTEP_OPEN_TREE, fd);
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
		return mount_fail(MSTEP_SETATTR, rc);
	}
	return (s32)fd;
}

/* Attach the tree FD on TARGET. move_mount without MOVE_MOUNT_T_SYMLINKS
 * does not follow a symlink at TARGET (no mount lands elsewhere). */
s32 bun_userns_attach_tree(s32 fd, const char *target)
{
	s64 rc = sys5(SYS_move_mount, fd, (s64)"", AT_FDCWD, (s64)target, MOVE_MOUNT_F_EMPTY_PATH);
	return rc < 0 ? mount_fail(MSTEP_MOVE, rc) : 0;
}

/* umount2(TARGET, FLAGS | UMOUNT_NOFOLLOW): a symlink put at TARGET cannot
 * redirect the unmount. Nothing under the mountpoint is ever touched. */
s32 bun_userns_umount(const char *target, s32 flags)
{
	s64 rc = sys2(SYS_umount2, (s64)target, (s64)(u32)flags | UMOUNT_NOFOLLOW);
	return rc < 0 ? mount_fail(MSTEP_UMOUNT, rc) : 0;
}

/* statfs(PATH)'s f_type (the filesystem's magic) into out[0], for hints. */
s32 bun_userns_fs_type(const char *path, u64 *out)
{
	u64 buf[15]; /* struct statfs: 120 bytes on 64-bit */
	s64 rc = sys2(SYS_statfs, (s64)path, (s64)buf);
	if (rc < 0) return mount_fail(MSTEP_STATFS, rc);
	out[0] = buf[0];
	return 0;
}

/* doctor --path: the same open_tree + mount_setattr as a mount, then close
 * (never attached). 0, or -(step * 1000 + errno). */
s32 bun_userns_mount_probe(const char *path, s32 userns_fd)
{
	struct mount_req r; /* on the caller's stack: one per call and thread */
	s32 i = 0, fd;
	mem_zero(&r, sizeof r);
	while (path[i] && i < (s32)sizeof r.path - 1) { r.path[i] = path[i]; i++; }
	if (path[i]) return mount_fail(MSTEP_OPEN_TREE, -36 /* ENAMETOOLONG */);
	r.userns_fd = userns_fd;
	fd = bun_userns_open_tree_idmap(&r);
	if (fd < 0) return fd;
	sys1(SYS_close, fd);
	return 0;
}
