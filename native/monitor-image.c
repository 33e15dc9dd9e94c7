/*
 * The sandbox monitor's own image: a static ELF, built for each sandbox in
 * a sealed memfd, that the monitor execs before it does anything else, so
 * that it never holds a copy of Bun's memory (a fork copies Bun's page
 * tables, at a cost that grows with Bun's heap, and tears them down again
 * at the monitor's exit).
 *
 * The image maps, at their addresses in Bun, two things and nothing else:
 *  - our code: the memory TinyCC compiled native/ into. It is one block
 *    (tccrun.c): the text and PLT first, from a page boundary (the one
 *    rwx mapping, found in /proc/self/maps by one of our functions), then
 *    read-only data, data, bss and last the GOT. The end is the GOT's: it
 *    starts 8-aligned past _end (no TLS here) with three reserved words,
 *    and every entry after them points into our own code or data. A copy
 *    at the same addresses needs no relocation. Or, for a gcc .so
 *    (BUN_USERNS_LIB), each of its PT_LOADs as ld.so mapped and relocated
 *    it (its own ELF header, __ehdr_start, lists them); its PLT slots,
 *    perhaps still bound lazily through ld.so, are written in the copy
 *    with their symbols' addresses, and any other relocation must point
 *    into the .so.
 *  - the request block (struct sreq and everything its offsets name), its
 *    header and tail; the stacks in it start as zeros (a hole of the memfd).
 *    What surrounds either in Bun's pages is zeros in the image. Inside
 *    TinyCC's block, the alignment padding between its sections is what
 *    Bun's heap held there (TinyCC mallocs the block and writes only its
 *    sections): a few dozen bytes, copied as they are; the image is as
 *    closed as Bun's memory (sealed, owned by the caller's namespace).
 * Its entry is SB_IMAGE_ENTRY (syscalls_*.h), which calls
 * bun_userns_image_main, which finds the block through sb_image_block:
 * that word is written into the image's copy of our data, never into Bun's.
 *
 * The report page must stay shared with Bun: it is a memfd (bun_userns_sandbox
 * maps it) whose fd crosses the exec and is mapped again here. Every other
 * fd the monitor needs crosses the exec with FD_CLOEXEC cleared in the
 * monitor's own table (a copy: no CLONE_FILES); the rest are closed first.
 *
 * ET_EXEC segments are placed where they say; the first with
 * MAP_FIXED_NOREPLACE, the others with MAP_FIXED, after the new stack was
 * set up. So segments are refused up front near Bun's own stack (a fresh
 * process's lands in the same randomised range) and if they overlap each
 * other; vm.memfd_noexec=2 refuses the memfd itself. Anything else that
 * fails the exec (a seccomp filter, a security module, no room) leaves the
 * monitor dead before its image ran: the entering child sees that
 * (o->image still 0 at the pipe's EOF) and forks the monitor as before.
 *
 * Not for a command named by a /proc "exe" link (sb_names_exe), nor on an
 * arch without SB_IMAGE_ENTRY: there the monitor is a fork.
 */

#define MFD_NOEXEC_SEAL 8U /* Linux 6.3: the report page is never executed (allowed under vm.memfd_noexec=2) */
#define MAP_SHARED_ 1
#define FD_CLOEXEC_ 1
#define SB_IMAGE_FDS 10 /* sb_fixed_fds' count */
/* Below a fresh stack's randomised top, what the kernel maps for it at
 * the exec: its first 128 KiB, our two-word argv and envp, and the random
 * alignment of its pointer (up to 8 KiB on x86_64, a page on arm64); the
 * room left is a margin. */
#define SB_IMAGE_STACK_ROOM (1UL << 20)
#define ADDR_NO_RANDOMIZE_ 0x0040000 /* personality(2): no address randomisation */
#define SB_IMAGE_MAX (16UL << 20) /* our code and data: far less; more means the scan went wrong */

/* The block's address, written into each image's copy (never read in Bun). */
static u64 sb_image_block = 1;

