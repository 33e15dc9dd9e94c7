/*
 * The sandbox's request block (native/sandbox.c), filled by
 * src/sandbox/request.ts. Its layout is part of the contract (abi.h's
 * tables, held by contract.c). Nothing in it is a pointer: strings, tables and
 * records are found by their offset from the start of the block, so the
 * TypeScript side never handles an address. The block is Bun's memory; the
 * entering child reads it in place, the monitor and the sandbox's processes
 * in their copy of it (same addresses).
 *
 * Layout: the header (SB_HEADER bytes), the stack (stack_len bytes), then
 * the op table, strings, file data, seccomp program and the records of
 * mount points made on the host, each at the offset the header names.
 */
#define SB_HEADER sizeof(struct sreq) /* the layout follows the struct, whatever its size */
#define SB_STACK_MIN 65536

/* Option bits and op types: their values are the contract's (CONTRACT_CONSTS in abi.h). opts: */
/* SO_NEW_PID (1) a pid namespace: an init as pid 1 unless SO_AS_PID1 */
/* SO_AS_PID1 (2) the command itself is pid 1 */
/* SO_NEW_SESSION (4) setsid before exec: no controlling terminal to push input into */
/* SO_NET (8) a network namespace, loopback up */
/* SO_IPC (16) */
/* SO_UTS (32) */
/* SO_CGROUP (64) */
/* SO_NO_USERNS (128) no user namespace can be made inside */
/* SO_ASSERT_NO_USERNS (256) the command starts only if it cannot make a user namespace */
/* SO_CALLER_CAPS (512) the kept capabilities are effective and permitted only: nothing inheritable or ambient, as a new user namespace starts */
/* SO_CALLER_MAPS (1024) the caller writes the maps while the first process waits on userns_block_fd */

/* op types */
/* SOP_BIND (1) */
/* SOP_TMPFS (2) */
/* SOP_PROC (3) */
/* SOP_DEV (4) */
/* SOP_MQUEUE (5) */
/* SOP_DIR (6) */
/* SOP_FILE (7) */
/* SOP_SYMLINK (8) */
/* SOP_CHMOD (9) */
/* SOP_REMOUNT_RO (10) */
/* SOP_OVERLAY (11) overlayfs: size = layers, source = offset of u32 offsets (layers bottom
 * first, then upper and work), data = offset of s32 fds (the monitor's resolutions, same order) */
/* op flags */
/* SF_RO (1) read-only (recursively) */
/* SF_DEV (2) device nodes usable: no nodev */
/* SF_TRY (4) a missing source skips the op */
/* SF_FD (8) the source is fd (bind-fd) */
/* SF_TMP (16) overlay: upper and work on a fresh tmpfs */

struct sop {
	s32 type;    /*  0 SOP_* */
	s32 flags;   /*  4 SF_* */
	s32 mode;    /*  8 tmpfs root, dir, file, chmod: permission bits; -1 = default */
	s32 fd;      /* 12 in: SF_FD's descriptor */
	u64 size;    /* 16 tmpfs: size= in bytes (0: the kernel's default); file: bytes of data */
	u32 source;  /* 24 offset of the source path (bind) or link text (symlink), 0 = none */
	u32 target;  /* 28 offset of the destination, absolute inside the new root */
	u32 data;    /* 32 offset of a file's bytes */
	s32 src;     /* 36 monitor: the source resolved on the host (O_PATH fd), or -errno */
	u64 pad;     /* 40 */
};

/* A file or directory the view had to create outside its own filesystems
 * (under a host bind): removed by the monitor when the sandbox is over. */
struct made {
	s32 dirfd;      /*  0 O_PATH fd of its directory (the monitor's table) */
	s32 is_dir;     /*  4 0 a file, 1 a directory, 2 a directory a "dir" entry asked for (kept once started) */
	u64 ino;        /*  8 */
	u32 dev_major;  /* 16 */
	u32 dev_minor;  /* 20 */
	char name[256]; /* 24 */
};

