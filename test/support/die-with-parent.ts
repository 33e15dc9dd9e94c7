/**
 * Imported first by every fixture that runs as a process of its own: the
 * kernel SIGKILLs it when the process that started it dies (PR_SET_PDEATHSIG),
 * so a test that timed out or crashed leaves no fixture spinning. Only the main
 * thread asks: the setting belongs to the calling thread, and a Worker of the
 * fixture (some fixtures are their own Worker script) keeps whatever it set.
 */
import { dlopen } from "bun:ffi";

if (Bun.isMainThread) {
  const libc = dlopen("libc.so.6", {
    prctl: { args: ["i32", "u64", "u64", "u64", "u64"], returns: "i32" },
    getppid: { args: [], returns: "i32" },
  });
  const parent = process.ppid;
  if (libc.symbols.prctl(1 /* PR_SET_PDEATHSIG */, 9n /* SIGKILL */, 0n, 0n, 0n) !== 0) {
    throw new Error("prctl(PR_SET_PDEATHSIG) failed");
  }
  // The parent may have died before the prctl: then no signal comes, and we were reparented.
  if (libc.symbols.getppid() !== parent || parent === 1) process.exit(1);
  libc.close();
}