/* The fds the monitor needs besides 0-2 and the bind fds: into FDS, their count. */
static s32 sb_fixed_fds(struct sreq *r, s32 *fds)
{
	fds[0] = r->helper_pidfd;
	fds[1] = r->epipe[1];
	fds[2] = r->userns2;
	fds[3] = r->pidns;
	fds[4] = r->block_fd;
	fds[5] = r->sync_fd;
	fds[6] = r->userns_block_fd;
	fds[7] = r->report_fd;
	fds[8] = r->image_fd;
	/* Held until we exit: Bun reads its EOF as our exit (no poll between). */
	fds[9] = r->exit_fd;
	return SB_IMAGE_FDS;
}

/* The caller's fds the command keeps (ascending, each > 2). */
static const s32 *sb_pass(struct sreq *r)
{
	return (const s32 *)((char *)r + r->pass);
}

/* FD_CLOEXEC set (or cleared) on every fd the monitor keeps, 0-2 too. */
static void sb_set_cloexec(struct sreq *r, s32 on)
{
	struct sop *ops = (struct sop *)((char *)r + r->ops);
	s32 fds[SB_IMAGE_FDS], i;
	sb_fixed_fds(r, fds);
	for (i = 0; i < 3 && !on; i++) sys3(SYS_fcntl, i, F_SETFD_, 0);
	for (i = 0; i < SB_IMAGE_FDS; i++)
		if (fds[i] > 2 && fds[i] != r->image_fd) sys3(SYS_fcntl, fds[i], F_SETFD_, on ? FD_CLOEXEC_ : 0);
	for (i = 0; i < r->nops; i++)
		if (ops[i].type == SOP_BIND && (ops[i].flags & SF_FD) && ops[i].fd > 2)
			sys3(SYS_fcntl, ops[i].fd, F_SETFD_, on ? FD_CLOEXEC_ : 0);
	for (i = 0; i < r->npass; i++) sys3(SYS_fcntl, sb_pass(r)[i], F_SETFD_, on ? FD_CLOEXEC_ : 0);
}

#if defined(SB_IMAGE_ENTRY)

#define SB_IMAGE_RANGES 8   /* our code's pieces to copy */
#define SB_IMAGE_PATCHES 128 /* words of the copy to write (a .so's PLT slots) */

/* Where our code and data start and end, what of it to copy and what to
 * write over the copy, and where Bun's stack is. */
struct sb_region {
	s32 nranges, npatches;
	u64 lo, hi, stack; /* stack: the end of Bun's main stack */
	u64 range[2 * SB_IMAGE_RANGES];   /* [from, to) */
	u64 patch[2 * SB_IMAGE_PATCHES]; /* address, value */
};

/* Found once (our code never moves); state 0 unknown, 1 found, -1
 * unusable (the monitor forks). Found into a local copy and published
 * whole before the state says so: a gcc library's statics are shared by
 * every thread (TinyCC's are its own thread's compile), and two threads'
 * first calls may find it at once (they write the same words). */
static s32 sb_image_state;
static struct sb_region sb_found;
#if defined(__TINYC__)
#define SB_STATE_LOAD() (*(volatile s32 *)&sb_image_state)
#define SB_STATE_STORE(v) (*(volatile s32 *)&sb_image_state = (v))
#else
#define SB_STATE_LOAD() __atomic_load_n(&sb_image_state, __ATOMIC_ACQUIRE)
#define SB_STATE_STORE(v) __atomic_store_n(&sb_image_state, (v), __ATOMIC_RELEASE)
#endif

static u64 sb_hex(const char *s, s32 *i)
{
	u64 v = 0;
	for (;; (*i)++) {
		char c = s[*i];
		if (c >= '0' && c <= '9') v = v * 16 + (u64)(c - '0');
		else if (c >= 'a' && c <= 'f') v = v * 16 + (u64)(c - 'a' + 10);
		else return v;
	}
}

/* One line of /proc/self/maps ("lo-hi perms offset dev inode [path]"):
 * the mapping holding ADDR must be private, anonymous and rwx (TinyCC's
 * text); the main stack's end (its randomised top) is noted, and whether
 * PROBE is in executable memory. */