struct sreq {
	s32 step;         /*   0 out: enum sstep that failed: the head (fail.c) */
	s32 err;          /*   4 out: its errno */
	s32 nops;         /*   8 in */
	u32 ops;          /*  12 in: offset of struct sop[nops] */
	s32 stdio[3];     /*  16 in: fd for 0, 1, 2; -1 keep ours; -2 /dev/null */
	s32 ppid;         /*  28 the caller's tgid */
	s32 pid;          /*  32 out: the monitor's pid (our namespace) */
	s32 pidfd;        /*  36 out: its pidfd */
	s32 helper_pidfd; /*  40 in: the helper whose user namespace the sandbox enters */
	s32 opts;         /*  44 in: SO_* */
	s32 index;        /*  48 out: the op that failed, or -1 */
	s32 gate;         /*  52 futex: 1 until the entering child lets go of Bun's mm */
	s32 stack_len;    /*  56 in: bytes of stack after the header */
	s32 uid;          /*  60 in: the command's uid inside */
	s32 gid;          /*  64 in */
	s32 nseccomp;     /*  68 in: instructions of the seccomp program (0: none) */
	u64 caps;         /*  72 in: capabilities the command keeps (bit N = capability N) */
	s32 argc;         /*  80 in */
	u32 argv;         /*  84 in: offset of u32 offsets of argc strings */
	s32 envc;         /*  88 in */
	u32 envp;         /*  92 in: offset of u32 offsets of envc strings */
	u32 ptrs;         /*  96 in: offset of room for (argc + envc + 2) pointers */
	u32 path;         /* 100 in: offset of PATH for the lookup, 0 = none */
	u32 cwd;          /* 104 in: offset of the directory inside, 0 = "/" */
	u32 hostname;     /* 108 in: offset, 0 = none */
	u32 seccomp;      /* 112 in: offset of the program (8 bytes an instruction) */
	s32 made_max;     /* 116 in: room for records */
	u32 made;         /* 120 in: offset of struct made[made_max] */
	s32 copy;         /* 124 out: the monitor's pid, written at its clone */
	u64 report;       /* 128 the MAP_SHARED page every process of the start reports into */
	u64 not_default;  /* 136 signals whose disposition is not SIG_DFL in Bun */
	s32 epipe[2];     /* 144 the entering child's pipe: EOF when the start is over */
	s32 nmade;        /* 152 records made */
	s32 monitor;      /* 156 the monitor's pid as it sees itself (the sandbox's parent check) */
	s32 umask;        /* 160 the caller's umask, given back to the command */
	s32 first;        /* 164 out: the sandbox's first process (pid 1 of its pid namespace), our namespace */
	u64 ns[6];        /* 168 out: inodes of its cgroup, ipc, mnt, net, pid, uts namespaces */
	u32 file;         /* 216 in: offset of the file to execute, 0 = argv[0] (argv0 differs) */
	s32 userns2;      /* 220 in: a user namespace entered after setup, or -1 */
	s32 pidns;        /* 224 in: a pid namespace the sandbox goes into, or -1 */
	s32 block_fd;     /* 228 in: read (one byte or EOF) before the exec, or -1 */
	s32 sync_fd;      /* 232 in: held open by the monitor until the sandbox is over, or -1 */
	s32 nlocks;       /* 236 in */
	u32 locks;        /* 240 in: offset of u32 offsets of nlocks paths inside the view */
	s32 userns_block_fd; /* 244 in: read once the namespaces exist, before the view, or -1 */
	u64 ns_user;      /* 248 out: inode of its user namespace (the one it was built in) */
	s32 exit_fd;      /* 256 in: the write end of Bun's exit pipe; the monitor alone holds it, so Bun reads EOF as it exits */
	u32 size;         /* 260 in: bytes of the whole block (the monitor's image holds them) */
	s32 report_fd;    /* 264 the report page's memfd (the exec'd monitor maps it again), or -1 */
	s32 image_fd;     /* 268 the monitor's image (a sealed memfd) while it is exec'd, or -1 */
	s32 dead;         /* 272 a monitor whose image never ran (Bun reaps it), or 0 */
	s32 npass;        /* 276 in */
	u32 pass;         /* 280 in: offset of s32[npass], ascending, each > 2: the caller's fds the command keeps */
	s32 spare;        /* 284 */
};

