/*
 * The caller's side of a helper's life: clone it (as the owner uid, when
 * asked), write its maps, let it go and wait for the park, or abort it.
 * Each returns 0 / a pid, or -errno with the head (fail.c) set; after a
 * failure of any of them nothing is left: no process, no descriptor.
 */

struct saved_creds {
	s32 active;
	s32 euid;
	s32 fsuid;
	s32 pdeathsig;
	struct cap_header hdr;
	struct cap_data caps[2];
};

/*
 * The shared mm stays non-dumpable from here on, for the whole process:
 * CAP_SYS_PTRACE in the helper's user namespace (its owner's, or any
 * process's inside it) passes ptrace_may_access against the helper, which
 * then only asks whether the mm is dumpable. The mm is Bun's, so a dumpable
 * one would hand Bun's memory to them (process_vm_readv, /proc/PID/mem,
 * PTRACE_ATTACH). Never set back to 1: another thread's helper may still be
 * alive, and a flag per process cannot be saved and restored per thread.
 */
static s64 seal_mm(struct req *r)
{
	s64 rc = sys2(SYS_prctl, PR_SET_DUMPABLE, 0);
	return rc < 0 ? fail(r, STEP_DUMPABLE, rc) : 0;
}

/* Put back what the euid change touched: euid, fsuid, the effective caps the
 * kernel dropped, this thread's PDEATHSIG (cleared by any credential change),
 * and the mm's dumpable flag (reset to fs.suid_dumpable). */
static s64 restore_caller(struct req *r, struct saved_creds *s)
{
	s64 rc;
	if (!s->active) return 0;
	s->active = 0;
	rc = sys3(SYS_setresuid, -1, s->euid, -1);
	if (rc < 0) return fail(r, STEP_RESTORE, rc);
	sys1(SYS_setfsuid, s->fsuid);
	rc = seal_mm(r);
	if (rc < 0) return rc;
	s->hdr.version = CAP_V3;
	s->hdr.pid = 0;
	rc = sys2(SYS_capset, (s64)&s->hdr, (s64)s->caps);
	if (rc < 0) return fail(r, STEP_CAPSET, rc);
	rc = sys2(SYS_prctl, PR_SET_PDEATHSIG, s->pdeathsig);
	return rc < 0 ? fail(r, STEP_PRCTL, rc) : 0;
}

/* fs.suid_dumpable: 0, 1 or 2; -1 if unreadable (then taken as unsafe). */
static s32 suid_dumpable(void)
{
	char c = 0;
	s64 fd = sys4(SYS_openat, AT_FDCWD, (s64)"/proc/sys/fs/suid_dumpable", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) return -1;
	if (sys3(SYS_read, fd, (s64)&c, 1) != 1) c = 0;
	sys1(SYS_close, fd);
	return c >= '0' && c <= '2' ? c - '0' : -1;
}

/*
 * Become owner_uid for the clone only, on this thread only (raw syscall, not
 * glibc's all-threads setresuid), so the user namespace and its ucounts
 * belong to the container's uid, as containerd 2.3 does. Everything the
 * restore will need is read, and the restoring syscalls are tried with the
 * current values first, so the restore cannot fail for lack of permission.
 */
static s64 become_owner(struct req *r, struct saved_creds *s)
{
	s64 rc;
	s->active = 0;
	if (r->owner_uid < 0) return 0;
	s->euid = (s32)sys0(SYS_geteuid);
	if (s->euid == r->owner_uid) return 0;
	s->hdr.version = CAP_V3;
	s->hdr.pid = 0;
	rc = sys2(SYS_capget, (s64)&s->hdr, (s64)s->caps);
	if (rc < 0) return fail(r, STEP_CAPGET, rc);
	rc = sys2(SYS_capset, (s64)&s->hdr, (s64)s->caps);
	if (rc < 0) return fail(r, STEP_CAPSET, rc);
	rc = sys2(SYS_prctl, PR_GET_PDEATHSIG, (s64)&s->pdeathsig);
	if (rc < 0) return fail(r, STEP_PRCTL, rc);
	rc = sys2(SYS_prctl, PR_SET_PDEATHSIG, s->pdeathsig);
	if (rc < 0) return fail(r, STEP_PRCTL, rc);
	rc = seal_mm(r);
	if (rc < 0) return rc;
	/* An euid change sets the mm's dumpable flag to fs.suid_dumpable. At 1
	 * ("debug") it would unseal the mm for an instant, while this or another
	 * thread's helper owned by another uid may be alive: create this one as
	 * the caller instead. */
	rc = suid_dumpable();
	if (rc != 0 && rc != 2) {
		r->owner_uid = -1;
		return 0;
	}
	s->fsuid = (s32)sys1(SYS_setfsuid, -1);
	/* Refused when that uid is not mapped in our own user namespace: then the
	 * uid_map write is refused too, with the error that says why. */
	if (sys3(SYS_setresuid, -1, r->owner_uid, -1) < 0) return 0;
	s->active = 1;
	return seal_mm(r);
}

