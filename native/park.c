/*
 * The park program: a tiny static ELF that an unprivileged caller's helper
 * execs once its namespaces are set up, so that it stops sharing Bun's
 * memory before any other process can be in those namespaces.
 *
 * Why: a process holding CAP_SYS_PTRACE in the helper's user namespace (a
 * command run there as its root, a subordinate uid of a rootless range)
 * passes ptrace_may_access against the helper; only the mm's dumpable flag
 * then stands between it and every task sharing that mm, and
 * process_vm_readv needs no /proc file. A privileged caller seals its mm
 * instead (it keeps access through CAP_SYS_PTRACE); an unprivileged one
 * cannot: a sealed mm makes its own helper's /proc/PID files root's, so it
 * could no longer write their maps or open their namespaces. After execve
 * the helper has an mm of its own (owned by its own user namespace) that
 * holds nothing but the code below.
 *
 * The program (PARK_CODE, per architecture): prctl(PR_SET_NAME, argv[0]),
 * so the comm the orphan sweep reads survives the exec, then the park loop
 * of park_forever: kill(getpid(), SIGSTOP), again and again. It runs with
 * every signal blocked (the mask survives execve), so the SIGTRAP that
 * PTRACE_TRACEME's exec sends stays pending and never stops it; the
 * caller's start sees the SIGSTOP stop, after the kernel cleared the
 * helper's mm gate word at the exec.
 *
 * It lives in a sealed memfd made for each helper and closed by the caller
 * once the helper has exec'd it: one per process would be reachable from
 * inside any helper's namespaces (/proc/HELPER/exe) and owned by the
 * caller's uid, which is their root: a chmod there would fail every later
 * helper. execveat(AT_EMPTY_PATH) runs it without a path that another uid
 * or a mount namespace could change.
 */

#define MFD_CLOEXEC 1U
#define MFD_ALLOW_SEALING 2U
#define MFD_EXEC 0x10U /* Linux 6.3: exec allowed even under vm.memfd_noexec=1; EINVAL before */
#define F_ADD_SEALS 1033
#define PARK_SEALS 15 /* F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE */
#define AT_EMPTY_PATH 0x1000
#define PARK_BASE 0x400000UL
#define ELF_HEADER 64
#define ELF_PHDR 56

static void put_le(u8 *p, u64 v, int bytes)
{
	int i;
	for (i = 0; i < bytes; i++) p[i] = (u8)(v >> (8 * i));
}

/* A static executable's ELF header (x86_64 or aarch64, little-endian, 64-bit) with PHNUM program headers after it. */
static void elf_head(u8 *h, u64 entry, int phnum)
{
	h[0] = 0x7f; h[1] = 'E'; h[2] = 'L'; h[3] = 'F';
	h[4] = 2; /* ELFCLASS64 */
	h[5] = 1; /* little-endian */
	h[6] = 1; /* EV_CURRENT */
	put_le(h + 16, 2, 2); /* ET_EXEC */
	put_le(h + 18, PARK_MACHINE, 2);
	put_le(h + 20, 1, 4);
	put_le(h + 24, entry, 8); /* e_entry */
	put_le(h + 32, ELF_HEADER, 8); /* e_phoff */
	put_le(h + 52, ELF_HEADER, 2); /* e_ehsize */
	put_le(h + 54, ELF_PHDR, 2); /* e_phentsize */
	put_le(h + 56, (u64)phnum, 2); /* e_phnum */
}

/* One PT_LOAD at PH: [va, va + len) from file offset OFF, FLAGS (PF_*), aligned to ALIGN. */
static void elf_load(u8 *ph, u32 flags, u64 off, u64 va, u64 len, u64 align)
{
	put_le(ph, 1, 4); /* PT_LOAD */
	put_le(ph + 4, flags, 4);
	put_le(ph + 8, off, 8);
	put_le(ph + 16, va, 8); /* p_vaddr */
	put_le(ph + 24, va, 8); /* p_paddr */
	put_le(ph + 32, len, 8); /* p_filesz */
	put_le(ph + 40, len, 8); /* p_memsz */
	put_le(ph + 48, align, 8);
}

/* The ELF: one header, one PT_LOAD of the whole file (R+X), then the code. */
static s64 park_image_build(u8 *img)
{
	s64 size = ELF_HEADER + ELF_PHDR + (s64)sizeof park_code;
	int i;
	mem_zero(img, size);
	elf_head(img, PARK_BASE + ELF_HEADER + ELF_PHDR, 1);
	/* PF_R | PF_X; 64 KiB alignment suits 4K and 64K pages. */
	elf_load(img + ELF_HEADER, 5, 0, PARK_BASE, (u64)size, 0x10000);
	for (i = 0; i < (int)sizeof park_code; i++) img[ELF_HEADER + ELF_PHDR + i] = park_code[i];
	return size;
}

/* A new sealed memfd holding the park program, close-on-exec: its fd, or -errno. */
static s64 park_image(void)
{
	u8 img[ELF_HEADER + ELF_PHDR + sizeof park_code];
	s64 fd, size, rc;
	fd = sys2(SYS_memfd_create, (s64)"bun-userns-park", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd == -E_INVAL) fd = sys2(SYS_memfd_create, (s64)"bun-userns-park", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) return fd;
	size = park_image_build(img);
	rc = sys3(SYS_write, fd, (s64)img, size);
	if (rc >= 0 && rc != size) rc = -E_INVAL;
	/* Sealed: nobody rewrites what the helper will run. */
	if (rc >= 0) rc = sys3(SYS_fcntl, fd, F_ADD_SEALS, PARK_SEALS);
	if (rc < 0) {
		sys1(SYS_close, fd);
		return rc;
	}
	return fd;
}

/* The caller's copy of the image fd, once the helper has exec'd or is gone. */
static void park_image_close(struct req *r)
{
	if (r->image_fd >= 0) sys1(SYS_close, r->image_fd);
	r->image_fd = -1;
}
