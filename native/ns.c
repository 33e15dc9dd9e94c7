/*
 * Namespaces as descriptors and as files (issue 11): open a namespace
 * checked, bind mount one onto a file (a pin, as `ip netns attach` and
 * `unshare --net=FILE` make), and remove exactly such a pin. Runs on the
 * caller's thread in the caller's mount namespace; paths arrive validated
 * from src/ns/. Every path we act on twice is held as an fd in between and
 * reached again through /proc/self/fd/N, so a rename or symlink swap in the
 * directory cannot redirect the second step.
 */
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#define AT_SYMLINK_NOFOLLOW 0x100
#define O_CREAT 0100
#define O_EXCL 0200
#define O_PATH 010000000
/* O_NOFOLLOW differs per arch (x86_64 0400000, arm64 0100000): syscalls_<arch>.h. */
#define MS_BIND 0x1000
#define MNT_DETACH 2
#define NS_GET_NSTYPE 0xb703
#define NSFS_MAGIC 0x6e736673
#define STATX_TYPE 0x1
#define STATX_INO 0x100
#define STATX_MNT_ID 0x1000
#define STATX_ATTR_MOUNT_ROOT 0x2000
#define S_IFMT 0170000
#define S_IFREG 0100000
#define E_NOTTY 25
#define E_BUSY 16

/* struct statx (include/uapi/linux/stat.h): the same on every arch. */
struct kstatx {
	u32 mask, blksize;
	u64 attributes;
	u32 nlink, uid, gid;
	unsigned short mode, pad0;
	u64 ino, size, blocks, attributes_mask;
	u8 times[64];
	u32 rdev_major, rdev_minor, dev_major, dev_minor;
	u64 mnt_id;
	u8 rest[104];
};
_Static_assert(sizeof(struct kstatx) == 256, "statx layout");

/* Where a pin or unpin stopped, for the error's step (src/core/native.ts). */
enum ns_step { NS_OPEN = 1, NS_CHECK, NS_MOUNT, NS_UMOUNT, NS_UNLINK };

/* "/proc/self/fd/N": the exact file an fd holds, as a path mount(2) takes. */
static void fd_path(char *out, s32 fd)
{
	const char *pre = "/proc/self/fd/";
	char digits[12];
	int n = 0;
	while (*pre) *out++ = *pre++;
	do { digits[n++] = (char)('0' + fd % 10); fd /= 10; } while (fd);
	while (n) *out++ = digits[--n];
	*out = 0;
}

