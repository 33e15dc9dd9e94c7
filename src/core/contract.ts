/**
 * The TypeScript side of the contract of native/abi.h: every op, every request
 * block's fields (offset, size), every step table (the step, and the syscall
 * that fails there) and every option bit. The loader (native.ts) renders this
 * as text and compares it whole with the C's own (OP_ABI): a build that differs
 * in anything is refused, saying what differs. The codecs take their offsets,
 * op numbers and step names from here and nowhere else.
 */

/** BUN_USERNS_ABI of native/abi.h. */
export const ABI_VERSION = 13;

/** CONTRACT_OPS: the op numbers of the one bound symbol. */
export const OPS = {
  abi: 100,
  clone: 1,
  write_maps: 2,
  start: 3,
  abort: 4,
  alive: 5,
  release: 6,
  write_setgroups: 14,
  close: 7,
  probe_kernel: 9,
  cap_effective: 10,
  owner_uid: 11,
  nproc_limit: 13,
  pipe: 32,
  pidfd_signal: 33,
  pidfd_open: 34,
  die_with_parent: 8,
  open_tree_idmap: 20,
  attach_tree: 21,
  umount: 22,
  fs_type: 23,
  exec: 30,
  exec_poll: 31,
  watch_open: 35,
  watch_add: 36,
  watch_wait: 37,
  pty_open: 38,
  winsize: 39,
  ns_open: 40,
  ns_stat: 42,
  ns_pin: 43,
  ns_unpin: 44,
  reg_open: 50,
  rec: 51,
  sandbox: 60,
} as const;

