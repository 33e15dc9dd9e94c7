/** Kernel pidfd support, probed once per thread. */
import { probePidfd } from "./native.ts";

let cached: boolean | undefined;

/**
 * Whether pidfd_open, pidfd_send_signal and waitid(P_PIDFD) all work: probed
 * on this process (waitid must answer ECHILD, not EINVAL) and cached.
 */
export function supportsPidFD(): boolean {
  if (cached === undefined) cached = probePidfd() === 0;
  return cached;
}

/** The raw probe result, for `doctor`: which call failed and with what errno. */
export function probePidfdDetail(): { ok: true } | { ok: false; call: string; errno: number } {
  const rc = probePidfd();
  if (rc === 0) return { ok: true };
  const step = Math.floor(-rc / 1000);
  return {
    ok: false,
    call: ["", "pidfd_open", "pidfd_send_signal", "waitid(P_PIDFD)"][step] ?? "?",
    errno: -rc % 1000,
  };
}
