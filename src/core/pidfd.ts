/** Kernel support the helper needs (pidfds, close_range), probed once per thread. */
import { errnoText, UsernsError } from "./errors.ts";
import { probeKernel } from "./process-codec.ts";

const CALLS = ["", "pidfd_open", "pidfd_send_signal", "waitid(P_PIDFD)", "close_range"];
let cached: number | undefined;

function probe(): number {
  if (cached === undefined) cached = probeKernel();
  return cached;
}

/** The probe's answer: which call failed first and with what errno. */
export function probeKernelDetail(): { ok: true } | { ok: false; call: string; errno: number } {
  const rc = probe();
  if (rc === 0) return { ok: true };
  return { ok: false, call: CALLS[Math.floor(-rc / 1000)] ?? "?", errno: -rc % 1000 };
}

/**
 * Whether pidfd_open, pidfd_send_signal and waitid(P_PIDFD) all work: probed
 * on this process (waitid must answer ECHILD, not EINVAL) and cached.
 */
export function supportsPidFD(): boolean {
  const r = probeKernelDetail();
  return r.ok || r.call === "close_range";
}

/** Beyond pidfds: close_range(2) (5.9) is the helper's first syscall; without it every start would fail late. */
export function unsupportedKernel(): UsernsError | undefined {
  const r = probeKernelDetail();
  if (r.ok || r.call !== "close_range") return undefined;
  return new UsernsError(`kernel doesn't support close_range: ${errnoText(r.errno)}`, {
    code: "ENOSYS",
    errno: r.errno,
    syscall: "close_range",
    step: "close_range",
    hint: "close_range(2) needs Linux 5.9 or later (or a seccomp filter hides it)",
  });
}