/** CONTRACT_BLOCKS and CONTRACT_FIELDS: each block's size and its fields as [offset, size]. */
export const BLOCKS = {
  head: {
    size: 8,
    fields: {
      step: [0, 4],
      err: [4, 4],
    },
  },
  req: {
    size: 8272,
    fields: {
      step: [0, 4],
      err: [4, 4],
      flags: [8, 8],
      owner_uid: [16, 4],
      setgroups: [20, 4],
      uid_len: [24, 4],
      gid_len: [28, 4],
      ppid: [32, 4],
      go: [36, 4],
      pid: [40, 4],
      pidfd: [44, 4],
      stack_len: [48, 4],
      cpu: [52, 4],
      tid: [56, 4],
      state: [60, 4],
      park_exec: [64, 4],
      image_fd: [68, 4],
      mm_gate: [72, 4],
      propagation: [76, 4],
      uid_text: [80, 4096],
      gid_text: [4176, 4096],
    },
  },
  xreq: {
    size: 264,
    fields: {
      step: [0, 4],
      err: [4, 4],
      pidfd: [8, 4],
      ns_flags: [12, 4],
      nfds: [16, 4],
      opts: [20, 4],
      stdio: [24, 12],
      ppid: [36, 4],
      pid: [40, 4],
      cmd_pidfd: [44, 4],
      fds: [48, 32],
      types: [80, 32],
      stack_len: [112, 4],
      gate: [116, 4],
      argv: [120, 8],
      envp: [128, 8],
      path: [136, 8],
      cwd: [144, 8],
      uid: [152, 4],
      gid: [156, 4],
      report: [160, 8],
      fork_stack: [168, 8],
      not_default: [176, 8],
      copy: [184, 4],
      ctty: [188, 4],
      unshare: [192, 4],
      kill_sig: [196, 4],
      root: [200, 8],
      proc_dir: [208, 8],
      time_off: [216, 32],
      pass: [248, 8],
      npass: [256, 4],
    },
  },
  mount_req: {
    size: 4144,
    fields: {
      step: [0, 4],
      err: [4, 4],
      owner: [8, 4],
      userns_fd: [12, 4],
      attr_set: [16, 8],
      attr_clr: [24, 8],
      propagation: [32, 8],
      recursive: [40, 4],
      path: [48, 4096],
    },
  },
  target_req: {
    size: 4128,
    fields: {
      step: [0, 4],
      err: [4, 4],
      owner: [8, 4],
      fd: [12, 4],
      flags: [16, 4],
      mnt_id: [24, 8],
      path: [32, 4096],
    },
  },
  pin_req: {
    size: 4160,
    fields: {
      step: [0, 4],
      err: [4, 4],
      why: [8, 4],
      owner: [12, 4],
      flags: [16, 4],
      mnt_id: [24, 8],
      ns_ino: [32, 8],
      file_ino: [40, 8],
      dev_major: [48, 4],
      dev_minor: [52, 4],
      unlinked: [56, 4],
      path: [64, 4096],
    },
  },
  reg_header: {
    size: 64,
    fields: {
      magic: [0, 8],
      tid: [8, 4],
      start: [16, 8],
    },
  },
  rec: {
    size: 32,
    fields: {
      kind: [0, 4],
      fd: [4, 4],
      pid: [8, 4],
      flags: [12, 4],
      ino: [16, 8],
      dev_major: [24, 4],
      dev_minor: [28, 4],
    },
  },
  ns_query: {
    size: 4128,
    fields: {
      answer: [0, 32],
      path: [32, 4096],
    },
  },
  fs_query: {
    size: 4104,
    fields: {
      magic: [0, 8],
      path: [8, 4096],
    },
  },
  rec_args: {
    size: 16,
    fields: {
      action: [0, 4],
      arg: [4, 4],
      req_lo: [8, 4],
      req_hi: [12, 4],
    },
  },
  pipe_out: {
    size: 16,
    fields: {
      read_fd: [0, 4],
      write_fd: [4, 4],
      read_slot: [8, 4],
      write_slot: [12, 4],
    },
  },
  pty_out: {
    size: 8,
    fields: {
      master: [0, 4],
      slave: [4, 4],
    },
  },
  winsize_io: {
    size: 8,
    fields: {
      rows: [0, 2],
      cols: [2, 2],
      xpixel: [4, 2],
      ypixel: [6, 2],
    },
  },
  sreq: {
    size: 288,
    fields: {
      step: [0, 4],
      err: [4, 4],
      nops: [8, 4],
      ops: [12, 4],
      stdio: [16, 12],
      ppid: [28, 4],
      pid: [32, 4],
      pidfd: [36, 4],
      helper_pidfd: [40, 4],
      opts: [44, 4],
      index: [48, 4],
      gate: [52, 4],
      stack_len: [56, 4],
      uid: [60, 4],
      gid: [64, 4],
      nseccomp: [68, 4],
      caps: [72, 8],
      argc: [80, 4],
      argv: [84, 4],
      envc: [88, 4],
      envp: [92, 4],
      ptrs: [96, 4],
      path: [100, 4],
      cwd: [104, 4],
      hostname: [108, 4],
      seccomp: [112, 4],
      made_max: [116, 4],
      made: [120, 4],
      copy: [124, 4],
      report: [128, 8],
      not_default: [136, 8],
      epipe: [144, 8],
      nmade: [152, 4],
      monitor: [156, 4],
      umask: [160, 4],
      first: [164, 4],
      ns: [168, 48],
      file: [216, 4],
      userns2: [220, 4],
      pidns: [224, 4],
      block_fd: [228, 4],
      sync_fd: [232, 4],
      nlocks: [236, 4],
      locks: [240, 4],
      userns_block_fd: [244, 4],
      ns_user: [248, 8],
      exit_fd: [256, 4],
      size: [260, 4],
      report_fd: [264, 4],
      image_fd: [268, 4],
      dead: [272, 4],
      npass: [276, 4],
      pass: [280, 4],
    },
  },
  sop: {
    size: 48,
    fields: {
      type: [0, 4],
      flags: [4, 4],
      mode: [8, 4],
      fd: [12, 4],
      size: [16, 8],
      source: [24, 4],
      target: [28, 4],
      data: [32, 4],
      src: [36, 4],
    },
  },
  made: {
    size: 280,
    fields: {
      dirfd: [0, 4],
      is_dir: [4, 4],
      ino: [8, 8],
      dev_major: [16, 4],
      dev_minor: [20, 4],
      name: [24, 256],
    },
  },
} as const;

/** STEPS: a helper's steps (helper.c, spawn.c), by the number the C reports. */
export const HELPER_STEPS = [
  ["none", "clone"],
  ["sigmask", "rt_sigprocmask"],
  ["capget", "capget"],
  ["capset", "capset"],
  ["prctl", "prctl"],
  ["dumpable", "prctl"],
  ["setresuid", "setresuid"],
  ["clone", "clone"],
  ["restore", "setresuid"],
  ["uid_map", "write"],
  ["setgroups", "write"],
  ["gid_map", "write"],
  ["close_range", "close_range"],
  ["pdeathsig", "prctl"],
  ["parent_gone", "getppid"],
  ["map_wait", "futex"],
  ["unshare", "unshare"],
  ["mount", "mount"],
  ["ptrace", "ptrace"],
  ["park", "waitid"],
  ["park_image", "memfd_create"],
  ["park_exec", "execveat"],
] as const;

