/*
 * One path, resolved once, as descriptors: what pins (ns.c) and idmapped
 * mounts (mount.c) act on when a directory on the way may belong to another
 * uid, who can rename, replace or swap (renameat2 RENAME_EXCHANGE) any entry
 * of it between our check and our act.
 *
 * The rule: the walk starts at "/" and opens one component at a time with
 * openat(dirfd, NAME, O_PATH|O_NOFOLLOW), so the kernel follows no symlink
 * for us. A component that is a symlink is followed (by its text, walked
 * again the same way) only if root owns it AND only root could have put it
 * where it is: only root can make or change a root-owned symlink, and
 * protected_hardlinks stops another uid linking one in, but a uid that can
 * write a directory can rename any entry into it, root's links included
 * (and swap it with RENAME_EXCHANGE). So the link's directory must be
 * root's and writable by nobody else (no group or other write bit: an ACL
 * granting write shows in the group bits), and so must every directory
 * above it, except that a root-owned sticky directory (/tmp) passes on to
 * a root-owned entry (only root can rename that entry, and another uid
 * cannot move a root-owned directory in: that needs write on the directory
 * itself). A FUSE mount on the way ends that trust: its server reports
 * whatever owner it likes. Systems' own links (/var/run -> /run,
 * /lib -> usr/lib) keep working; a symlink another uid planted, or moved,
 * is refused (ELOOP, its owner reported: 0 for root's link out of place).
 * openat2(RESOLVE_NO_SYMLINKS) would refuse /var/run as well.
 * ".." never reaches the kernel: the caller's path is absolute and
 * normalized, and a link's text is spliced in and normalized by text, so a
 * directory another uid moves cannot make ".." lead out of what was named.
 * The result is an O_PATH descriptor; everything after acts relative to it.
 */
#define O_PATH 010000000
#define AT_SYMLINK_NOFOLLOW 0x100
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#define STATX_TYPE 0x1
#define STATX_MODE 0x2
#define STATX_NLINK 0x4
#define STATX_UID 0x8
#define STATX_INO 0x100
#define STATX_SIZE 0x200
#define STATX_MNT_ID 0x1000
#define STATX_MNT_ID_UNIQUE 0x4000
#define STATX_ATTR_MOUNT_ROOT 0x2000
#define S_IFMT 0170000
#define S_IFREG 0100000
#define S_IFDIR 0040000
#define S_IFLNK 0120000
#define S_ISVTX 01000
#define FUSE_SUPER_MAGIC 0x65735546
#define PROC_SUPER_MAGIC 0x9fa0
#ifndef E_NOENT
#define E_NOENT 2
#endif
#define E_EXIST 17
#ifndef E_NOTDIR
#define E_NOTDIR 20
#endif
#define E_NAMETOOLONG 36
#define E_LOOP 40
#if defined(__x86_64__)
#define SYS_readlinkat_ 267
#else
#define SYS_readlinkat_ 78
#endif
#define PATH_BYTES 4096
#define LINKS_MAX 40 /* the kernel's own MAXSYMLINKS */

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

/* statx of DIRFD/NAME without following a last symlink ("" = DIRFD itself).
 * The mount id asked for both ways: STATX_MNT_ID_UNIQUE (6.8) is never
 * reused, the older one may be after an unmount; the mask says which came. */
