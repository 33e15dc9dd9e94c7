/*
 * What the caller (the codecs of src/) and the C agree on: the op numbers,
 * every request block's fields, the step tables and the option bits. The
 * loader (src/core/native.ts) compares all of it at load (OP_ABI, rendered by
 * contract.c), so a stale BUN_USERNS_LIB build is refused instead of misread.
 */
#define BUN_USERNS_ABI 13

#define STR_(x) #x
#define STR(x) STR_(x)

typedef unsigned long u64;
typedef long s64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef int s32;
typedef unsigned char u8;

/* Kernel ABI constants (include/uapi), spelled out: no headers here. */
#define E_PERM 1
#define E_SRCH 3
#define E_INTR 4
#define E_CHILD 10
#define E_AGAIN 11
#define E_INVAL 22
#define E_NOSYS 38
#define E_TIMEDOUT 110
#define O_RDONLY 00
#define O_RDWR 02
#define O_WRONLY 01
#define O_CLOEXEC 02000000
#define AT_FDCWD (-100)
#define SIG_SETMASK 2
#define SIGKILL 9
#define SIGCONT 18
#define SIGSTOP 19
#define CLONE_VM 0x00000100
#define CLONE_FILES 0x00000400
#define CLONE_PIDFD 0x00001000
#define CLONE_NEWNS 0x00020000
#define CLONE_NEWTIME 0x00000080
#define CLONE_NEWUSER 0x10000000
#define CLOSE_RANGE_UNSHARE 2
#define MS_REC 0x4000
#define MS_PRIVATE 0x40000
#define MS_SLAVE 0x80000
#define MS_SHARED 0x100000
#define PR_SET_PDEATHSIG 1
#define PR_GET_PDEATHSIG 2
#define PR_GET_DUMPABLE 3
#define PR_SET_DUMPABLE 4
#define PR_SET_NAME 15
#define PTRACE_TRACEME 0
#define PTRACE_CONT 7
#define PTRACE_GETSIGINFO 0x4202
#define P_PIDFD 3
#define WNOHANG 1
#define WSTOPPED 2
#define WEXITED 4
#define WALL 0x40000000
#define CLD_EXITED 1
#define CLD_KILLED 2
#define CLD_DUMPED 3
#define CLD_TRAPPED 4
#define CLD_STOPPED 5
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define CAP_V3 0x20080522
#define CAP_SYS_ADMIN 21
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2

struct cap_header { u32 version; s32 pid; };
struct cap_data { u32 effective, permitted, inheritable; };
#define NS_GET_OWNER_UID 0xb704

/* siginfo_t as waitid fills it (the _sigchld member). */
#define SI_CODE(info) (*(s32 *)((info) + 8))
#define SI_PID(info) (*(s32 *)((info) + 16))
#define SI_STATUS(info) (*(s32 *)((info) + 24))

/*
 * The head of every request block that runs in steps (req, xreq, mount_req,
 * target_req, pin_req, sreq and the sandbox's report page sout; the kernel
 * probe's block is a head alone): which step failed, in the block's own step
 * table (0: none), and its errno. fail() (fail.c) is its one writer; the
 * caller reads it after any failure.
 */
struct head {
	s32 step;        /*  0 out: the step that failed */
	s32 err;         /*  4 out: its errno */
};

/*
 * The request block, shared by the caller and the helper (same memory).
 * Its layout is the contract's (CONTRACT_FIELDS below).
 */