static void sb_maps_line(const char *s, u64 addr, u64 *lo, u64 *hi, u64 *stack, u64 probe, s32 *probe_x)
{
	s32 i = 0, f;
	u64 a, b;
	a = sb_hex(s, &i);
	if (s[i++] != '-') return;
	b = sb_hex(s, &i);
	if (s[i++] != ' ') return;
	if (probe >= a && probe < b && s[i] && s[i + 1] && s[i + 2] == 'x') *probe_x = 1;
	if (addr >= a && addr < b) {
		/* rwxp, then offset, dev and inode 0, then no path */
		if (s[i] != 'r' || s[i + 1] != 'w' || s[i + 2] != 'x' || s[i + 3] != 'p') return;
		for (f = 0; f < 3 && s[i]; i++)
			if (s[i] == ' ') f++;
		if (s[i] != '0' || (s[i + 1] != ' ' && s[i + 1] != 0)) return;
		for (i++; s[i] == ' '; i++) {}
		if (s[i]) return;
		*lo = a;
		*hi = b;
		return;
	}
	for (f = 0; f < 5 && s[i]; i++)
		if (s[i] == ' ') f++;
	for (; s[i] == ' '; i++) {}
	if (s[i] == '[' && s[i + 1] == 's' && s[i + 2] == 't' && s[i + 3] == 'a' && s[i + 4] == 'c' && s[i + 5] == 'k' &&
	    s[i + 6] == ']')
		*stack = b;
}

/* The rwx mapping holding ADDR (none for 0), Bun's stack, and whether
 * PROBE (0: none) is in executable memory, from /proc/self/maps. */
