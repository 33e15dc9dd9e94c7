/*
 * The helper: a CLONE_VM child on its own stack in the caller's memory. It
 * runs raw syscalls only, touches nothing but that stack and the request
 * block, and never returns into Bun code. Signals stay blocked (the caller
 * blocked them all before clone): Bun's handlers live in the shared memory
 * and must never run here; SIGKILL and SIGSTOP cannot be blocked.
 */

/* A failed step: its head written, the helper ends (the caller reaps it). */
static void helper_fail(struct req *r, s32 step, s64 err)
{
	fail(r, step, err);
	sys1(SYS_exit_group, 253);
}

/* "bun-userns:" and the creating thread's tid in four base-64 digits (tids
 * stay below 2^22): the comm survives as a zombie, so the main thread's orphan
 * sweep can tell whose helper it was once that thread is gone. 15 bytes, the
 * kernel's TASK_COMM_LEN - 1. */
static void helper_name(char *out, s32 tid)
{
	const char *digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
	const char *pre = "bun-userns:";
	int i;
	while (*pre) *out++ = *pre++;
	for (i = 3; i >= 0; i--) *out++ = digits[(tid >> (6 * i)) & 63];
	*out = 0;
}

/* The creating thread and its process are both still there. PDEATHSIG fires
 * when the creating *thread* exits, and getppid() only names the process. */
static int parent_alive(struct req *r)
{
	if (sys0(SYS_getppid) != r->ppid) return 0;
	return sys3(SYS_tgkill, r->ppid, r->tid, 0) != -E_SRCH;
}

/* CAP_SYS_ADMIN in our user namespace survives our execve (ambient). */
static void keep_sys_admin(struct req *r)
{
	struct cap_header hdr;
	struct cap_data caps[2];
	s64 rc;
	/* Members set one by one: TinyCC fills an initialised struct by
	 * calling memset (probe.c says why not). */
	hdr.version = CAP_V3;
	hdr.pid = 0;
	rc = sys2(SYS_capget, (s64)&hdr, (s64)caps);
	if (rc < 0) helper_fail(r, STEP_CAPGET, rc);
	caps[0].inheritable |= 1U << CAP_SYS_ADMIN;
	rc = sys2(SYS_capset, (s64)&hdr, (s64)caps);
	if (rc < 0) helper_fail(r, STEP_CAPSET, rc);
	rc = sys5(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0);
	if (rc < 0) helper_fail(r, STEP_PRCTL, rc);
}

