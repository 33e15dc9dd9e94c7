/*
 * x86_64 syscall numbers and the three pieces of assembly the helper needs:
 * raw syscalls (no libc errno, no TLS: the helper shares the caller's TLS),
 * the clone trampoline (the child must leave the parent's stack frame before
 * touching any local) and the park loop (no stack after the first stop).
 * Written for both gcc and TinyCC: r10/r8 are loaded from memory operands
 * because TinyCC has no local register variables.
 */
#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_rt_sigprocmask 14
#define SYS_ioctl 16
#define SYS_getpid 39
#define SYS_gettid 186
#define SYS_tgkill 234
#define SYS_clone 56
#define SYS_kill 62
#define SYS_ptrace 101
#define SYS_geteuid 107
#define SYS_getppid 110
#define SYS_setsid 112
#define SYS_setresuid 117
#define SYS_setfsuid 122
#define SYS_capget 125
#define SYS_capset 126
#define SYS_prctl 157
#define SYS_sched_setaffinity 203
#define SYS_getcpu 309
#define SYS_prlimit64 302
#define SYS_personality 135
#define SYS_mount 165
#define SYS_futex 202
#define SYS_exit_group 231
#define SYS_waitid 247
#define SYS_openat 257
#define SYS_unshare 272
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
#define SYS_umount2 166
#define SYS_statfs 137
/* exec */
#define SYS_setns 308
#define SYS_execve 59
#define SYS_dup3 292
#define SYS_pipe2 293
#define SYS_fchdir 81
#define SYS_chdir 80
#define SYS_chroot 161
#define SYS_rt_sigaction 13
#define SYS_fcntl 72
#define SYS_setgroups 116
#define SYS_setresgid 119
/* namespaces as files */
#define SYS_fstatfs 138
#define SYS_unlinkat 263
#define SYS_fchmodat 268
#define SYS_statx 332
/* the exec gate (set_tid_address) and exit notices (an epoll set) */
#define SYS_set_tid_address 218
#define SYS_epoll_create1 291
#define SYS_epoll_ctl 233
#define SYS_epoll_pwait 281
/* entering a time namespace (a shared page for the forked inner's report) */
#define SYS_mmap 9
#define SYS_munmap 11
/* memfds: the park program (park.c) and each thread's registry (registry.c) */
#define SYS_memfd_create 319
#define SYS_execveat 322
#define SYS_pread64 17
#define SYS_pwrite64 18
/* the sandbox monitor's image (monitor-image.c) */
#define SYS_ftruncate 77
/* Open flags that are not the same on every arch (asm/fcntl.h). */
#define O_NOFOLLOW 0400000


static inline s64 sys5(s64 n, s64 a, s64 b, s64 c, s64 d, s64 e)
{
	s64 ret;
	__asm__ volatile("movq %5, %%r10\n\tmovq %6, %%r8\n\tsyscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "m"(d), "m"(e)
			 : "rcx", "r11", "r10", "r8", "memory");
	return ret;
}
static inline s64 sys6(s64 n, s64 a, s64 b, s64 c, s64 d, s64 e, s64 f)
{
	s64 ret;
	__asm__ volatile("movq %5, %%r10\n\tmovq %6, %%r8\n\tmovq %7, %%r9\n\tsyscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "m"(d), "m"(e), "m"(f)
			 : "rcx", "r11", "r10", "r8", "r9", "memory");
	return ret;
}
static inline s64 sys4(s64 n, s64 a, s64 b, s64 c, s64 d) { return sys5(n, a, b, c, d, 0); }
static inline s64 sys3(s64 n, s64 a, s64 b, s64 c)
{
	s64 ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}
static inline s64 sys2(s64 n, s64 a, s64 b) { return sys3(n, a, b, 0); }
static inline s64 sys1(s64 n, s64 a) { return sys3(n, a, 0, 0); }
static inline s64 sys0(s64 n) { return sys3(n, 0, 0, 0); }

/*
 * clone(flags, stack_top - 16, pidfd_out, 0, 0) with fn and arg placed on the
 * new stack. The parent returns the pid (or -errno); the child pops fn and
 * arg, calls fn(arg) on an ABI-aligned stack and exits if fn ever returns.
 * stack_top is rounded down to 16 first: the psABI (3.2.2) has rsp + 8 a
 * multiple of 16 at every function's entry, and compiled code relies on it
 * (gcc -O2 keeps 16-byte locals with movaps, which faults 8 off).
 */