#define MAP_TEXT_MAX 4096
struct req {
	s32 step;        /*  0 out: which step failed (enum step): the head */
	s32 err;         /*  4 out: its errno */
	u64 flags;       /*  8 in: namespaces the helper unshares */
	s32 owner_uid;   /* 16 in: create the userns as this euid; -1 = as caller */
	s32 setgroups;   /* 20 in: 1 = "allow", 2 = "deny", 0 = "allow", or "deny" where the parent forbids it */
	s32 uid_len;     /* 24 in: bytes of uid_text */
	s32 gid_len;     /* 28 in: bytes of gid_text */
	s32 ppid;        /* 32 caller: its tgid, for the helper's parent check */
	s32 go;          /* 36 futex: 0 wait, 1 maps written, <0 -errno of the caller */
	s32 pid;         /* 40 out */
	s32 pidfd;       /* 44 out */
	s32 stack_len;   /* 48 in: bytes of stack after the texts */
	s32 cpu;         /* 52 caller: its CPU at clone time */
	s32 tid;         /* 56 caller: the creating thread (tracer, PDEATHSIG source) */
	s32 state;       /* 60 helper: how far it got (enum state) */
	s32 park_exec;   /* 64 in: 1 = exec the park program after setup (native/park.c), 0 = seal Bun's mm */
	s32 image_fd;    /* 68 caller: the park program's fd, for the helper */
	s32 mm_gate;     /* 72 futex: 1 until the helper lets go of Bun's mm (exec or exit), then 0 */
	s32 propagation; /* 76 in: / of a new mount namespace: PROP_PRIVATE (0), _SLAVE, _SHARED, _UNCHANGED */
	char uid_text[MAP_TEXT_MAX]; /* 80 */
	char gid_text[MAP_TEXT_MAX]; /* 80 + 4096 */
	/* the helper's stack follows */
};

/* The helper's progress, written by the helper only. */
enum state { STATE_BORN, STATE_WAITING, STATE_PARKING };

/* The helper's steps that can fail, with the syscall that failed there. */
#define STEPS(X)                                  \
	X(NONE, "none", "clone")                  \
	X(SIGMASK, "sigmask", "rt_sigprocmask")   \
	X(CAPGET, "capget", "capget")             \
	X(CAPSET, "capset", "capset")             \
	X(PRCTL, "prctl", "prctl")                \
	X(DUMPABLE, "dumpable", "prctl")          \
	X(SETRESUID, "setresuid", "setresuid")    \
	X(CLONE, "clone", "clone")                \
	X(RESTORE, "restore", "setresuid")        \
	X(UID_MAP, "uid_map", "write")            \
	X(SETGROUPS, "setgroups", "write")        \
	X(GID_MAP, "gid_map", "write")            \
	X(CLOSE_RANGE, "close_range", "close_range") \
	X(PDEATHSIG, "pdeathsig", "prctl")        \
	X(PARENT_GONE, "parent_gone", "getppid")  \
	X(MAP_WAIT, "map_wait", "futex")          \
	X(UNSHARE, "unshare", "unshare")          \
	X(MOUNT, "mount", "mount")                \
	X(PTRACE, "ptrace", "ptrace")             \
	X(PARK, "park", "waitid")                 \
	X(PARK_IMAGE, "park_image", "memfd_create") \
	X(PARK_EXEC, "park_exec", "execveat")

#define STEP_ENUM(id, name, syscall) STEP_##id,
enum step { STEPS(STEP_ENUM) STEP_COUNT };
#undef STEP_ENUM

/*
 * Op numbers of the one bound symbol. OP_ABI is a number no earlier build
 * defined: an old .so answers -EINVAL to it and is refused, where op 0 would
 * have run its spawn.
 */
#define CONTRACT_OPS(X)                                                                     \
	X(ABI, abi, 100)                                                                    \
	/* helpers (helper.c, spawn.c) */                                                   \
	X(CLONE, clone, 1) X(WRITE_MAPS, write_maps, 2) X(START, start, 3) X(ABORT, abort, 4) \
	X(ALIVE, alive, 5) X(RELEASE, release, 6) X(WRITE_SETGROUPS, write_setgroups, 14)   \
	/* process primitives and probes (probe.c, parent.c) */                                 \
	X(CLOSE, close, 7) X(PROBE_KERNEL, probe_kernel, 9)           \
	X(CAP_EFFECTIVE, cap_effective, 10) X(OWNER_UID, owner_uid, 11)                     \
	X(NPROC_LIMIT, nproc_limit, 13) X(PIPE, pipe, 32) X(PIDFD_SIGNAL, pidfd_signal, 33)  \
	X(PIDFD_OPEN, pidfd_open, 34) X(DIE_WITH_PARENT, die_with_parent, 8)               \
	/* idmapped mounts (mount.c) */                                                     \
	X(OPEN_TREE_IDMAP, open_tree_idmap, 20) X(ATTACH_TREE, attach_tree, 21)             \
	X(UMOUNT, umount, 22) X(FS_TYPE, fs_type, 23)                                       \
	/* commands inside namespaces (exec.c), their exit notices (watch.c), a pty (pty.c) */ \
	X(EXEC, exec, 30) X(EXEC_POLL, exec_poll, 31) X(WATCH_OPEN, watch_open, 35)         \
	X(WATCH_ADD, watch_add, 36) X(WATCH_WAIT, watch_wait, 37) X(PTY_OPEN, pty_open, 38)  \
	X(WINSIZE, winsize, 39)                                                             \
	/* namespaces as fds and files (ns.c) */                                            \
	X(NS_OPEN, ns_open, 40) X(NS_STAT, ns_stat, 42) X(NS_PIN, ns_pin, 43)               \
	X(NS_UNPIN, ns_unpin, 44)                                                           \
	/* the registry of what each thread's calls hold (registry.c) */                    \
	X(REG_OPEN, reg_open, 50) X(REC, rec, 51)                                           \
	/* sandbox(): a command in a view of its own (sandbox.c; its blocks in sandbox-abi.h) */ \
	X(SANDBOX, sandbox, 60)