static s64 statx_at(s32 dirfd, const char *name, struct kstatx *st)
{
	mem_zero(st, sizeof *st);
	return sys5(SYS_statx, dirfd, (s64)name, name[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH,
		    STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_INO | STATX_SIZE | STATX_MNT_ID |
			    STATX_MNT_ID_UNIQUE,
		    (s64)st);
}

/* "/proc/self/fd/N": the exact file an fd holds, as a path mount(2) takes. */
static void fd_path(char *out, s32 fd)
{
	put_decimal(out, "/proc/self/fd/", fd);
}

/* Where a walk stopped: the path as walked up to the component that refused
 * (NUL-terminated), and the owner of a refused symlink. */
struct walk {
	char at[PATH_BYTES];  /* the walked prefix */
	s32 at_len;
	u32 owner;            /* uid of the symlink refused, or ~0 */
	s32 links;
	s32 rel;              /* walking from the cwd, not "/" */
	char todo[PATH_BYTES]; /* what is left to walk */
	char text[PATH_BYTES]; /* a link's text while it is spliced in */
};

static s32 str_len(const char *s)
{
	s32 n = 0;
	while (s[n]) n++;
	return n;
}

/* Normalize a path by text into OUT: "//" and "." dropped, ".." pops a
 * component. Absolute ("/.." is "/"), or relative to the start (REL: no
 * leading "/", and a ".." above the start is kept at its head: "../x").
 * Returns its length, or -ENAMETOOLONG. */
static s32 normalize_at(const char *in, char *out, s32 rel)
{
	s32 n = 0, i = 0, base = rel ? 0 : 1;
	if (!rel) out[n++] = '/';
	while (in[i]) {
		s32 s, len;
		while (in[i] == '/') i++;
		s = i;
		while (in[i] && in[i] != '/') i++;
		len = i - s;
		if (len == 0 || (len == 1 && in[s] == '.')) continue;
		if (len == 2 && in[s] == '.' && in[s + 1] == '.') {
			/* A ".." pops a name; above the start (relative) it stays. */
			s32 last = n;
			while (last > base && out[last - 1] != '/') last--;
			if (n > base && !(n - last == 2 && out[last] == '.' && out[last + 1] == '.')) {
				n = last > base ? last - 1 : base;
				continue;
			}
			if (!rel) continue;
		}
		if (n + len + 2 > PATH_BYTES) return -E_NAMETOOLONG;
		if (n > base) out[n++] = '/';
		while (s < i) out[n++] = in[s++];
	}
	out[n] = 0;
	return n;
}

/* Replace w->todo by "PREFIX/TEXT/REST" normalized (TEXT absolute: "TEXT/REST",
 * and the walk is absolute from then on). */
static s32 splice(struct walk *w, const char *text, const char *rest)
{
	char *buf = w->at; /* scratch: the walk restarts from its start after a splice */
	s32 n = 0, i;
	if (text[0] != '/') {
		for (i = 0; i < w->at_len; i++) buf[n++] = w->at[i];
		buf[n++] = '/';
	} else
		w->rel = 0;
	for (i = 0; text[i]; i++) { if (n >= PATH_BYTES - 2) return -E_NAMETOOLONG; buf[n++] = text[i]; }
	buf[n++] = '/';
	for (i = 0; rest[i]; i++) { if (n >= PATH_BYTES - 1) return -E_NAMETOOLONG; buf[n++] = rest[i]; }
	buf[n] = 0;
	n = normalize_at(buf, w->todo, w->rel);
	return n < 0 ? n : 0;
}

/* Is the file FD on procfs? (0 if it cannot be told.) */
static s32 on_procfs(s64 fd)
{
	u64 fs[15]; /* struct statfs: f_type first, 120 bytes on 64-bit */
	return sys2(SYS_fstatfs, fd, (s64)fs) == 0 && fs[0] == PROC_SUPER_MAGIC;
}

/*
 * Walk PATH to an O_PATH descriptor: of PATH itself (FOLLOW_LAST: a
 * root-owned symlink there is followed too), or of its parent directory with
 * the last component copied to NAME (<= 255 bytes). An absolute PATH is
 * walked from "/"; a relative one (walk_dir only) from the cwd, which, like
 * "/", is where the walk starts trusting. Returns the fd or -errno; on
 * failure w->at names the component that refused (and w->owner the uid of a
 * refused symlink).
 */
static s32 walk_from(const char *path, s32 follow_last, char *name, struct walk *w)
{
	struct kstatx st, dir;
	s64 dfd, fd, rc;
	s32 n, i, trusted, proc;
	w->at_len = 0;
	w->at[0] = 0;
	w->owner = ~0u;
	w->links = 0;
	w->rel = path[0] != '/';
	n = normalize_at(path, w->todo, w->rel);
	if (n < 0) return n;
	if (!follow_last) {
		/* Split off the last component: it is the caller's to create, open or unlink. */
		s32 cut = n;
		if (w->rel) return -E_INVAL;
		while (cut > 0 && w->todo[cut - 1] != '/') cut--;
		if (n - cut == 0 || n - cut > 255) return n - cut ? -E_NAMETOOLONG : -E_INVAL;
		for (i = cut; i <= n; i++) name[i - cut] = w->todo[i];
		w->todo[cut > 1 ? cut - 1 : 1] = 0;
		if (cut == 1) w->todo[0] = '/';
	}
restart:
	dfd = sys4(SYS_openat, AT_FDCWD, (s64)(w->rel ? "." : "/"), O_PATH | O_CLOEXEC, 0);
	if (dfd < 0) return (s32)dfd;
	/* "/" is root's (the walk trusts what root placed from here down); the
	 * cwd a relative walk starts from was chosen before it, as "/" was. */
	rc = statx_at((s32)dfd, "", &dir);
	if (rc < 0) { sys1(SYS_close, dfd); return (s32)rc; }
	trusted = 1;
	proc = on_procfs(dfd);
	w->at_len = 0;
	if (w->rel) w->at[w->at_len++] = '.';
	w->at[w->at_len] = 0;
	i = 0;
	for (;;) {
		char comp[256];
		s32 s, len, k;
		while (w->todo[i] == '/') i++;
		if (!w->todo[i]) break;
		s = i;
		while (w->todo[i] && w->todo[i] != '/') i++;
		len = i - s;
		if (len > 255) { sys1(SYS_close, dfd); return -E_NAMETOOLONG; }
		for (k = 0; k < len; k++) comp[k] = w->todo[s + k];
		comp[len] = 0;
		/* The walked prefix, for an error that names where it stopped. */
		w->at[w->at_len++] = '/';
		for (k = 0; k < len; k++) w->at[w->at_len++] = comp[k];
		w->at[w->at_len] = 0;
		/* O_NOFOLLOW: the kernel follows nothing here; a symlink is opened as
		 * itself. ".." (only at the head of a relative walk, above its
		 * start) is the directory's real parent, never a name again. */
		fd = sys4(SYS_openat, dfd, (s64)comp, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0) { sys1(SYS_close, dfd); return (s32)fd; }
		rc = statx_at((s32)fd, "", &st);
		if (rc < 0) { sys1(SYS_close, fd); sys1(SYS_close, dfd); return (s32)rc; }
		if (len == 2 && comp[0] == '.' && comp[1] == '.') {
			/* Above the start: who could write the directories above it is
			 * unknown, so no symlink is trusted from here on. */
			trusted = 0;
			sys1(SYS_close, dfd);
			dfd = fd;
			proc = on_procfs(fd);
			dir.uid = st.uid;
			dir.mode = st.mode;
			dir.mnt_id = st.mnt_id;
			continue;
		}
		if ((st.mode & S_IFMT) == S_IFDIR) {
			/* Still only root's doing? DIR (where it was found) is root's and
			 * writable by nobody else, or a root-owned sticky directory and
			 * this entry is root's, or on procfs (nobody renames there; its
			 * owners are the processes'); and it is not a FUSE mount. */
			s32 root_only = dir.uid == 0 && !(dir.mode & 022);
			s32 sticky_root = dir.uid == 0 && (dir.mode & S_ISVTX) && st.uid == 0;
			trusted = trusted && (root_only || sticky_root || proc);
			if (st.mnt_id != dir.mnt_id) {
				u64 fs[15]; /* struct statfs: f_type first, 120 bytes on 64-bit */
				if (sys2(SYS_fstatfs, fd, (s64)fs) < 0) fs[0] = 0, trusted = 0;
				if (fs[0] == FUSE_SUPER_MAGIC) trusted = 0;
				proc = fs[0] == PROC_SUPER_MAGIC;
			}
			sys1(SYS_close, dfd);
			dfd = fd;
			/* Field by field: a struct assignment is a memmove call in
			 * TinyCC's arm64 code, and there is no libc to resolve it. */
			dir.uid = st.uid;
			dir.mode = st.mode;
			dir.mnt_id = st.mnt_id;
			continue;
		}
		if ((st.mode & S_IFMT) != S_IFLNK) {
			sys1(SYS_close, dfd);
			/* The last component (FOLLOW_LAST) may be any file: the caller checks its type. */
			if (follow_last && !w->todo[i]) return (s32)fd;
			sys1(SYS_close, fd);
			return -E_NOTDIR;
		}
		if (++w->links > LINKS_MAX) { sys1(SYS_close, fd); sys1(SYS_close, dfd); return -E_LOOP; }
		if (proc && trusted) {
			/* A link of procfs (/proc/self, /proc/PID/root, /proc/PID/cwd):
			 * the kernel's own, which nobody places or moves, and most of
			 * them magic (their text is no path to walk: /proc/PID/root of
			 * a process in another mount namespace reads "/"). The kernel
			 * follows it, one hop from its directory's descriptor; what it
			 * lands on is a new start, as "/" is. */
			sys1(SYS_close, fd);
			fd = sys4(SYS_openat, dfd, (s64)comp, O_PATH | O_CLOEXEC, 0);
			sys1(SYS_close, dfd);
			if (fd < 0) return (s32)fd;
			rc = statx_at((s32)fd, "", &st);
			if (rc < 0) { sys1(SYS_close, fd); return (s32)rc; }
			if ((st.mode & S_IFMT) != S_IFDIR) {
				if (follow_last && !w->todo[i]) return (s32)fd;
				sys1(SYS_close, fd);
				return -E_NOTDIR;
			}
			dfd = fd;
			trusted = 1;
			proc = on_procfs(fd);
			dir.uid = st.uid;
			dir.mode = st.mode;
			dir.mnt_id = st.mnt_id;
			continue;
		}
		/* A symlink: followed only if root owns it and only root placed it (the rule above). */
		if (st.uid != 0 || !trusted || dir.uid != 0 || (dir.mode & 022)) {
			w->owner = st.uid;
			sys1(SYS_close, fd);
			sys1(SYS_close, dfd);
			return -E_LOOP;
		}
		/* readlinkat(fd, "") reads the link the O_PATH fd holds, not a name again. */
		rc = sys4(SYS_readlinkat_, fd, (s64)"", (s64)w->text, PATH_BYTES - 1);
		sys1(SYS_close, fd);
		sys1(SYS_close, dfd);
		if (rc < 0) return (s32)rc;
		w->text[rc] = 0;
		w->at_len -= len + 1; /* the link's directory: where a relative text starts */
		w->at[w->at_len] = 0;
		rc = splice(w, w->text, w->todo + i);
		if (rc < 0) return (s32)rc;
		goto restart;
	}
	return (s32)dfd;
}

/* An absolute PATH (pins, idmapped mounts, the sandbox's sources). */
static s32 walk_path(const char *path, s32 follow_last, char *name, struct walk *w)
{
	if (path[0] != '/') return -E_INVAL;
	return walk_from(path, follow_last, name, w);
}

/* PATH, absolute or relative to the cwd, itself (a command's cwd, root, /proc). */
static s32 walk_dir(const char *path, struct walk *w)
{
	if (!path[0]) return -E_NOENT;
	return walk_from(path, 1, 0, w);
}