s64 bun_userns_clone_trampoline(u64 flags, char *stack_top, s32 *pidfd, void *arg, void *fn);
__asm__(".text\n"
	".globl bun_userns_clone_trampoline\n"
	".type bun_userns_clone_trampoline, @function\n"
	"bun_userns_clone_trampoline:\n"
	"	andq $-16, %rsi\n"
	"	movq %r8, -16(%rsi)\n"
	"	movq %rcx, -8(%rsi)\n"
	"	subq $16, %rsi\n"
	"	xorl %r10d, %r10d\n"
	"	xorl %r8d, %r8d\n"
	"	movl $" STR(SYS_clone) ", %eax\n"
	"	syscall\n"
	"	testq %rax, %rax\n"
	"	jz 1f\n"
	"	ret\n"
	"1:	xorl %ebp, %ebp\n"
	"	popq %rax\n"
	"	popq %rdi\n"
	"	call *%rax\n"
	"	movl $" STR(SYS_exit_group) ", %eax\n"
	"	movl $253, %edi\n"
	"	syscall\n"
	"	hlt\n");

/*
 * The entry of the sandbox monitor's own image (monitor-image.c): execve
 * leaves rsp 16-aligned at argc, where a C function expects it 8 past a
 * multiple of 16 (the call's return address); the call puts it there.
 * bun_userns_image_main never returns.
 */
#define SB_IMAGE_ENTRY bun_userns_image_start
/* How far below STACK_TOP the kernel may put a new process's stack (STACK_RND_MASK: 0x3fffff pages of 4 KiB). */
#define SB_STACK_RND (16UL << 30)
#define SB_IMAGE_PAGE 4096UL /* the largest page size: segments and file offsets align to it */
/* Relocation types a gcc .so (BUN_USERNS_LIB) of ours carries (elf.h's R_X86_64_*). */
#define SB_R_ABS64 1
#define SB_R_GLOB_DAT 6
#define SB_R_JUMP_SLOT 7
#define SB_R_RELATIVE 8
void bun_userns_image_main(void);
void bun_userns_image_start(void);
#ifndef BUN_USERNS_CORE /* the core build has no sandbox(), so no bun_userns_image_main to call */
__asm__(".text\n"
	".globl bun_userns_image_start\n"
	".type bun_userns_image_start, @function\n"
	"bun_userns_image_start:\n"
	"	xorl %ebp, %ebp\n"
	"	andq $-16, %rsp\n"
	"	call bun_userns_image_main\n"
	"	hlt\n");
#endif

/* kill(getpid(), SIGSTOP), again and again, registers only. A SIGCONT that
 * arrives between the kill and its delivery discards the pending SIGSTOP
 * (job control), so one kill is not always a stop: stop again. If the
 * tracer thread dies the stop ends too, but PDEATHSIG, which that thread's
 * exit also sends, kills the helper wherever it is in this loop. */
static inline void park_forever(void)
{
	__asm__ volatile("1:\n\tmovl $" STR(SYS_getpid) ", %%eax\n\tsyscall\n\t"
			 "movq %%rax, %%rdi\n\tmovl $" STR(SIGSTOP) ", %%esi\n\tmovl $" STR(SYS_kill) ", %%eax\n\tsyscall\n\t"
			 "jmp 1b"
			 :
			 :
			 : "rax", "rdi", "rsi", "rcx", "r11", "memory");
}

/* The park program's code (native/park.c), loaded at its entry with rsp at argc:
 *   mov rsi, [rsp+8]; mov edi, PR_SET_NAME; mov eax, SYS_prctl; syscall  (comm = argv[0])
 *   cmp qword [rsp], 2; jne 1f                    (argc 2: a time namespace to make)
 *   mov edi, CLONE_NEWTIME; mov eax, SYS_unshare; syscall
 *   test eax, eax; jns 1f; neg eax; mov edi, eax; mov eax, SYS_exit_group; syscall
 * 1: mov eax, SYS_getpid; syscall; mov rdi, rax; mov esi, SIGSTOP;
 *    mov eax, SYS_kill; syscall; jmp 1b                                 (park_forever) */
#define PARK_MACHINE 62 /* EM_X86_64 */
static const u8 park_code[] = {
	0x48, 0x8b, 0x74, 0x24, 0x08, 0xbf, 0x0f, 0x00, 0x00, 0x00, 0xb8, 0x9d, 0x00, 0x00, 0x00, 0x0f, 0x05,
	0x48, 0x83, 0x3c, 0x24, 0x02, 0x75, 0x1b,
	0xbf, 0x80, 0x00, 0x00, 0x00, 0xb8, 0x10, 0x01, 0x00, 0x00, 0x0f, 0x05,
	0x85, 0xc0, 0x79, 0x0b, 0xf7, 0xd8, 0x89, 0xc7, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0x0f, 0x05,
	0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x89, 0xc7, 0xbe, 0x13, 0x00, 0x00, 0x00,
	0xb8, 0x3e, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xe8,
};
