/*
 * What the caller (src/core/native.ts) and the C agree on: the request block, the
 * step table and the op numbers. src/core/native.ts checks all three at load
 * (OP_ABI), so a stale BUN_USERNS_LIB build is refused instead of misread.
 */
#define BUN_USERNS_ABI 4

#define STR_(x) #x
#define STR(x) STR_(x)

typedef unsigned long u64;
typedef long s64;
typedef unsigned int u32;
typedef int s32;
typedef unsigned char u8;

/* Kernel ABI constants (include/uapi), spelled out: no headers here. */
#define E_PERM 1
#define E_SRCH 3
#define E_INTR 4
#define E_CHILD 10
#define E_AGAIN 11
#define E_INVAL 22
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
 * The request block, shared by the caller and the helper (same memory).
 * Layout mirrored in src/core/native.ts; offsets are fixed by the asserts below.
 */
#define MAP_TEXT_MAX 4096
struct req {
	u64 flags;       /*  0 in: namespaces the helper unshares */
	s32 owner_uid;   /*  8 in: create the userns as this euid; -1 = as caller */
	s32 setgroups;   /* 12 in: 1 = "allow", 2 = "deny", 0 = "allow", or "deny" where the parent forbids it */
	s32 uid_len;     /* 16 in: bytes of uid_text */
	s32 gid_len;     /* 20 in: bytes of gid_text */
	s32 ppid;        /* 24 caller: its tgid, for the helper's parent check */
	s32 go;          /* 28 futex: 0 wait, 1 maps written, <0 -errno of the caller */
	s32 step;        /* 32 out: which step failed (enum step) */
	s32 err;         /* 36 out: its errno */
	s32 pid;         /* 40 out */
	s32 pidfd;       /* 44 out */
	s32 stack_len;   /* 48 in: bytes of stack after the texts */
	s32 cpu;         /* 52 caller: its CPU at clone time */
	s32 tid;         /* 56 caller: the creating thread (tracer, PDEATHSIG source) */
	s32 state;       /* 60 helper: how far it got (enum state) */
	s32 park_exec;   /* 64 in: 1 = exec the park program after setup (native/park.c), 0 = seal Bun's mm */
	s32 image_fd;    /* 68 caller: the park program's fd, for the helper */
	s32 mm_gate;     /* 72 futex: 1 until the helper lets go of Bun's mm (exec or exit), then 0 */
	s32 pad;         /* 76 */
	char uid_text[MAP_TEXT_MAX]; /* 80 */
	char gid_text[MAP_TEXT_MAX]; /* 80 + 4096 */
	/* the helper's stack follows */
};
#define OFFSET(f) ((long)&((struct req *)0)->f)
_Static_assert(OFFSET(go) == 28, "layout");
_Static_assert(OFFSET(stack_len) == 48, "layout");
_Static_assert(OFFSET(state) == 60, "layout");
_Static_assert(OFFSET(park_exec) == 64, "layout");
_Static_assert(OFFSET(mm_gate) == 72, "layout");
_Static_assert(OFFSET(uid_text) == 80, "layout");
_Static_assert(sizeof(struct req) == 80 + 2 * MAP_TEXT_MAX, "layout");

/* The helper's progress, written by the helper only. */
enum state { STATE_BORN, STATE_WAITING, STATE_PARKING };

/*
 * Every step that can fail, with the syscall that failed there. One table:
 * the enum here, and the text OP_ABI hands to src/core/native.ts, which takes its
 * step names and syscall names from it.
 */
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
	X(UID_MAP, "uid_map", "write uid_map")    \
	X(SETGROUPS, "setgroups", "write setgroups") \
	X(GID_MAP, "gid_map", "write gid_map")    \
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

/* Op numbers of the one bound symbol; mirrored in src/core/native.ts. */
enum op {
	/* A number no earlier build defined: an old .so answers -EINVAL to it
	 * and is refused, where op 0 would have run its spawn. */
	OP_ABI = 100,
	OP_CLONE = 1,
	OP_WRITE_MAPS = 2,
	OP_START = 3,
	OP_ABORT = 4,
	OP_ALIVE = 5,
	OP_RELEASE = 6,
	OP_CLOSE = 7,
	OP_OPEN_NS = 8,
	OP_PROBE_KERNEL = 9,
	OP_CAP_EFFECTIVE = 10,
	OP_OWNER_UID = 11,
	OP_NPROC_LIMIT = 13,
	OP_WRITE_SETGROUPS = 14,
	/* issue 9: mounts (native/mount.c) */
	OP_OPEN_TREE_IDMAP = 20,
	OP_ATTACH_TREE = 21,
	OP_UMOUNT = 22,
	OP_FS_TYPE = 23,
	/* issue 11: exec */
	OP_EXEC = 30,
	OP_EXEC_POLL = 31,
	OP_PIPE = 32,
	OP_EXEC_KILL = 33,
	OP_PIDFD_OPEN = 34,
	/* issue 11: exit notices (native/watch.c) */
	OP_WATCH_OPEN = 35,
	OP_WATCH_ADD = 36,
	OP_WATCH_WAIT = 37,
	/* issue 11: namespaces as fds and files (native/ns.c) */
	OP_NS_OPEN = 40,
	OP_NS_STAT = 42,
	OP_NS_PIN = 43,
	OP_NS_UNPIN = 44,
	/* the registry of what each thread's calls hold (registry.c) */
	OP_REG_OPEN = 50,
	OP_REC = 51,
	/* sandbox(): a command in a view of its own (sandbox.c; its block in sandbox-abi.h) */
	OP_SANDBOX = 60,
	OP_SANDBOX_ABI = 61,
};
