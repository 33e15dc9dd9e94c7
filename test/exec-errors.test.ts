/**
 * Every spawnInside failure names the step that failed (a command's step
 * from the contract's XSTEPS, or where the call was before the native one)
 * and the syscall that failed there. The signal and fs.suid_dumpable paths
 * need another uid's signals or a sysctl: exec.test.ts provokes those.
 */
import { describe, expect, test } from "bun:test";
import { openNamespace, spawnInside, UsernsError } from "../src/index.ts";
import { thrown } from "./support/errors.ts";
import { isRoot } from "./support/proc.ts";

/** The fields a failure is read by, as one object (a mismatch shows them all). */
function fields(e: unknown): Record<string, unknown> {
  expect(e).toBeInstanceOf(UsernsError);
  const u = e as UsernsError;
  return { code: u.code, step: u.step, syscall: u.syscall };
}

/** A pid that names no process: one of ours, exited and reaped. */
async function deadPid(): Promise<number> {
  const p = Bun.spawn(["true"]);
  await p.exited;
  return p.pid;
}

describe("spawnInside failures name their step and syscall", () => {
  test("a stdio fd that is not open: step stdio, syscall dup3", () => {
    // Far above any fd this process has open (and below the 2^31 the option allows).
    const e = thrown(() =>
      spawnInside(process.pid, ["true"], { namespaces: [], stdio: ["ignore", 1 << 30, "ignore"] }),
    );
    expect(fields(e)).toEqual({ code: "EBADF", step: "stdio", syscall: "dup3" });
  });

  test("a command that is not found: step exec, syscall execve", () => {
    const e = thrown(() => spawnInside(process.pid, ["no-such-command-xyz"], { namespaces: [] }));
    expect(fields(e)).toEqual({ code: "ENOENT", step: "exec", syscall: "execve" });
  });

  test("a command that is not executable: step exec, syscall execve", () => {
    const e = thrown(() => spawnInside(process.pid, ["/etc/passwd"], { namespaces: [] }));
    expect(fields(e)).toEqual({ code: "EACCES", step: "exec", syscall: "execve" });
  });

  test("a pid that names no process: step namespace, syscall readlink", async () => {
    const pid = await deadPid();
    const e = thrown(() => spawnInside(pid, ["true"]));
    expect(fields(e)).toEqual({ code: "ESRCH", step: "namespace", syscall: "readlink" });
  });

  test("entering our own user namespace from a file is refused: step setns_fd, syscall setns", () => {
    // setns(2) refuses the caller's own user namespace (EINVAL).
    const e = thrown(() => spawnInside(process.pid, ["true"], { namespaceFiles: { user: "/proc/self/ns/user" } }));
    expect(fields(e)).toEqual({ code: "EINVAL", step: "setns_fd", syscall: "setns" });
  });

  test.skipIf(!isRoot)("a namespace file that is no namespace: step namespace, syscall ioctl (needs root)", () => {
    const e = thrown(() => spawnInside(process.pid, ["true"], { namespaceFiles: { net: "/etc/passwd" } }));
    expect(fields(e)).toEqual({ code: "ENOTTY", step: "namespace", syscall: "ioctl" });
  });
});

describe("openNamespace failures name their step and syscall", () => {
  test("a path that does not exist: step namespace, syscall openat", () => {
    const e = thrown(() => openNamespace("/no/such/namespace/file", "net"));
    expect(fields(e)).toEqual({ code: "ENOENT", step: "namespace", syscall: "openat" });
  });

  test("a file that is no namespace: step namespace, syscall ioctl", () => {
    const e = thrown(() => openNamespace("/etc/passwd"));
    expect(fields(e)).toEqual({ code: "ENOTTY", step: "namespace", syscall: "ioctl" });
  });

  test("a pid that names no process: step namespace, syscall pidfd_open", async () => {
    const pid = await deadPid();
    const e = thrown(() => openNamespace(pid, "net"));
    expect(fields(e)).toEqual({ code: "ESRCH", step: "namespace", syscall: "pidfd_open" });
  });
});