#define OP_ENUM(id, name, num) OP_##id = num,
enum op { CONTRACT_OPS(OP_ENUM) };
#undef OP_ENUM


/* Small answer blocks: what ops with no request struct of their own write. */
struct ns_query { u32 answer[8]; char path[4096]; };   /* ns_open/ns_stat: PATH in, answers over answer */
struct fs_query { u64 magic; char path[4096]; };       /* fs_type: PATH in, statfs f_type out (-errno: no steps) */
struct rec_args { s32 action; s32 arg; u32 req_lo; u32 req_hi; }; /* rec: enum rec_action, its argument, a struct req for abort */
struct pipe_out { s32 read_fd; s32 write_fd; s32 read_slot; s32 write_slot; }; /* pipe: fds out, their registry slots in */
struct pty_out { s32 master; s32 slave; };             /* pty_open */
struct winsize_io { u16 rows; u16 cols; u16 xpixel; u16 ypixel; }; /* winsize */

/*
 * Every request block: its size, then each field as (block, field, offset,
 * size). contract.c asserts each against the C struct.
 */
#define CONTRACT_BLOCKS(B)                                                               \
	B(head, 8) B(req, 8272) B(xreq, 264) B(mount_req, 4144) B(target_req, 4128) B(pin_req, 4160)  \
	B(reg_header, 64) B(rec, 32) B(ns_query, 4128) B(fs_query, 4104) B(rec_args, 16)    \
	B(pipe_out, 16) B(pty_out, 8) B(winsize_io, 8) B(sreq, 288) B(sop, 48) B(made, 280)

