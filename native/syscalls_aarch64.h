/*
 * aarch64 (arm64) syscall numbers and the three pieces of assembly the
 * helper needs, with the contracts of syscalls_x86_64.h: raw syscalls (no
 * libc errno, no TLS: the helper shares the caller's TLS), the clone
 * trampoline (the child must leave the parent's stack frame before touching
 * any local) and the park loop (no stack after the first stop).
 *
 * ABI facts relied on (arm64 Linux, AAPCS64):
 * - Syscalls use the generic table (include/uapi/asm-generic/unistd.h): the
 *   number in x8, arguments in x0-x5, `svc #0`, the result (or -errno) in
 *   x0. The kernel preserves every other register, so x0 is the only one
 *   changed; flags are not part of the contract.
 * - clone on arm64 takes (flags, newsp, parent_tid, tls, child_tid)
 *   (CONFIG_CLONE_BACKWARDS; x86_64 swaps the last two). CLONE_PIDFD stores
 *   the pidfd through parent_tid (x2), the same third argument as on x86_64.
 *   The child starts with the parent's registers, x0 = 0 and sp = newsp.
 * - sp must be 16-byte aligned (spawn.c aligns the stack top to 16); calls
 *   use bl/blr and keep the return address in x30, so a call touches no
 *   stack; x9-x15 are scratch across calls.
 * - Signal numbers (SIGSTOP 19, SIGKILL 9, SIGCONT 18), siginfo_t, the
 *   open flags O_WRONLY, O_CREAT, O_EXCL, O_CLOEXEC and O_PATH, the sigset
 *   size (8) and every struct the C passes (statx, the first word of statfs,
 *   sigaction with sa_restorer) are the same as x86_64's. O_NOFOLLOW is not
 *   (0100000 here, 0400000 there): each header defines it, and the suite
 *   checks both against <asm/fcntl.h>. Nothing else changes per arch.
 *
 * Written for both gcc and Bun's TinyCC. TinyCC's arm64 assembler knows no
 * mnemonics (`svc` is "not implemented"), so every instruction is emitted
 * as its 32-bit encoding with `.int` (never `.word`: 16 bits there), each
 * commented with what it is. Its generic directives (.text, .globl, labels,
 * expressions) work. A "+r" operand on a register variable is never loaded
 * by TinyCC: inputs and outputs are separate "r" and "=r" operands pinned
 * to the same register.
 */
#define SYS_read 63
#define SYS_write 64
#define SYS_close 57
#define SYS_rt_sigprocmask 135
#define SYS_ioctl 29
#define SYS_getpid 172
#define SYS_gettid 178
#define SYS_tgkill 131
#define SYS_clone 220
#define SYS_kill 129
#define SYS_ptrace 117
#define SYS_geteuid 175
#define SYS_getppid 173
#define SYS_setsid 157
#define SYS_setresuid 147
#define SYS_setfsuid 151
#define SYS_capget 90
#define SYS_capset 91
#define SYS_prctl 167
#define SYS_sched_setaffinity 122
#define SYS_getcpu 168
#define SYS_prlimit64 261
#define SYS_personality 92
#define SYS_mount 40
#define SYS_futex 98
#define SYS_exit_group 94
#define SYS_waitid 95
#define SYS_openat 56
#define SYS_unshare 97
#define SYS_pidfd_send_signal 424
#define SYS_pidfd_open 434
#define SYS_close_range 436
#define SYS_open_tree 428
#define SYS_mount_setattr 442
/* mounts */
#define SYS_move_mount 429
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#define SYS_umount2 39
#define SYS_statfs 43
/* exec */
#define SYS_setns 268
#define SYS_execve 221
#define SYS_dup3 24
#define SYS_pipe2 59
#define SYS_fchdir 50
#define SYS_chdir 49
#define SYS_chroot 51
#define SYS_rt_sigaction 134
#define SYS_fcntl 25
#define SYS_setgroups 159
#define SYS_setresgid 149
/* namespaces as files */
#define SYS_fstatfs 44
#define SYS_unlinkat 35
#define SYS_fchmodat 53
#define SYS_statx 291
/* the exec gate (set_tid_address) and exit notices (an epoll set) */
#define SYS_set_tid_address 96
#define SYS_epoll_create1 20
#define SYS_epoll_ctl 21
#define SYS_epoll_pwait 22
/* entering a time namespace (a shared page for the forked inner's report) */
#define SYS_mmap 222
#define SYS_munmap 215
/* memfds: the park program (park.c) and each thread's registry (registry.c) */
#define SYS_memfd_create 279
#define SYS_execveat 281
#define SYS_pread64 67
#define SYS_pwrite64 68
/* the sandbox monitor's image (monitor-image.c) */
#define SYS_ftruncate 46
/* Open flags that are not the same on every arch (arm64's asm/fcntl.h: not
 * the generic 0400000, which is O_LARGEFILE here and follows links). */