/* Kill a helper that has not parked, reap it, close its pidfd. */
s32 bun_userns_abort(struct req *r, s32 err)
{
	*(volatile s32 *)&r->go = err < 0 ? err : -E_INVAL;
	sys3(SYS_futex, (s64)&r->go, FUTEX_WAKE, 1);
	sys4(SYS_pidfd_send_signal, r->pidfd, SIGKILL, 0, 0);
	reap(r->pidfd);
	sys1(SYS_close, r->pidfd);
	r->pidfd = -1;
	park_image_close(r);
	return err;
}

/*
 * Clone the helper, which then waits for its maps. Returns its pid; the
 * pidfd is in r->pidfd.
 */
s32 bun_userns_clone(struct req *r)
{
	u64 all = ~0UL, old = 0;
	struct saved_creds saved;
	s64 rc, pid = 0;
	s32 pidfd = -1;
	char *stack_top;

	head_clear(r);
	r->go = 0;
	r->state = STATE_BORN;
	r->pidfd = -1;
	r->pid = 0;
	r->mm_gate = 1;
	r->image_fd = -1;
	/* The native layer's own bounds, whatever the caller checked (0: a map left unwritten). */
	if (r->uid_len < 0 || r->uid_len >= MAP_TEXT_MAX || r->gid_len < 0 || r->gid_len >= MAP_TEXT_MAX ||
	    r->stack_len < 4096)
		return (s32)fail(r, STEP_NONE, -E_INVAL);
	r->ppid = (s32)sys0(SYS_getpid);
	r->tid = (s32)sys0(SYS_gettid);
	r->cpu = -1;
	sys3(SYS_getcpu, (s64)&r->cpu, 0, 0);
	stack_top = (char *)(r + 1) + r->stack_len;
	stack_top = (char *)((u64)stack_top & ~15UL);

	/* Nobody but the caller may reach Bun's memory through the helper,
	 * whoever later holds CAP_SYS_PTRACE in its namespaces (a command run
	 * there as root, a subordinate uid): either the helper leaves the mm by
	 * exec'ing the park program, or the mm is sealed, for good (a flag per
	 * process cannot be saved and restored per helper or per thread). */
	if (r->park_exec) {
		rc = park_image();
		if (rc < 0) return (s32)fail(r, STEP_PARK_IMAGE, rc);
		r->image_fd = (s32)rc;
	} else {
		rc = seal_mm(r);
		if (rc < 0) return (s32)rc;
	}

	/* Block every signal: the child starts with this mask and keeps it. */
	rc = sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&all, (s64)&old, 8);
	if (rc < 0) return (s32)fail(r, STEP_SIGMASK, rc);

	rc = become_owner(r, &saved);
	if (rc >= 0) {
		/* No CLONE_VFORK: the child waits for us to write its maps. No exit
		 * signal: SIGCHLD=SIG_IGN cannot auto-reap it and wildcard waits
		 * without __WALL do not see it. CLONE_FILES: the helper drops the
		 * shared table first thing, instead of the kernel copying it. */
		pid = bun_userns_clone_trampoline(CLONE_VM | CLONE_FILES | CLONE_NEWUSER | CLONE_PIDFD, stack_top,
						   &pidfd, r, (void *)bun_userns_helper_main);
		if (pid < 0) rc = fail(r, STEP_CLONE, pid);
	}
	/* Whatever failed, the caller's credentials go back first. */
	s64 rr = restore_caller(r, &saved);
	if (rr < 0 && rc >= 0) rc = rr;
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, (s64)&old, 0, 8);
	if (pid > 0) {
		r->pid = (s32)pid;
		r->pidfd = pidfd;
		if (rc < 0) return bun_userns_abort(r, (s32)rc);
	}
	if (rc < 0) park_image_close(r);
	return rc < 0 ? (s32)rc : (s32)pid;
}

/* setgroups alone, for map writers that are other programs (newgidmap):
 * only "deny" needs saying, and it must be said before gid_map. */
s32 bun_userns_write_setgroups(struct req *r)
{
	s64 rc = r->setgroups == 2 ? write_proc_file(r->pid, "setgroups", "deny", 4) : 0;
	return rc < 0 && rc != -2 ? (s32)fail(r, STEP_SETGROUPS, rc) : 0;
}

/* uid_map, then setgroups, then gid_map (Go's order): an unprivileged
 * writer must say "deny" before gid_map is accepted. */