/** XSTEPS: a command's steps (exec.c). */
export const EXEC_STEPS = [
  ["none", "none"],
  ["sigmask", "rt_sigprocmask"],
  ["clone", "clone"],
  ["pdeathsig", "prctl"],
  ["parent_gone", "getppid"],
  ["stdio", "dup3"],
  ["setns_fd", "setns"],
  ["setns", "setns"],
  ["close_range", "close_range"],
  ["chdir", "fchdir"],
  ["fork", "clone"],
  ["mount_proc", "move_mount"],
  ["exec", "execve"],
  ["pidfd_open", "pidfd_open"],
  ["unshare", "unshare"],
  ["propagation", "mount"],
  ["setid", "setresuid"],
  ["gate", "futex"],
  ["stopped", "waitid"],
  ["dumpable", "prctl"],
  ["killed", "waitid"],
  ["setsid", "setsid"],
  ["ctty", "ioctl"],
  ["chroot", "chroot"],
  ["caps", "capset"],
  ["time_offsets", "write"],
  ["resolve_cwd", "openat"],
  ["resolve_root", "openat"],
  ["resolve_proc", "openat"],
  ["proc_private", "mount_setattr"],
  ["proc_fs", "fsopen"],
  ["proc_create", "fsconfig"],
  ["proc_mount", "fsmount"],
] as const;

/** MSTEPS: an idmapped mount's steps (mount.c); 0 is success. */
export const MOUNT_STEPS = [
  ["none", "none"],
  ["open_tree", "open_tree"],
  ["mount_setattr", "mount_setattr"],
  ["move_mount", "move_mount"],
  ["umount", "umount2"],
  ["resolve", "openat"],
  ["other_mount", "statx"],
] as const;

/** NSSTEPS: a pin's or an unpin's steps (ns.c); 0 is done. */
export const NS_STEPS = [
  ["done", "none"],
  ["open", "openat"],
  ["check", "fstatfs"],
  ["mount", "move_mount"],
  ["umount", "umount2"],
  ["unlink", "unlinkat"],
  ["resolve", "openat"],
] as const;

/** SSTEPS: a sandbox's steps (sandbox.c). */
export const SANDBOX_STEPS = [
  ["none", "clone"],
  ["sigmask", "rt_sigprocmask"],
  ["clone", "clone"],
  ["pipe", "pipe2"],
  ["parent_gone", "prctl"],
  ["stdio", "dup3"],
  ["dumpable", "prctl"],
  ["source", "openat"],
  ["setns", "setns"],
  ["unshare", "unshare"],
  ["propagation", "mount"],
  ["newroot", "fsmount"],
  ["mkdir", "mkdirat"],
  ["resolve", "openat2"],
  ["open_tree", "open_tree"],
  ["source_changed", "statx"],
  ["mount_setattr", "mount_setattr"],
  ["move_mount", "move_mount"],
  ["fsmount", "fsconfig"],
  ["write", "write"],
  ["symlink", "symlinkat"],
  ["chmod", "fchmodat2"],
  ["made", "mkdirat"],
  ["pivot_root", "pivot_root"],
  ["hostname", "sethostname"],
  ["loopback", "ioctl"],
  ["userns_limit", "write"],
  ["fork", "clone"],
  ["setsid", "setsid"],
  ["setid", "setresuid"],
  ["caps", "capset"],
  ["no_new_privs", "prctl"],
  ["close_range", "close_range"],
  ["chdir", "chdir"],
  ["seccomp", "seccomp"],
  ["exec", "execve"],
  ["stopped", "waitid"],
  ["killed", "waitid"],
  ["gate", "futex"],
  ["pidfd_open", "pidfd_open"],
  ["lock", "fcntl"],
  ["userns_enabled", "unshare"],
  ["nested_userns", "unshare"],
  ["nested_maps", "write"],
] as const;

/** PSTEPS: the kernel probe's steps (probe.c): the first call that failed; 0 is all work. */
export const PROBE_STEPS = [
  ["none", "none"],
  ["pidfd_open", "pidfd_open"],
  ["pidfd_send_signal", "pidfd_send_signal"],
  ["waitid", "waitid"],
  ["close_range", "close_range"],
] as const;

/** PIN_WHYS: why a pin or an unpin was refused. */
export const PIN_WHYS = [
  "none",
  "symlink",
  "not_file",
  "mounted",
  "not_empty",
  "owner",
  "not_pin",
  "other_pin",
  "kept",
] as const;

