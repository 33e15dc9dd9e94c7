/*
 * bun-userns native layer: a parked helper process in a new user namespace.
 *
 * Compiled at first use by bun:ffi's TinyCC with -nostdlib (no libc, no
 * headers: slim images have neither), or by gcc as a .so (BUN_USERNS_LIB)
 * and for the benchmark floor. Every function returns -errno on failure;
 * bun:ffi has no errno API.
 *
 * The helper shares the caller's memory (CLONE_VM) so that creating it does
 * not copy the page tables of a multi-gigabyte JS heap. That makes it a
 * guest in Bun's address space, and Bun's memory as reachable as the helper
 * is: a privileged caller seals its mm (seal_mm() in spawn.c), an
 * unprivileged one's helper leaves it by exec'ing the park program
 * (park.c) before anyone else can be in its namespaces.
 *
 * Files, in the order a helper's life runs through them:
 *   abi.h        the contract: op numbers, request blocks, step tables, option bits
 *   fail.c       fail(): the one writer of a request block's {step, err} head
 *   syscalls_*.h raw syscalls and the assembly, per architecture
 *   procfs.c     /proc paths, one-write map files, waitid past EINTR, the reap loop
 *   park.c       the park program an unprivileged caller's helper execs
 *   helper.c     the helper's own sequence, clone to park
 *   spawn.c      the caller's side: clone, maps, start, abort, liveness, release
 *   probe.c      read-only probes (kernel support, caps, a user namespace's owner)
 *   parent.c     the tie to our parent (bwrap's --die-with-parent)
 *   resolve.c    a path resolved once to descriptors, refusing other uids' symlinks
 *   mount.c      idmapped mounts: open_tree, mount_setattr, move_mount
 *   exec.c       a command inside a pid's namespaces
 *   pty.c        a pty for a command run as another uid (its own terminal)
 *   watch.c      the exit watcher's blocking wait on pidfds, an epoll set
 *   ns.c         namespaces as fds and pinned files
 *   registry.c   what each thread's calls hold, readable after the thread is gone
 *   sandbox.c    sandbox(): the view (sandbox-view.c), the hardening, the init, the monitor
 *                (its own image: monitor-image.c; all left out with -DBUN_USERNS_CORE: the loader's
 *                build for every other call)
 */
#include "abi.h"

#if defined(__x86_64__)
#include "syscalls_x86_64.h"
#elif defined(__aarch64__) /* aarch64 */
#include "syscalls_aarch64.h"
#else
#error "bun-userns: only x86_64 and aarch64 are supported"
#endif

#include "fail.c" /* the head every stepped request block begins with */
#include "procfs.c"
#include "park.c"
#include "helper.c"
#include "spawn.c"
#include "probe.c"
#include "parent.c"
#include "resolve.c" /* paths another uid may change: resolved once */
#include "mount.c" /* mounts */
#include "exec.c" /* exec */
#include "pty.c"
#include "ns.c" /* namespaces as fds and files */
#include "watch.c" /* exit notices */
#include "registry.c"
#ifndef BUN_USERNS_CORE
#include "sandbox.c"
#else
/* The core build (everything but sandbox(), for calls that need no more:
 * less for TinyCC to compile) still holds the whole contract, sandbox's
 * blocks and steps included, so both builds answer the same text. */
#include "sandbox-abi.h"
#endif
#include "contract.c" /* last: the contract of abi.h, held against every struct */


/*
 * The one symbol bun:ffi binds: Bun compiles a trampoline per bound
 * symbol, which a one-shot pays at its start (docs/performance.md).
 */
s32 bun_userns(s32 op, void *p, s32 x, s32 y)
{
	switch (op) {
	case OP_ABI: return bun_userns_abi((char *)p, x);
	case OP_CLONE: return rec_clone((struct req *)p, x, y);
	case OP_WRITE_MAPS: return bun_userns_write_maps((struct req *)p);
	case OP_START: return rec_start((struct req *)p, x, y);
	case OP_ABORT: return bun_userns_abort((struct req *)p, x);
	case OP_ALIVE: return bun_userns_alive(x, y);
	case OP_RELEASE: return bun_userns_release(x);
	case OP_CLOSE: return (s32)sys1(SYS_close, x);
	case OP_PROBE_KERNEL: return bun_userns_probe_kernel((struct head *)p);
	case OP_CAP_EFFECTIVE: return bun_userns_cap_effective();
	case OP_OWNER_UID: return bun_userns_owner_uid(x, (u32 *)p);
	case OP_NPROC_LIMIT: return bun_userns_nproc_limit();
	case OP_DIE_WITH_PARENT: return bun_userns_die_with_parent(x, y);
	case OP_WRITE_SETGROUPS: return bun_userns_write_setgroups((struct req *)p);
	/* idmapped mounts */
	case OP_OPEN_TREE_IDMAP: return bun_userns_open_tree_idmap((struct mount_req *)p);
	case OP_ATTACH_TREE: return bun_userns_attach_tree((struct target_req *)p);
	case OP_UMOUNT: return bun_userns_umount((struct target_req *)p);
	case OP_FS_TYPE: return bun_userns_fs_type(((struct fs_query *)p)->path, &((struct fs_query *)p)->magic);
	/* commands inside namespaces */
	case OP_EXEC: return rec_exec((struct xreq *)p, x, y);
	case OP_EXEC_POLL: return bun_userns_exec_poll(x);
	case OP_PIPE: return rec_pipe((struct pipe_out *)p, x);
	case OP_PIDFD_SIGNAL: return (s32)sys4(SYS_pidfd_send_signal, x, y, 0, 0);
	case OP_PIDFD_OPEN: return (s32)sys2(SYS_pidfd_open, x, 0);
	/* exit notices */
	case OP_WATCH_OPEN: return bun_userns_watch_open();
	case OP_WATCH_ADD: return bun_userns_watch_add(x, y);
	case OP_WATCH_WAIT: return bun_userns_watch_wait((u8 *)p, x, y);
	case OP_PTY_OPEN: return bun_userns_pty_open((struct pty_out *)p, x);
	case OP_WINSIZE: return bun_userns_winsize((struct winsize_io *)p, x, y);
	/* namespaces as fds and files */
	case OP_NS_OPEN: return bun_userns_ns_open(((struct ns_query *)p)->path, x, (s32 *)((struct ns_query *)p)->answer);
	case OP_NS_STAT: return bun_userns_ns_stat(((struct ns_query *)p)->path, x, ((struct ns_query *)p)->answer);
	case OP_NS_PIN: return bun_userns_ns_pin(x, (struct pin_req *)p);
	case OP_NS_UNPIN: return bun_userns_ns_unpin((struct pin_req *)p);
	/* the registry: x is this thread's registry fd, y a record */
	case OP_REG_OPEN: return reg_open((const u64 *)p);
	case OP_REC: return rec_op((struct rec_args *)p, x, y);
	/* sandbox: x is this thread's registry fd, y the record for the monitor */
#ifndef BUN_USERNS_CORE
	case OP_SANDBOX: return rec_sandbox((struct sreq *)p, x, y);
#else
	case OP_SANDBOX: return -E_NOSYS; /* the loader sends it to the full build */
#endif
	}
	return -E_INVAL;
}