#define CONTRACT_FIELDS(F)                                                                     \
	F(head, step, 0, 4) F(head, err, 4, 4)                                                     \
	F(req, step, 0, 4) F(req, err, 4, 4) F(req, flags, 8, 8) F(req, owner_uid, 16, 4)            \
	F(req, setgroups, 20, 4) F(req, uid_len, 24, 4) F(req, gid_len, 28, 4) F(req, ppid, 32, 4)   \
	F(req, go, 36, 4) F(req, pid, 40, 4) F(req, pidfd, 44, 4) F(req, stack_len, 48, 4)          \
	F(req, cpu, 52, 4) F(req, tid, 56, 4) F(req, state, 60, 4) F(req, park_exec, 64, 4)         \
	F(req, image_fd, 68, 4) F(req, mm_gate, 72, 4) F(req, propagation, 76, 4)                 \
	F(req, uid_text, 80, 4096)                                                                 \
	F(req, gid_text, 4176, 4096)                                                               \
	F(xreq, step, 0, 4) F(xreq, err, 4, 4) F(xreq, pidfd, 8, 4) F(xreq, ns_flags, 12, 4)         \
	F(xreq, nfds, 16, 4) F(xreq, opts, 20, 4) F(xreq, stdio, 24, 12) F(xreq, ppid, 36, 4)        \
	F(xreq, pid, 40, 4) F(xreq, cmd_pidfd, 44, 4) F(xreq, fds, 48, 32) F(xreq, types, 80, 32)    \
	F(xreq, stack_len, 112, 4) F(xreq, gate, 116, 4) F(xreq, argv, 120, 8) F(xreq, envp, 128, 8) \
	F(xreq, path, 136, 8) F(xreq, cwd, 144, 8) F(xreq, uid, 152, 4) F(xreq, gid, 156, 4)         \
	F(xreq, report, 160, 8) F(xreq, fork_stack, 168, 8) F(xreq, not_default, 176, 8)            \
	F(xreq, copy, 184, 4) F(xreq, ctty, 188, 4) F(xreq, unshare, 192, 4)                       \
	F(xreq, kill_sig, 196, 4) F(xreq, root, 200, 8) F(xreq, proc_dir, 208, 8)                  \
	F(xreq, time_off, 216, 32) F(xreq, pass, 248, 8) F(xreq, npass, 256, 4)                    \
	F(mount_req, step, 0, 4) F(mount_req, err, 4, 4) F(mount_req, owner, 8, 4)                 \
	F(mount_req, userns_fd, 12, 4) F(mount_req, attr_set, 16, 8) F(mount_req, attr_clr, 24, 8)  \
	F(mount_req, propagation, 32, 8) F(mount_req, recursive, 40, 4) F(mount_req, path, 48, 4096) \
	F(target_req, step, 0, 4) F(target_req, err, 4, 4) F(target_req, owner, 8, 4)               \
	F(target_req, fd, 12, 4) F(target_req, flags, 16, 4) F(target_req, mnt_id, 24, 8)           \
	F(target_req, path, 32, 4096)                                                              \
	F(pin_req, step, 0, 4) F(pin_req, err, 4, 4) F(pin_req, why, 8, 4) F(pin_req, owner, 12, 4)  \
	F(pin_req, flags, 16, 4) F(pin_req, mnt_id, 24, 8) F(pin_req, ns_ino, 32, 8)                \
	F(pin_req, file_ino, 40, 8) F(pin_req, dev_major, 48, 4) F(pin_req, dev_minor, 52, 4)       \
	F(pin_req, unlinked, 56, 4) F(pin_req, path, 64, 4096)                                     \
	F(reg_header, magic, 0, 8) F(reg_header, tid, 8, 4) F(reg_header, start, 16, 8)             \
	F(rec, kind, 0, 4) F(rec, fd, 4, 4) F(rec, pid, 8, 4) F(rec, flags, 12, 4) F(rec, ino, 16, 8) \
	F(rec, dev_major, 24, 4) F(rec, dev_minor, 28, 4)                                          \
	F(ns_query, answer, 0, 32) F(ns_query, path, 32, 4096)                                     \
	F(fs_query, magic, 0, 8) F(fs_query, path, 8, 4096)                                        \
	F(rec_args, action, 0, 4) F(rec_args, arg, 4, 4) F(rec_args, req_lo, 8, 4)                  \
	F(rec_args, req_hi, 12, 4)                                                                 \
	F(pipe_out, read_fd, 0, 4) F(pipe_out, write_fd, 4, 4) F(pipe_out, read_slot, 8, 4)         \
	F(pipe_out, write_slot, 12, 4)                                                             \
	F(pty_out, master, 0, 4) F(pty_out, slave, 4, 4)                                           \
	F(winsize_io, rows, 0, 2) F(winsize_io, cols, 2, 2) F(winsize_io, xpixel, 4, 2)             \
	F(winsize_io, ypixel, 6, 2)                                                                \
	F(sreq, step, 0, 4) F(sreq, err, 4, 4) F(sreq, nops, 8, 4) F(sreq, ops, 12, 4)     \
	F(sreq, stdio, 16, 12) F(sreq, ppid, 28, 4) F(sreq, pid, 32, 4) F(sreq, pidfd, 36, 4)        \
	F(sreq, helper_pidfd, 40, 4) F(sreq, opts, 44, 4) F(sreq, index, 48, 4) F(sreq, gate, 52, 4)          \
	F(sreq, stack_len, 56, 4) F(sreq, uid, 60, 4) F(sreq, gid, 64, 4) F(sreq, nseccomp, 68, 4)   \
	F(sreq, caps, 72, 8) F(sreq, argc, 80, 4) F(sreq, argv, 84, 4) F(sreq, envc, 88, 4)          \
	F(sreq, envp, 92, 4) F(sreq, ptrs, 96, 4) F(sreq, path, 100, 4) F(sreq, cwd, 104, 4)         \
	F(sreq, hostname, 108, 4) F(sreq, seccomp, 112, 4) F(sreq, made_max, 116, 4)                \
	F(sreq, made, 120, 4) F(sreq, copy, 124, 4) F(sreq, report, 128, 8)                        \
	F(sreq, not_default, 136, 8) F(sreq, epipe, 144, 8) F(sreq, nmade, 152, 4)                 \
	F(sreq, monitor, 156, 4) F(sreq, umask, 160, 4) F(sreq, first, 164, 4)                     \
	F(sreq, ns, 168, 48) F(sreq, file, 216, 4) F(sreq, userns2, 220, 4)                       \
	F(sreq, pidns, 224, 4) F(sreq, block_fd, 228, 4) F(sreq, sync_fd, 232, 4)                 \
	F(sreq, nlocks, 236, 4) F(sreq, locks, 240, 4) F(sreq, userns_block_fd, 244, 4)           \
	F(sreq, ns_user, 248, 8) F(sreq, exit_fd, 256, 4) F(sreq, size, 260, 4)                   \
	F(sreq, report_fd, 264, 4) F(sreq, image_fd, 268, 4) F(sreq, dead, 272, 4)                 \
	F(sreq, npass, 276, 4) F(sreq, pass, 280, 4)                                               \
	F(sop, type, 0, 4) F(sop, flags, 4, 4) F(sop, mode, 8, 4) F(sop, fd, 12, 4) F(sop, size, 16, 8) \
	F(sop, source, 24, 4) F(sop, target, 28, 4) F(sop, data, 32, 4) F(sop, src, 36, 4)          \
	F(made, dirfd, 0, 4) F(made, is_dir, 4, 4) F(made, ino, 8, 8) F(made, dev_major, 16, 4)     \
	F(made, dev_minor, 20, 4) F(made, name, 24, 256)