/* What every process of the start writes: the MAP_SHARED page. */
struct sout {
	s32 step, err; /* the head (fail.c): the first failure of any process of the start */
	s32 index;
	s32 ready; /* futex: the init has the command running (or the start is reported early) */
	s32 cmd;   /* the command's pid as the init sees it */
	s32 first; /* the first process, as the monitor sees it */
	u64 ns[6]; /* its namespaces' inodes (struct sreq's ns) */
	u64 ns_user;
	s32 first_fd; /* pidns with "pid": the first process's pidfd, from the intermediate */
	s32 image;    /* 1 once the monitor runs as its own image (monitor-image.c) */
	s32 xgate;    /* futex: 1 until the first process exec'd (the command) or exited; the kernel clears it */
	s32 pad;
};

/* Every step that can fail, with its syscall: part of the contract (the loader compares it whole). */
#define SSTEPS(X)                                  \
	X(NONE, "none", "clone")                   \
	X(SIGMASK, "sigmask", "rt_sigprocmask")    \
	X(CLONE, "clone", "clone")                 \
	X(PIPE, "pipe", "pipe2")                   \
	X(PARENT_GONE, "parent_gone", "prctl")     \
	X(STDIO, "stdio", "dup3")                  \
	X(DUMPABLE, "dumpable", "prctl")           \
	X(SOURCE, "source", "openat")              \
	X(SETNS, "setns", "setns")                 \
	X(UNSHARE, "unshare", "unshare")           \
	X(PROPAGATION, "propagation", "mount")     \
	X(NEWROOT, "newroot", "fsmount")           \
	X(MKDIR, "mkdir", "mkdirat")               \
	X(RESOLVE, "resolve", "openat2")           \
	X(OPEN_TREE, "open_tree", "open_tree")     \
	X(SOURCE_CHANGED, "source_changed", "statx") \
	X(SETATTR, "mount_setattr", "mount_setattr") \
	X(MOVE_MOUNT, "move_mount", "move_mount")  \
	X(FSMOUNT, "fsmount", "fsconfig")          \
	X(WRITE, "write", "write")                 \
	X(SYMLINK, "symlink", "symlinkat")         \
	X(CHMOD, "chmod", "fchmodat2")             \
	X(MADE, "made", "mkdirat")                 \
	X(PIVOT, "pivot_root", "pivot_root")       \
	X(HOSTNAME, "hostname", "sethostname")     \
	X(LOOPBACK, "loopback", "ioctl")           \
	X(USERNS_LIMIT, "userns_limit", "write")   \
	X(FORK, "fork", "clone")                   \
	X(SETSID, "setsid", "setsid")              \
	X(SETID, "setid", "setresuid")             \
	X(CAPS, "caps", "capset")                  \
	X(NNP, "no_new_privs", "prctl")            \
	X(CLOSE_RANGE, "close_range", "close_range") \
	X(CHDIR, "chdir", "chdir")                 \
	X(SECCOMP, "seccomp", "seccomp")           \
	X(EXEC, "exec", "execve")                  \
	X(STOPPED, "stopped", "waitid")            \
	X(KILLED, "killed", "waitid")              \
	X(GATE, "gate", "futex")                   \
	X(PIDFD_OPEN, "pidfd_open", "pidfd_open")  \
	X(LOCK, "lock", "fcntl")                   \
	X(USERNS_ENABLED, "userns_enabled", "unshare") \
	X(NESTED_USERNS, "nested_userns", "unshare")   \
	X(NESTED_MAPS, "nested_maps", "write")

#define SSTEP_ENUM(id, name, syscall) S_##id,
enum sstep { SSTEPS(SSTEP_ENUM) S_COUNT };
#undef SSTEP_ENUM
