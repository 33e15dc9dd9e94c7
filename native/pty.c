/*
 * A pseudo-terminal for a command that must not hold the caller's terminal
 * (src/cli/pty.ts): the CLI relays bytes between the caller's terminal and
 * the master, the command gets the slave as its stdio and controlling
 * terminal (native/exec.c, XOPT_CTTY). Nothing here runs in a child.
 */
#define TCGETS 0x5401
#define TCSETS 0x5402
#define TIOCGWINSZ 0x5413
#define TIOCSWINSZ 0x5414
#define TIOCSPTLCK 0x40045431 /* _IOW('T', 0x31, int) */
#define TIOCGPTPEER 0x5441    /* _IO('T', 0x41) */
#define O_NOCTTY 0400
#define KTERMIOS_BYTES 64      /* struct termios (36 bytes on x86_64 and aarch64), rounded up */

/*
 * The master and the slave, both O_CLOEXEC (only the command's dup3
 * onto 0-2 passes the slave on) and O_NOCTTY (opening must not make either
 * Bun's controlling terminal). Given a terminal fd `like`, the slave starts
 * with its settings and size (as sudo's pty does: the erase and interrupt
 * characters the user is used to). 0 or -errno; nothing left open on error.
 */
static s32 bun_userns_pty_open(struct pty_out *out, s32 like)
{
	u8 tio[KTERMIOS_BYTES];
	u16 ws[4];
	s32 zero = 0;
	s64 m, s, rc;
	m = sys4(SYS_openat, AT_FDCWD, (s64)"/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
	if (m < 0) return (s32)m;
	/* A new pty starts locked: the slave cannot be opened until unlocked. */
	rc = sys3(SYS_ioctl, m, TIOCSPTLCK, (s64)&zero);
	/* The slave through the master (Linux 4.13), not by its /dev/pts name:
	 * a name is a path another uid could have changed under us. */
	s = rc < 0 ? rc : sys3(SYS_ioctl, m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		sys1(SYS_close, m);
		return (s32)s;
	}
	if (like >= 0) {
		/* Best effort: a `like` that is no terminal leaves the pty's defaults. */
		if (sys3(SYS_ioctl, like, TCGETS, (s64)tio) == 0) sys3(SYS_ioctl, s, TCSETS, (s64)tio);
		if (sys3(SYS_ioctl, like, TIOCGWINSZ, (s64)ws) == 0) sys3(SYS_ioctl, s, TIOCSWINSZ, (s64)ws);
	}
	out->master = (s32)m;
	out->slave = (s32)s;
	return 0;
}

/* The window size of terminal fd (rows, cols, xpixel, ypixel): get (set 0)
 * or set (set 1). Setting it on a master signals SIGWINCH to the slave's
 * foreground process group. 0 or -errno. */
static s32 bun_userns_winsize(struct winsize_io *ws, s32 fd, s32 set)
{
	return (s32)sys3(SYS_ioctl, fd, set ? TIOCSWINSZ : TIOCGWINSZ, (s64)ws);
}
