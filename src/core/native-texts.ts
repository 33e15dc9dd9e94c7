/**
 * Every file of native/ as text, for a bundle (`bun build --compile` or
 * `--target bun`) to carry: loaded only where native/ is not beside the code
 * (native-source.ts). test/bundle.test.ts checks this list is all of native/.
 */
import abi_h from "../../native/abi.h" with { type: "text" };
import contract_c from "../../native/contract.c" with { type: "text" };
import exec_c from "../../native/exec.c" with { type: "text" };
import fail_c from "../../native/fail.c" with { type: "text" };
import helper_c from "../../native/helper.c" with { type: "text" };
import monitor_image_c from "../../native/monitor-image.c" with { type: "text" };
import mount_c from "../../native/mount.c" with { type: "text" };
import ns_c from "../../native/ns.c" with { type: "text" };
import parent_c from "../../native/parent.c" with { type: "text" };
import park_c from "../../native/park.c" with { type: "text" };
import probe_c from "../../native/probe.c" with { type: "text" };
import procfs_c from "../../native/procfs.c" with { type: "text" };
import pty_c from "../../native/pty.c" with { type: "text" };
import registry_c from "../../native/registry.c" with { type: "text" };
import resolve_c from "../../native/resolve.c" with { type: "text" };
import sandbox_c from "../../native/sandbox.c" with { type: "text" };
import sandbox_abi_h from "../../native/sandbox-abi.h" with { type: "text" };
import sandbox_view_c from "../../native/sandbox-view.c" with { type: "text" };
import spawn_c from "../../native/spawn.c" with { type: "text" };
import syscalls_aarch64_h from "../../native/syscalls_aarch64.h" with { type: "text" };
import syscalls_x86_64_h from "../../native/syscalls_x86_64.h" with { type: "text" };
import userns_c from "../../native/userns.c" with { type: "text" };
import watch_c from "../../native/watch.c" with { type: "text" };

export const NATIVE_TEXTS: Readonly<Record<string, string>> = {
  "abi.h": abi_h,
  "contract.c": contract_c,
  "exec.c": exec_c,
  "fail.c": fail_c,
  "helper.c": helper_c,
  "monitor-image.c": monitor_image_c,
  "mount.c": mount_c,
  "ns.c": ns_c,
  "parent.c": parent_c,
  "park.c": park_c,
  "probe.c": probe_c,
  "procfs.c": procfs_c,
  "pty.c": pty_c,
  "registry.c": registry_c,
  "resolve.c": resolve_c,
  "sandbox-abi.h": sandbox_abi_h,
  "sandbox-view.c": sandbox_view_c,
  "sandbox.c": sandbox_c,
  "spawn.c": spawn_c,
  "syscalls_aarch64.h": syscalls_aarch64_h,
  "syscalls_x86_64.h": syscalls_x86_64_h,
  "userns.c": userns_c,
  "watch.c": watch_c,
};