/** CONTRACT_CONSTS: option bits and codes. */
export const CONSTS = {
  XOPT_FORK: 1,
  XOPT_MOUNT_PROC: 2,
  XOPT_NEW_PID: 4,
  XOPT_SLAVE: 8,
  XOPT_SHARED: 16,
  XOPT_OWN_MM: 32,
  XOPT_NEW_SESSION: 64,
  XOPT_CTTY: 128,
  XOPT_PRIVATE: 256,
  XOPT_KEEP_CAPS: 512,
  XOPT_TIME_OFFSETS: 1024,
  POLL_SIGNALED: 256,
  PROP_PRIVATE: 0,
  PROP_SLAVE: 1,
  PROP_SHARED: 2,
  PROP_UNCHANGED: 3,
  PIN_CREATE: 1,
  PIN_UNLINK: 2,
  PIN_UNLINK_MADE: 4,
  PIN_OVERWRITE: 8,
  REC_FREE: 0,
  REC_HELPER: 1,
  REC_COMMAND: 2,
  REC_PIPE: 3,
  RA_FORGET: 0,
  RA_CLOSE: 1,
  RA_KILL: 2,
  RA_POLL: 3,
  RA_RELEASE: 4,
  RA_ALIVE: 5,
  RA_CHECK: 6,
  RA_SWEEP: 7,
  RA_ABORT: 8,
  SETGROUPS_AUTO: 0,
  SETGROUPS_ALLOW: 1,
  SETGROUPS_DENY: 2,
  SO_NEW_PID: 1,
  SO_AS_PID1: 2,
  SO_NEW_SESSION: 4,
  SO_NET: 8,
  SO_IPC: 16,
  SO_UTS: 32,
  SO_CGROUP: 64,
  SO_NO_USERNS: 128,
  SO_ASSERT_NO_USERNS: 256,
  SO_CALLER_CAPS: 512,
  SO_CALLER_MAPS: 1024,
  SOP_BIND: 1,
  SOP_TMPFS: 2,
  SOP_PROC: 3,
  SOP_DEV: 4,
  SOP_MQUEUE: 5,
  SOP_DIR: 6,
  SOP_FILE: 7,
  SOP_SYMLINK: 8,
  SOP_CHMOD: 9,
  SOP_REMOUNT_RO: 10,
  SOP_OVERLAY: 11,
  SF_RO: 1,
  SF_DEV: 2,
  SF_TRY: 4,
  SF_FD: 8,
  SF_TMP: 16,
} as const;

export type BlockName = keyof typeof BLOCKS;
export type FieldName<B extends BlockName> = keyof (typeof BLOCKS)[B]["fields"];

/** The byte offset of a field (the codecs' only way to one). */
export function at<B extends BlockName>(block: B, field: FieldName<B>): number {
  return (BLOCKS[block].fields as Record<PropertyKey, readonly [number, number]>)[field]?.[0] as number;
}

/** The contract as the C renders it (contract.c): one line per item, in table order. */
export function contractText(): string {
  const lines = [`abi ${ABI_VERSION}`];
  for (const [name, num] of Object.entries(OPS)) lines.push(`op ${name} ${num}`);
  for (const [name, b] of Object.entries(BLOCKS)) lines.push(`block ${name} ${b.size}`);
  for (const [name, b] of Object.entries(BLOCKS))
    for (const [field, [off, size]] of Object.entries(b.fields as Record<string, readonly [number, number]>))
      lines.push(`field ${name} ${field} ${off} ${size}`);
  const tables = [
    ["helper", HELPER_STEPS],
    ["exec", EXEC_STEPS],
    ["mount", MOUNT_STEPS],
    ["ns", NS_STEPS],
    ["sandbox", SANDBOX_STEPS],
    ["probe", PROBE_STEPS],
  ] as const;
  for (const [domain, steps] of tables)
    for (const [step, syscall] of steps) lines.push(`step ${domain} ${step} ${syscall}`);
  for (const why of PIN_WHYS) lines.push(`why ${why}`);
  for (const [name, value] of Object.entries(CONSTS)) lines.push(`const ${name} ${value}`);
  return `${lines.join("\n")}\n`;
}

/**
 * What differs between the C's contract text and ours, as readable lines
 * ("the build has …, this package expects …"); empty when they agree.
 */
export function contractDiff(native: string): string[] {
  const text = contractText();
  // The usual case, a build of this package: the same text, nothing to index.
  if (native === text) return [];
  const theirs = native.split("\n").filter(Boolean);
  const ours = text.split("\n").filter(Boolean);
  const key = (l: string) => {
    const p = l.split(" ");
    // The item a line describes: its kind and name (a field: its block too; a step: its domain and place).
    if (p[0] === "field") return `field ${p[1]} ${p[2]}`;
    if (p[0] === "abi") return "abi";
    return `${p[0]} ${p[1]}`;
  };
  const index = (ls: string[]) => {
    const m = new Map<string, string>();
    const count = new Map<string, number>();
    for (const l of ls) {
      const k = key(l);
      const n = count.get(k) ?? 0;
      count.set(k, n + 1);
      // Steps and reasons repeat their kind and domain: keep them apart by place.
      m.set(l.startsWith("step ") || l.startsWith("why") ? `${k} #${n}` : k, l);
    }
    return m;
  };
  const a = index(theirs);
  const b = index(ours);
  const out: string[] = [];
  for (const [k, l] of b) {
    const t = a.get(k);
    if (t === undefined) out.push(`the build lacks "${l}"`);
    else if (t !== l) out.push(`the build has "${t}", this package expects "${l}"`);
  }
  for (const [k, l] of a) if (!b.has(k)) out.push(`the build has "${l}", which this package does not know`);
  return out;
}