/* A command's steps (exec.c): each failure's step, and the syscall that failed there. */
#define XSTEPS(X)                                                                              \
	X(NONE, none, none) X(SIGMASK, sigmask, rt_sigprocmask) X(CLONE, clone, clone)            \
	X(PDEATHSIG, pdeathsig, prctl) X(PARENT_GONE, parent_gone, getppid) X(STDIO, stdio, dup3)  \
	X(SETNS_FD, setns_fd, setns) X(SETNS, setns, setns) X(CLOSE_RANGE, close_range, close_range) \
	X(CHDIR, chdir, fchdir) X(FORK, fork, clone) X(MOUNT_PROC, mount_proc, move_mount)                \
	X(EXEC, exec, execve) X(PIDFD_OPEN, pidfd_open, pidfd_open) X(UNSHARE, unshare, unshare)    \
	X(PROPAGATION, propagation, mount) X(SETID, setid, setresuid) X(GATE, gate, futex)          \
	X(STOPPED, stopped, waitid) X(DUMPABLE, dumpable, prctl) X(KILLED, killed, waitid)          \
	X(SETSID, setsid, setsid) X(CTTY, ctty, ioctl) X(CHROOT, chroot, chroot)                  \
	X(CAPS, caps, capset) X(TIME_OFFSETS, time_offsets, write)                                 \
	X(RESOLVE_CWD, resolve_cwd, openat) X(RESOLVE_ROOT, resolve_root, openat)                  \
	X(RESOLVE_PROC, resolve_proc, openat) X(PROC_PRIVATE, proc_private, mount_setattr)         \
	X(PROC_FS, proc_fs, fsopen) X(PROC_CREATE, proc_create, fsconfig) X(PROC_MOUNT, proc_mount, fsmount)

/* An idmapped mount's steps (mount.c); 0 is success. */
#define MSTEPS(X)                                                                              \
	X(NONE, none, none) X(OPEN_TREE, open_tree, open_tree) X(SETATTR, mount_setattr, mount_setattr) \
	X(MOVE, move_mount, move_mount) X(UMOUNT, umount, umount2) X(RESOLVE, resolve, openat)      \
	X(OTHER_MOUNT, other_mount, statx)

/* A pin's or an unpin's steps (ns.c); 0 is done. */
#define NSSTEPS(X)                                                                             \
	X(DONE, done, none) X(OPEN, open, openat) X(CHECK, check, fstatfs) X(MOUNT, mount, move_mount) \
	X(UMOUNT, umount, umount2) X(UNLINK, unlink, unlinkat) X(RESOLVE, resolve, openat)

/* The kernel probe's steps (probe.c): the first call that failed; 0 is all work. */
#define PSTEPS(X)                                                                              \
	X(NONE, none, none) X(PIDFD_OPEN, pidfd_open, pidfd_open)                                  \
	X(PIDFD_SIGNAL, pidfd_send_signal, pidfd_send_signal) X(WAITID, waitid, waitid)             \
	X(CLOSE_RANGE, close_range, close_range)