#define O_NOFOLLOW 0100000

/* A64 encodings used below. MOVZ Xd, #imm16: 0xd2800000 | imm16 << 5 | d. */
#define A64_SVC0 "0xd4000001"
#define A64_MOVZ(d, imm) ".int 0xd2800000 + ((" imm ") << 5) + " #d "\n"

static inline s64 sys5(s64 n, s64 a, s64 b, s64 c, s64 d, s64 e)
{
	register s64 x8 __asm__("x8") = n;
	register s64 x0 __asm__("x0") = a;
	register s64 x1 __asm__("x1") = b;
	register s64 x2 __asm__("x2") = c;
	register s64 x3 __asm__("x3") = d;
	register s64 x4 __asm__("x4") = e;
	register s64 ret __asm__("x0");
	__asm__ volatile(".int " A64_SVC0 " /* svc #0 */"
			 : "=r"(ret)
			 : "r"(x8), "r"(x0), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
			 : "memory");
	return ret;
}
static inline s64 sys6(s64 n, s64 a, s64 b, s64 c, s64 d, s64 e, s64 f)
{
	register s64 x8 __asm__("x8") = n;
	register s64 x0 __asm__("x0") = a;
	register s64 x1 __asm__("x1") = b;
	register s64 x2 __asm__("x2") = c;
	register s64 x3 __asm__("x3") = d;
	register s64 x4 __asm__("x4") = e;
	register s64 x5 __asm__("x5") = f;
	register s64 ret __asm__("x0");
	__asm__ volatile(".int " A64_SVC0 " /* svc #0 */"
			 : "=r"(ret)
			 : "r"(x8), "r"(x0), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return ret;
}
static inline s64 sys4(s64 n, s64 a, s64 b, s64 c, s64 d) { return sys5(n, a, b, c, d, 0); }
static inline s64 sys3(s64 n, s64 a, s64 b, s64 c)
{
	register s64 x8 __asm__("x8") = n;
	register s64 x0 __asm__("x0") = a;
	register s64 x1 __asm__("x1") = b;
	register s64 x2 __asm__("x2") = c;
	register s64 ret __asm__("x0");
	__asm__ volatile(".int " A64_SVC0 " /* svc #0 */"
			 : "=r"(ret)
			 : "r"(x8), "r"(x0), "r"(x1), "r"(x2)
			 : "memory");
	return ret;
}
static inline s64 sys2(s64 n, s64 a, s64 b) { return sys3(n, a, b, 0); }
static inline s64 sys1(s64 n, s64 a) { return sys3(n, a, 0, 0); }
static inline s64 sys0(s64 n) { return sys3(n, 0, 0, 0); }

/*
 * clone(flags, stack_top, pidfd_out, 0, 0). fn and arg wait in x9 and x10,
 * which the child inherits (it starts with the parent's registers), so the
 * child touches no memory before its call. The parent returns the pid (or
 * -errno); the child clears the frame pointer and link register, calls
 * fn(arg) on the 16-aligned stack top and exits if fn ever returns.
 * stack_top is rounded down to 16 first: AAPCS64 has SP mod 16 = 0 at
 * every public interface, and the kernel faults any access through a
 * misaligned sp (SCTLR_EL1.SA0).
 * In: x0 flags, x1 stack_top, x2 pidfd, x3 arg, x4 fn.
 */
s64 bun_userns_clone_trampoline(u64 flags, char *stack_top, s32 *pidfd, void *arg, void *fn);
__asm__(".text\n"
	".globl bun_userns_clone_trampoline\n"
	".type bun_userns_clone_trampoline, %function\n"
	".balign 4\n"
	"bun_userns_clone_trampoline:\n"
	"	.int 0xaa0403e9\n" /* mov x9, x4 (fn) */
	"	.int 0xaa0303ea\n" /* mov x10, x3 (arg) */
	"	.int 0xaa1f03e3\n" /* mov x3, xzr (tls) */
	"	.int 0xaa1f03e4\n" /* mov x4, xzr (child_tid) */
	"	.int 0x927cec21\n" /* and x1, x1, #~15 (stack_top) */
	"	" A64_MOVZ(8, STR(SYS_clone)) /* mov x8, #SYS_clone */
	"	.int " A64_SVC0 "\n" /* svc #0 */
	"	.int 0xb4000040\n" /* cbz x0, +8 (the child) */
	"	.int 0xd65f03c0\n" /* ret (the parent: pid or -errno) */
	"	.int 0xaa1f03fd\n" /* mov x29, xzr */
	"	.int 0xaa1f03fe\n" /* mov x30, xzr */
	"	.int 0xaa0a03e0\n" /* mov x0, x10 (arg) */
	"	.int 0xd63f0120\n" /* blr x9 (fn) */
	"	" A64_MOVZ(0, "253") /* mov x0, #253 */
	"	" A64_MOVZ(8, STR(SYS_exit_group)) /* mov x8, #SYS_exit_group */
	"	.int " A64_SVC0 "\n" /* svc #0 */
	"	.int 0xd4200000\n" /* brk #0 (never reached) */
	".size bun_userns_clone_trampoline, . - bun_userns_clone_trampoline\n");

/*
 * The entry of the sandbox monitor's own image (monitor-image.c): execve
 * leaves sp 16-aligned at argc, as a C function expects it on entry, and a
 * function that never returns needs no link register: the C function
 * itself is the entry.
 */
#define SB_IMAGE_ENTRY bun_userns_image_main
/* How far below STACK_TOP the kernel may put a new process's stack (STACK_RND_MASK: 0x3ffff 4 KiB pages, or as many bytes in larger pages). */
#define SB_STACK_RND (1UL << 30)
#define SB_IMAGE_PAGE 65536UL /* the largest page size (64K kernels): segments and file offsets align to it */
/* Relocation types a gcc .so (BUN_USERNS_LIB) of ours carries (elf.h's R_AARCH64_*). */
#define SB_R_ABS64 257
#define SB_R_GLOB_DAT 1025
#define SB_R_JUMP_SLOT 1026
#define SB_R_RELATIVE 1027
void bun_userns_image_main(void);

/* kill(getpid(), SIGSTOP), again and again, registers only (x0, x1, x8). A
 * SIGCONT that arrives between the kill and its delivery discards the
 * pending SIGSTOP (job control), so one kill is not always a stop: stop
 * again. If the tracer thread dies the stop ends too, but PDEATHSIG, which
 * that thread's exit also sends, kills the helper wherever it is in this
 * loop. A function of its own because TinyCC's arm64 inline asm cannot name
 * clobbered registers; bl keeps the return address in x30, no stack. */
void bun_userns_park_loop(void);
__asm__(".text\n"
	".globl bun_userns_park_loop\n"
	".type bun_userns_park_loop, %function\n"
	".balign 4\n"
	"bun_userns_park_loop:\n"
	"	" A64_MOVZ(8, STR(SYS_getpid)) /* 1: mov x8, #SYS_getpid */
	"	.int " A64_SVC0 "\n" /* svc #0 -> x0 = pid */
	"	" A64_MOVZ(1, STR(SIGSTOP)) /* mov x1, #SIGSTOP */
	"	" A64_MOVZ(8, STR(SYS_kill)) /* mov x8, #SYS_kill */
	"	.int " A64_SVC0 "\n" /* svc #0 */
	"	.int 0x17fffffb\n" /* b 1b (-5 instructions) */
	".size bun_userns_park_loop, . - bun_userns_park_loop\n");

static inline void park_forever(void)
{
	bun_userns_park_loop();
}

/* The park program's code (native/park.c), little-endian words, sp at argc:
 *   ldr x1, [sp, #8]; mov x0, #PR_SET_NAME; mov x8, #SYS_prctl; svc #0     (comm = argv[0])
 *   ldr x2, [sp]; cmp x2, #2; b.ne 1f                (argc 2: a time namespace to make)
 *   mov x0, #CLONE_NEWTIME; mov x8, #SYS_unshare; svc #0
 *   cbz x0, 1f; neg x0, x0; mov x8, #SYS_exit_group; svc #0
 * 1: mov x8, #SYS_getpid; svc #0; mov x1, #SIGSTOP; mov x8, #SYS_kill;
 *    svc #0; b 1b                                                       (park_forever) */
#define PARK_MACHINE 183 /* EM_AARCH64 */
#define A64_WORD(w) (u8)(w), (u8)((w) >> 8), (u8)((w) >> 16), (u8)((w) >> 24)
static const u8 park_code[] = {
	A64_WORD(0xf94007e1), A64_WORD(0xd28001e0), A64_WORD(0xd28014e8), A64_WORD(0xd4000001),
	A64_WORD(0xf94003e2), A64_WORD(0xf100085f), A64_WORD(0x54000101),
	A64_WORD(0xd2801000), A64_WORD(0xd2800c28), A64_WORD(0xd4000001),
	A64_WORD(0xb4000080), A64_WORD(0xcb0003e0), A64_WORD(0xd2800bc8), A64_WORD(0xd4000001),
	A64_WORD(0xd2801588), A64_WORD(0xd4000001), A64_WORD(0xd2800261), A64_WORD(0xd2801028),
	A64_WORD(0xd4000001), A64_WORD(0x17fffffb),
};