s32 bun_userns_write_maps(struct req *r)
{
	/* An empty text is a map left unwritten (util-linux unshare -U): the
	 * kernel refuses an empty write, and unmapped ids show as the overflow id. */
	s64 rc = r->uid_len ? write_proc_file(r->pid, "uid_map", r->uid_text, r->uid_len) : 0;
	if (rc < 0) return (s32)fail(r, STEP_UID_MAP, rc);
	rc = write_proc_file(r->pid, "setgroups", r->setgroups == 2 ? "deny" : "allow", r->setgroups == 2 ? 4 : 5);
	/* "allow" is refused under a parent whose setgroups is "deny"; by default
	 * fall back to "deny" there, which is all that is possible. */
	if (rc == -E_PERM && r->setgroups == 0) {
		r->setgroups = 2;
		rc = write_proc_file(r->pid, "setgroups", "deny", 4);
	}
	if (rc < 0 && rc != -2 /* ENOENT: kernel before 3.19 */) return (s32)fail(r, STEP_SETGROUPS, rc);
	rc = r->gid_len ? write_proc_file(r->pid, "gid_map", r->gid_text, r->gid_len) : 0;
	return rc < 0 ? (s32)fail(r, STEP_GID_MAP, rc) : 0;
}

/*
 * Maps written: let the helper unshare and park, and wait until it has.
 * Only its own ptrace stop after the handshake counts as parked: a
 * job-control stop (a SIGSTOP to our process group before PTRACE_TRACEME)
 * is resumed with SIGCONT, and a SIGSTOP delivered to the tracee before the
 * handshake is suppressed. On failure the helper is reaped and the pidfd
 * closed.
 */
static s32 start_wait(struct req *r);

s32 bun_userns_start(struct req *r)
{
	/* Parked (exec'd) or gone: the helper needs the image fd no more. */
	s32 rc = start_wait(r);
	park_image_close(r);
	return rc;
}

static s32 start_wait(struct req *r)
{
	u8 info[128];
	s64 rc;
	*(volatile s32 *)&r->go = 1;
	sys3(SYS_futex, (s64)&r->go, FUTEX_WAKE, 1);
	for (;;) {
		rc = wait_retry(P_PIDFD, r->pidfd, info, WEXITED | WSTOPPED | WALL);
		if (rc < 0) return bun_userns_abort(r, (s32)fail(r, STEP_PARK, rc));
		if (SI_CODE(info) == CLD_EXITED || SI_CODE(info) == CLD_KILLED || SI_CODE(info) == CLD_DUMPED) {
			/* Reaped by that waitid. The helper left its step and errno;
			 * the park program, which cannot write here, exits with the
			 * errno of its one call that can fail (unshare of time). */
			sys1(SYS_close, r->pidfd);
			r->pidfd = -1;
			if (r->step == STEP_NONE && r->park_exec && SI_CODE(info) == CLD_EXITED &&
			    SI_STATUS(info) > 0 && SI_STATUS(info) < 253)
				fail(r, STEP_UNSHARE, -(s64)SI_STATUS(info));
			if (r->step == STEP_NONE) fail(r, STEP_PARK, -E_SRCH);
			return -r->err;
		}
		if (SI_CODE(info) == CLD_STOPPED) {
			sys4(SYS_pidfd_send_signal, r->pidfd, SIGCONT, 0, 0);
			continue;
		}
		if (SI_CODE(info) == CLD_TRAPPED && SI_STATUS(info) == SIGSTOP &&
		    *(volatile s32 *)&r->state == STATE_PARKING &&
		    (!r->park_exec || *(volatile s32 *)&r->mm_gate == 0))
			return r->pid;
		/* A tracee's stop that is not the park: let it go on, signal dropped. */
		sys4(SYS_ptrace, PTRACE_CONT, r->pid, 0, 0);
	}
}

/*
 * Liveness: 0 while the helper is parked in its ptrace stop, -ESRCH once it
 * died, was reaped elsewhere, or merely has a fatal signal pending (a kill
 * an instant ago has not made it a zombie yet, but it has left the stop).
 * Must run on the creating thread: that thread is the tracer.
 */
s32 bun_userns_alive(s32 pidfd, s32 pid)
{
	u8 info[128];
	s64 rc = sys4(SYS_pidfd_send_signal, pidfd, 0, 0, 0);
	if (rc < 0) return (s32)rc;
	rc = sys4(SYS_ptrace, PTRACE_GETSIGINFO, pid, 0, (s64)info);
	return rc < 0 ? -E_SRCH : 0;
}

/* Kill, reap, close the pidfd: the end of every parked helper, on every path.
 * -ESRCH: already reaped by someone else (not an error for Go's semantics). */
s32 bun_userns_release(s32 pidfd)
{
	s64 rc = sys4(SYS_pidfd_send_signal, pidfd, SIGKILL, 0, 0);
	if (rc >= 0) rc = reap(pidfd);
	sys1(SYS_close, pidfd);
	return (s32)rc;
}