/* Why a pin or unpin was refused (ns.c; src/ns/pins.ts words it). */
#define PIN_WHYS(X)                                                                            \
	X(NONE, none) X(SYMLINK, symlink) X(NOT_FILE, not_file) X(MOUNTED, mounted)                \
	X(NOT_EMPTY, not_empty) X(OWNER, owner) X(NOT_PIN, not_pin) X(OTHER_PIN, other_pin)         \
	X(KEPT, kept)

/* Option bits and codes the TypeScript sets or reads. */
#define CONTRACT_CONSTS(C)                                                                     \
	C(XOPT_FORK, 1) C(XOPT_MOUNT_PROC, 2) C(XOPT_NEW_PID, 4) C(XOPT_SLAVE, 8) C(XOPT_SHARED, 16) \
	C(XOPT_OWN_MM, 32) C(XOPT_NEW_SESSION, 64) C(XOPT_CTTY, 128) C(XOPT_PRIVATE, 256)          \
	C(XOPT_KEEP_CAPS, 512) C(XOPT_TIME_OFFSETS, 1024) C(POLL_SIGNALED, 256)                    \
	C(PROP_PRIVATE, 0) C(PROP_SLAVE, 1) C(PROP_SHARED, 2) C(PROP_UNCHANGED, 3)                 \
	C(PIN_CREATE, 1) C(PIN_UNLINK, 2) C(PIN_UNLINK_MADE, 4) C(PIN_OVERWRITE, 8)                 \
	C(REC_FREE, 0) C(REC_HELPER, 1) C(REC_COMMAND, 2) C(REC_PIPE, 3)                            \
	C(RA_FORGET, 0) C(RA_CLOSE, 1) C(RA_KILL, 2) C(RA_POLL, 3) C(RA_RELEASE, 4) C(RA_ALIVE, 5)  \
	C(RA_CHECK, 6) C(RA_SWEEP, 7) C(RA_ABORT, 8)                                               \
	C(SETGROUPS_AUTO, 0) C(SETGROUPS_ALLOW, 1) C(SETGROUPS_DENY, 2)                             \
	C(SO_NEW_PID, 1) C(SO_AS_PID1, 2) C(SO_NEW_SESSION, 4) C(SO_NET, 8) C(SO_IPC, 16)           \
	C(SO_UTS, 32) C(SO_CGROUP, 64) C(SO_NO_USERNS, 128) C(SO_ASSERT_NO_USERNS, 256)            \
	C(SO_CALLER_CAPS, 512) C(SO_CALLER_MAPS, 1024)                                             \
	C(SOP_BIND, 1) C(SOP_TMPFS, 2) C(SOP_PROC, 3) C(SOP_DEV, 4) C(SOP_MQUEUE, 5) C(SOP_DIR, 6)  \
	C(SOP_FILE, 7) C(SOP_SYMLINK, 8) C(SOP_CHMOD, 9) C(SOP_REMOUNT_RO, 10) C(SOP_OVERLAY, 11)  \
	C(SF_RO, 1) C(SF_DEV, 2) C(SF_TRY, 4) C(SF_FD, 8) C(SF_TMP, 16)

#define XSTEP_ENUM(id, name, syscall) X_##id,
enum xstep { XSTEPS(XSTEP_ENUM) };
#undef XSTEP_ENUM
#define MSTEP_ENUM(id, name, syscall) MSTEP_##id,
enum mstep { MSTEPS(MSTEP_ENUM) };
#undef MSTEP_ENUM
#define NSSTEP_ENUM(id, name, syscall) NS_##id,
enum ns_step { NSSTEPS(NSSTEP_ENUM) };
#undef NSSTEP_ENUM
#define PSTEP_ENUM(id, name, syscall) PROBE_##id,
enum probe_step { PSTEPS(PSTEP_ENUM) };
#undef PSTEP_ENUM
#define WHY_ENUM(id, name) WHY_##id,
enum pin_why { PIN_WHYS(WHY_ENUM) };
#undef WHY_ENUM
#define CONST_ENUM(name, value) name = value,
enum contract_const { CONTRACT_CONSTS(CONST_ENUM) };
#undef CONST_ENUM