/* Called by the clone trampoline; never returns. */
void bun_userns_helper_main(struct req *r)
{
	struct { s64 sec, nsec; } bound;
	char name[16];
	u64 cpus[16];
	s64 rc;
	int i, make_time;

	bound.sec = 10;
	bound.nsec = 0;
	/* The fd table is Bun's (CLONE_FILES): take a fresh one, first thing.
	 * O_CLOEXEC acts only at exec and a parked helper may never exec, so
	 * holding Bun's fds would keep its pipes from EOF. CLOSE_RANGE_UNSHARE
	 * copies only what lies below the range; the park program's fd (when
	 * it will be exec'd) is kept, everything below it then closed. */
	if (r->park_exec) {
		rc = sys3(SYS_close_range, r->image_fd + 1, ~0U, CLOSE_RANGE_UNSHARE);
		if (rc >= 0 && r->image_fd > 0) rc = sys3(SYS_close_range, 0, r->image_fd - 1, 0);
	} else {
		rc = sys3(SYS_close_range, 0, ~0U, CLOSE_RANGE_UNSHARE);
	}
	if (rc < 0) helper_fail(r, STEP_CLOSE_RANGE, rc);

	/* Named before anything can orphan it (see helper_name). */
	helper_name(name, r->tid);
	sys2(SYS_prctl, PR_SET_NAME, (s64)name);

	/* PDEATHSIG before any wait, as bubblewrap does first thing: a caller
	 * that dies from here on takes the helper with it. One that died before
	 * the prctl is caught by the check after it. The helper changes no
	 * credentials later, so nothing clears it. */
	rc = sys2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
	if (rc < 0) helper_fail(r, STEP_PDEATHSIG, rc);
	if (!parent_alive(r)) helper_fail(r, STEP_PARENT_GONE, -E_SRCH);

	/* Run where the caller runs: every hand-off (futex wake, park, kill,
	 * exit) then stays on one CPU, and on a virtualised host a cross-CPU
	 * wake-up costs more than the work (docs/performance.md). Best effort. */
	for (i = 0; i < 16; i++) cpus[i] = 0;
	if (r->cpu >= 0 && r->cpu < 1024) {
		cpus[r->cpu / 64] = 1UL << (r->cpu % 64);
		sys3(SYS_sched_setaffinity, 0, sizeof cpus, (s64)cpus);
	}

	/* Wait, bounded, until the caller has written uid_map/setgroups/gid_map. */
	*(volatile s32 *)&r->state = STATE_WAITING;
	while (*(volatile s32 *)&r->go == 0) {
		rc = sys4(SYS_futex, (s64)&r->go, FUTEX_WAIT, 0, (s64)&bound);
		if (rc == -E_TIMEDOUT) helper_fail(r, STEP_MAP_WAIT, rc);
	}
	if (r->go < 0) sys1(SYS_exit_group, 253);

	/* A time namespace made here would be entered by our own execve
	 * (exec_task_namespaces), which freezes its offsets before the caller
	 * can set them: the park program makes it after its exec instead. It
	 * needs CAP_SYS_ADMIN there, which an exec as a non-root id of this
	 * namespace drops: kept as an ambient capability. */
	make_time = r->park_exec && (r->flags & CLONE_NEWTIME);
	if (make_time) keep_sys_admin(r);

	/* The new namespaces are owned by the user namespace we are now in. */
	if (r->flags & ~(u64)(make_time ? CLONE_NEWTIME : 0)) {
		rc = sys1(SYS_unshare, (s64)(r->flags & ~(u64)(make_time ? CLONE_NEWTIME : 0)));
		if (rc < 0) helper_fail(r, STEP_UNSHARE, rc);
	}

	/* A new mount namespace inherits shared propagation (systemd makes / shared),
	 * reduced to slave by the crossing into our less privileged user
	 * namespace: by default make it private like Go does, so nothing mounted
	 * here leaks out; or what the caller asks (util-linux --propagation). A
	 * mount once private has lost its master for good, so this is the only
	 * place a slave or shared / can come from. */
	if ((r->flags & CLONE_NEWNS) && r->propagation != PROP_UNCHANGED) {
		rc = sys5(SYS_mount, (s64)"none", (s64)"/", 0,
			  MS_REC | (r->propagation == PROP_SLAVE ? MS_SLAVE : r->propagation == PROP_SHARED ? MS_SHARED : MS_PRIVATE), 0);
		if (rc < 0) helper_fail(r, STEP_MOUNT, rc);
	}

	/* Parked as a tracee, SIGKILL is the only way out; the tracer is the
	 * creating thread. */
	rc = sys1(SYS_ptrace, PTRACE_TRACEME);
	if (rc < 0) helper_fail(r, STEP_PTRACE, rc);

	/* The handshake: only a ptrace stop seen after this store is the park.
	 * A job-control SIGSTOP before it is not (the caller resumes those). */
	*(volatile s32 *)&r->state = STATE_PARKING;

	if (r->park_exec) {
		/* Leave Bun's mm (park.c says why). The kernel clears r->mm_gate
		 * when execve drops our hold on it (mm_release), so the caller
		 * takes only a stop seen after that as the park. The stack is
		 * Bun's memory until then; execve copies argv out of it. */
		char *argv[3];
		char *envp[1];
		argv[0] = name;
		argv[1] = make_time ? (char *)"time" : 0; /* argc 2: the program unshares time */
		argv[2] = 0;
		envp[0] = 0;
		sys1(SYS_set_tid_address, (s64)&r->mm_gate);
		rc = sys5(SYS_execveat, r->image_fd, (s64)"", (s64)argv, (s64)envp, AT_EMPTY_PATH);
		helper_fail(r, STEP_PARK_EXEC, rc);
	}

	/* Stop, and never touch the stack again: once the tracer thread is gone
	 * this stack may already be reused. */
	park_forever();
}
