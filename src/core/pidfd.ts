/** Kernel support the helper needs (pidfds, close_range), probed once per thread. */
import { errnoText, UsernsError } from "./errors.ts";
import { type ProbeStep, probeKernel } from "./process-codec.ts";

/** How each probe step's call is named to the user. */
const CALLS: Record<ProbeStep, string> = {
  none: "?",
  pidfd_open: "pidfd_open",
  pidfd_send_signal: "pidfd_send_signal",
  waitid: "waitid(P_PIDFD)",
  close_range: "close_range",
};
let cached: ReturnType<typeof probeKernel> | undefined;

/** The probe's answer: which call failed first and with what errno. */
export function probeKernelDetail(): { ok: true } | { ok: false; call: string; errno: number } {
  cached ??= probeKernel();
  return cached.ok ? { ok: true } : { ok: false, call: CALLS[cached.step], errno: cached.errno };
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