static s64 statx_fd(s32 fd, struct kstatx *st)
{
	mem_zero(st, sizeof *st);
	return sys5(SYS_statx, fd, (s64)"", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_MNT_ID, (s64)st);
}

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
 * PROC says PATH is a /proc/PID/ns/X we built: that is always a namespace
 * link, so steps 1-3 are one plain open.
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
 * the mount it is on, out[4..5] its inode (a namespace's identity).
 */
s32 bun_userns_ns_stat(const char *path, s32 fd, u32 *out)
{
	struct kstatx st;
	s64 rc;
	mem_zero(&st, sizeof st);
	rc = sys5(SYS_statx, path[0] ? AT_FDCWD : fd, (s64)path, path[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH,
		  STATX_TYPE | STATX_INO | STATX_MNT_ID, (s64)&st);
	if (rc < 0) return (s32)rc;
	out[0] = st.mode & S_IFMT;
	out[1] = (st.attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	out[2] = (u32)st.mnt_id;
	out[3] = (u32)(st.mnt_id >> 32);
	out[4] = (u32)st.ino;
	out[5] = (u32)(st.ino >> 32);
	return 0;
}

/*
 * Pin namespace fd NSFD onto PATH; CREATE says PATH is new. Returns 0 or
 * -errno with the step in *step.
 * 1. The target: created O_EXCL|O_NOFOLLOW mode 0444 as util-linux does
 *    (an existing file or any symlink is EEXIST: never reuse or follow what
 *    someone else put there), or an existing one opened O_PATH|O_NOFOLLOW.
 * 2. It must be a regular file and not already a mount root: a bind of an
 *    nsfs inode needs a non-directory target, and stacking a second pin
 *    would make the first unreachable.
 * 3. mount(MS_BIND) from /proc/self/fd/NSFD onto /proc/self/fd/TARGET: the
 *    namespace we checked, onto the inode we checked. The kernel refuses a
 *    mount namespace bound where it could loop (EINVAL: not newer than
 *    ours, or onto a shared mount).
 * 4. On failure a file we created is unlinked, if PATH still names it.
 */
s32 bun_userns_ns_pin(s32 nsfd, s32 create, const char *path, s32 *step)
{
	struct kstatx st, now;
	char src[32], dst[32];
	s64 tfd, rc;
	*step = NS_OPEN;
	tfd = create ? sys4(SYS_openat, AT_FDCWD, (s64)path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444)
		     : sys4(SYS_openat, AT_FDCWD, (s64)path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
	if (tfd < 0) return (s32)tfd;
	*step = NS_CHECK;
	rc = 0;
	if (!create) { /* a file O_EXCL just created is a regular file, no mount root */
		rc = statx_fd((s32)tfd, &st);
		if (rc == 0 && (st.mode & S_IFMT) != S_IFREG) rc = -E_INVAL;
		if (rc == 0 && (st.attributes & STATX_ATTR_MOUNT_ROOT)) rc = -E_BUSY;
	}
	if (rc == 0) {
		*step = NS_MOUNT;
		fd_path(src, nsfd);
		fd_path(dst, (s32)tfd);
		rc = sys5(SYS_mount, (s64)src, (s64)dst, 0, MS_BIND, 0);
	}
	if (rc < 0 && create && statx_fd((s32)tfd, &st) == 0) {
		mem_zero(&now, sizeof now);
		if (sys5(SYS_statx, AT_FDCWD, (s64)path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO, (s64)&now) == 0 &&
		    now.ino == st.ino && now.dev_major == st.dev_major && now.dev_minor == st.dev_minor)
			sys3(SYS_unlinkat, AT_FDCWD, (s64)path, 0);
	}
	sys1(SYS_close, tfd);
	if (rc == 0) *step = 0;
	return (s32)rc;
}

/*
 * Remove the pin at PATH; UNLINK also removes its file. Returns 0 or -errno
 * with the step in *step.
 * 1. Open PATH O_PATH|O_NOFOLLOW: the top mount there, not a link's target.
 * 2. It must be an nsfs inode: with O_NOFOLLOW only a bind mount of a
 *    namespace is that (a /proc/PID/ns link is opened as itself, a procfs
 *    inode), so no other mount (a tmpfs, a bind of a real file) is ever
 *    unmounted here (-EINVAL).
 * 3. umount2(MNT_DETACH) through /proc/self/fd/N, the mount we checked, as
 *    `ip netns delete` does: a process inside keeps the namespace alive, the
 *    name is free at once.
 * 4. unlinkat the file now uncovered (the kernel refuses a mountpoint,
 *    EBUSY: a second pin stacked below stays, and so does its file).
 */
s32 bun_userns_ns_unpin(const char *path, s32 unlink, s32 *step)
{
	char self[32];
	s64 fd, rc;
	*step = NS_OPEN;
	fd = sys4(SYS_openat, AT_FDCWD, (s64)path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0) return (s32)fd;
	*step = NS_CHECK;
	rc = is_nsfs((s32)fd);
	if (rc == 0) rc = -E_INVAL;
	if (rc > 0) {
		*step = NS_UMOUNT;
		fd_path(self, (s32)fd);
		rc = sys2(SYS_umount2, (s64)self, MNT_DETACH);
	}
	sys1(SYS_close, fd);
	if (rc < 0 || !unlink) { if (rc == 0) *step = 0; return (s32)rc; }
	*step = NS_UNLINK;
	rc = sys3(SYS_unlinkat, AT_FDCWD, (s64)path, 0);
	if (rc == 0) *step = 0;
	return (s32)rc;
}