static s64 sb_maps(u64 addr, u64 *lo, u64 *hi, u64 *stack, u64 probe, s32 *probe_x)
{
	char buf[4096];
	s64 fd, n, have = 0, i, start;
	s32 skipping = 0;
	*lo = *hi = *stack = 0;
	*probe_x = 0;
	fd = sys4(SYS_openat, AT_FDCWD, (s64)"/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) return fd;
	for (;;) {
		n = sys3(SYS_read, fd, (s64)(buf + have), (s64)sizeof buf - 1 - have);
		if (n <= 0) break;
		have += n;
		for (start = 0, i = 0; i < have; i++) {
			if (buf[i] != '\n') continue;
			buf[i] = 0;
			if (!skipping) sb_maps_line(buf + start, addr, lo, hi, stack, probe, probe_x);
			skipping = 0;
			start = i + 1;
		}
		if (start == 0 && have == (s64)sizeof buf - 1) {
			/* A line longer than the buffer (a long path): not one we need. */
			skipping = 1;
			have = 0;
			continue;
		}
		for (i = start; i < have; i++) buf[i - start] = buf[i];
		have -= start;
	}
	sys1(SYS_close, fd);
	return n < 0 ? n : 0;
}

#if defined(__TINYC__)

extern char _end[]; /* TinyCC's: the end of our bss */

/* TinyCC's block: [its rwx text mapping's start, the GOT's end), one range. */
static s32 sb_code(struct sb_region *g)
{
	u64 lo, hi, stack, got, a, z, top, *w;
	s32 i, x;
	if (sb_maps((u64)&sb_code, &lo, &hi, &stack, 0, &x) < 0 || !lo || !stack) return -1;
	got = ((u64)_end + 7) & ~7UL;
	if (got < hi || got - lo > SB_IMAGE_MAX) return -1;
	/* The GOT: three reserved words, then addresses of our own functions
	 * and data (_end's is the GOT's own start), then the block's unused
	 * end, which TinyCC never wrote: its memory is malloc'd, so that end
	 * holds whatever Bun's heap held there (zeros only in a fresh heap).
	 * The first word that is none of ours ends the GOT, unless it points
	 * into executable memory: an entry TinyCC resolved into Bun or libc
	 * (the memset it calls for an initialised local), and the monitor is
	 * a fork, its code would call outside the image. (Our code refers to
	 * no data outside itself: -nostdlib, nothing to link it to.) */
	w = (u64 *)got;
	for (i = 3; i < 4096 && w[i] >= lo && w[i] <= got; i++) {}
	if (i == 4096) return -1;
	if (w[i] != 0 && (sb_maps(0, &a, &z, &top, w[i], &x) < 0 || x)) return -1;
	g->lo = lo;
	g->hi = got + 8 * (u64)i;
	g->stack = stack;
	g->range[0] = g->lo;
	g->range[1] = g->hi;
	g->nranges = 1;
	return 0;
}

#else

/* The linker's: our .so's own ELF header (file offset 0, in its first PT_LOAD). */
extern const u8 __ehdr_start[] __attribute__((visibility("hidden")));

/* A .dynamic pointer: absolute once ld.so relocated it, else from BASE. */
static u64 sb_dyn_ptr(struct sb_region *g, u64 v, u64 base)
{
	if (v >= g->lo && v < g->hi) return v;
	return v < g->hi - g->lo ? base + v : 0;
}

/* The relocations of one table: what ld.so applied must point into us; a
 * PLT slot (perhaps still lazy, its resolver in ld.so) is written in the
 * copy with its own symbol's address. -1 for anything else. */
static s32 sb_relocs(struct sb_region *g, u64 base, u64 table, u64 size, u64 symtab)
{
	u64 k, off, info, type, value;
	const u8 *sym;
	for (k = 0; k + 24 <= size; k += 24) {
		off = *(const u64 *)(table + k);
		info = *(const u64 *)(table + k + 8);
		type = info & 0xffffffffUL;
		if (type == SB_R_RELATIVE) continue;
		if (type == SB_R_GLOB_DAT || type == SB_R_ABS64) {
			value = *(const u64 *)(base + off);
			if (value < g->lo || value >= g->hi) return -1;
			continue;
		}
		if (type != SB_R_JUMP_SLOT || !symtab || g->npatches == SB_IMAGE_PATCHES) return -1;
		sym = (const u8 *)(symtab + 24 * (info >> 32));
		if (*(const u16 *)(sym + 6) == 0) return -1; /* undefined: defined elsewhere, outside us */
		g->patch[2 * g->npatches] = base + off;
		g->patch[2 * g->npatches + 1] = base + *(const u64 *)(sym + 8);
		g->npatches++;
	}
	return 0;
}

/* A gcc .so (BUN_USERNS_LIB): each PT_LOAD as ld.so mapped and relocated it. */
static s32 sb_code(struct sb_region *g)
{
	const u8 *eh = __ehdr_start, *ph;
	u64 phoff = *(const u64 *)(eh + 32), base = 0, dyn = 0, lo, hi, stack, a, z;
	u64 tag, val, symtab = 0, rela = 0, relasz = 0, jmprel = 0, pltsz = 0;
	s32 i, phnum = *(const u16 *)(eh + 56), loads = 0;
	s32 x;
	if (sb_maps(0, &lo, &hi, &stack, 0, &x) < 0 || !stack) return -1;
	g->lo = ~0UL;
	g->hi = 0;
	for (i = 0; i < phnum; i++) {
		ph = eh + phoff + ELF_PHDR * (u64)i;
		if (*(const u32 *)ph == 2) dyn = *(const u64 *)(ph + 16); /* PT_DYNAMIC */
		if (*(const u32 *)ph != 1) continue;                     /* PT_LOAD */
		if (!loads) base = (u64)eh - *(const u64 *)(ph + 16) + *(const u64 *)(ph + 8);
		if (loads == SB_IMAGE_RANGES) return -1;
		a = base + *(const u64 *)(ph + 16);
		z = a + *(const u64 *)(ph + 40);
		g->range[2 * loads] = a;
		g->range[2 * loads + 1] = z;
		loads++;
		if (a < g->lo) g->lo = a;
		if (z > g->hi) g->hi = z;
	}
	if (!loads || !dyn || g->hi - g->lo > SB_IMAGE_MAX) return -1;
	g->nranges = loads;
	for (dyn += base; (tag = *(const u64 *)dyn) != 0; dyn += 16) {
		val = *(const u64 *)(dyn + 8);
		if (tag == 6) symtab = sb_dyn_ptr(g, val, base);       /* DT_SYMTAB */
		else if (tag == 7) rela = sb_dyn_ptr(g, val, base);    /* DT_RELA */
		else if (tag == 8) relasz = val;                    /* DT_RELASZ */
		else if (tag == 23) jmprel = sb_dyn_ptr(g, val, base); /* DT_JMPREL */
		else if (tag == 2) pltsz = val;                     /* DT_PLTRELSZ */
		else if (tag == 20 && val != 7) return -1;          /* DT_PLTREL: RELA only */
		else if (tag == 19 || tag == 17) return -1;         /* DT_RELAENT / DT_REL: REL tables unread */
	}
	if ((relasz && (!rela || sb_relocs(g, base, rela, relasz, symtab) < 0)) ||
	    (pltsz && (!jmprel || sb_relocs(g, base, jmprel, pltsz, symtab) < 0)))
		return -1;
	g->stack = stack;
	return 0;
}

#endif

/* Our code and data, once: 0, or -1 (the monitor is a fork). */
static s32 sb_image_region(void)
{
	struct sb_region g;
	u64 k;
	if (SB_STATE_LOAD()) return SB_STATE_LOAD() > 0 ? 0 : -1;
	mem_zero(&g, sizeof g);
	if (sb_code(&g) < 0) {
		SB_STATE_STORE(-1);
		return -1;
	}
	for (k = 0; k < sizeof g / 8; k++) ((u64 *)&sb_found)[k] = ((u64 *)&g)[k];
	SB_STATE_STORE(1);
	return 0;
}

/* A command named by a /proc "exe" link (/proc/self/exe, /proc/1/exe)
 * runs the program of the mm it is resolved in, which is the monitor's
 * until the command's exec: Bun in a fork (as bwrap's /proc/self/exe runs
 * bwrap again), our image here. Such a command gets the fork. */
static s32 sb_names_exe(struct sreq *r)
{
	const char *file = r->file ? sb_str(r, r->file) : ((char **)((char *)r + r->ptrs))[0];
	s32 n;
	for (n = 0; file[n]; n++) {}
	return n >= 4 && file[n - 4] == '/' && file[n - 3] == 'e' && file[n - 2] == 'x' && file[n - 1] == 'e';
}

static u64 sb_page_down(u64 a) { return a & ~(SB_IMAGE_PAGE - 1); }

/*
 * The lowest address a fresh process's stack may use: its top is
 * STACK_TOP less a random whole number of pages up to SB_STACK_RND
 * (randomize_stack_top), and STACK_TOP, the same for Bun and for the
 * monitor, is the power of two just above every stack (2^47 less a page
 * on x86_64, 2^VA_BITS on arm64): the one above Bun's stack's end, which
 * lies within SB_STACK_RND of it. Every mapping of Bun's mmap area lies
 * below this (the kernel keeps that area's base a random gap plus
 * SB_STACK_RND plus the stack's rlimit and guard below STACK_TOP), so an
 * image of it fits a fresh process whatever both randomisations drew.
 */
static u64 sb_stack_floor(u64 stack_end)
{
	u64 top = 1UL << 30, rnd = SB_STACK_RND;
	while (top < stack_end && top < (1UL << 62)) top <<= 1;
	/* ADDR_NO_RANDOMIZE (setarch -R, gdb's default), which the exec keeps:
	 * the fresh stack's top is STACK_TOP itself, and Bun's mmap area lies
	 * below its own by the stack's rlimit and guard, at least 128 MiB. */
	if (sys1(SYS_personality, 0xffffffffL) & ADDR_NO_RANDOMIZE_) rnd = 0;
	return top - SB_IMAGE_PAGE - rnd - SB_IMAGE_STACK_ROOM;
}
static u64 sb_page_up(u64 a) { return (a + SB_IMAGE_PAGE - 1) & ~(SB_IMAGE_PAGE - 1); }

static s64 sb_pwrite(s64 fd, const void *p, u64 n, u64 off)
{
	s64 rc = sys4(SYS_pwrite64, fd, (s64)p, (s64)n, (s64)off);
	return rc < 0 ? rc : rc != (s64)n ? -E_INVAL : 0;
}

/*
 * The monitor's image for R, in a new sealed memfd (close-on-exec: execveat
 * runs it by fd, and nothing inherits it): its fd, or < 0 when there is
 * none (the monitor is then a fork).
 */
static s64 sb_image(struct sreq *r)
{
	u8 head[ELF_HEADER + 2 * ELF_PHDR];
	u64 ca, cz, ba, bz, boff, tail, floor, word = (u64)r;
	s64 fd, rc;
	s32 i;
	if (r->report_fd < 0 || r->size < (u32)(SB_HEADER + r->stack_len) || sb_names_exe(r) || sb_image_region() < 0)
		return -1;
	ca = sb_page_down(sb_found.lo);
	cz = sb_page_up(sb_found.hi);
	ba = sb_page_down((u64)r);
	bz = sb_page_up((u64)r + r->size);
	/* Apart from each other, and below where a fresh stack may land. */
	floor = sb_stack_floor(sb_found.stack);
	if (!(bz <= ca || ba >= cz) || cz > floor || bz > floor) return -1;
	mem_zero(head, sizeof head);
	elf_head(head, (u64)&SB_IMAGE_ENTRY, 2);
	/* Our code (rwx: its data lives beside it) and the block (rw); in the
	 * file in that order, in the table by address (as ELF asks). */
	boff = SB_IMAGE_PAGE + (cz - ca);
	elf_load(head + ELF_HEADER + (ca < ba ? 0 : ELF_PHDR), 7, SB_IMAGE_PAGE, ca, cz - ca, SB_IMAGE_PAGE);
	elf_load(head + ELF_HEADER + (ca < ba ? ELF_PHDR : 0), 6, boff, ba, bz - ba, SB_IMAGE_PAGE);
	fd = sys2(SYS_memfd_create, (s64)"bun-userns-monitor", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd == -E_INVAL) fd = sys2(SYS_memfd_create, (s64)"bun-userns-monitor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) return fd;
	tail = SB_HEADER + (u64)r->stack_len;
	rc = sys2(SYS_ftruncate, fd, (s64)(boff + (bz - ba)));
	if (rc >= 0) rc = sb_pwrite(fd, head, sizeof head, 0);
	for (i = 0; rc >= 0 && i < sb_found.nranges; i++)
		rc = sb_pwrite(fd, (void *)sb_found.range[2 * i], sb_found.range[2 * i + 1] - sb_found.range[2 * i],
			       SB_IMAGE_PAGE + (sb_found.range[2 * i] - ca));
	for (i = 0; rc >= 0 && i < sb_found.npatches; i++)
		rc = sb_pwrite(fd, &sb_found.patch[2 * i + 1], 8, SB_IMAGE_PAGE + (sb_found.patch[2 * i] - ca));
	if (rc >= 0) rc = sb_pwrite(fd, &word, 8, SB_IMAGE_PAGE + ((u64)&sb_image_block - ca));
	if (rc >= 0) rc = sb_pwrite(fd, r, SB_HEADER, boff + ((u64)r - ba));
	if (rc >= 0) rc = sb_pwrite(fd, (char *)r + tail, r->size - tail, boff + ((u64)r - ba) + tail);
	/* Sealed: nobody rewrites what the monitor will run. */
	if (rc >= 0) rc = sys3(SYS_fcntl, fd, F_ADD_SEALS, PARK_SEALS);
	if (rc < 0) {
		sys1(SYS_close, fd);
		return rc;
	}
	return fd;
}

#else

static s64 sb_image(struct sreq *r)
{
	(void)r;
	return -1;
}

#endif
