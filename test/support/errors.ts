import { UsernsError } from "../../src/index.ts";

/** What a call threw or rejected with; fails the test if it did not. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

/** A thrown value as plain JSON-able fields (fixtures print it to their test). */
export function errorFields(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { thrown: String(e) };
  const u = e as Error & Record<string, unknown>;
  return {
    name: u.name,
    isUsernsError: e instanceof UsernsError,
    message: u.message,
    code: u.code,
    errno: u.errno,
    syscall: u.syscall,
    step: u.step,
    hint: u.hint,
  };
}

/** `{ ok: true }`, or `{ ok: false, ...errorFields }`. */
export async function attempt(fn: () => unknown): Promise<Record<string, unknown>> {
  try {
    await fn();
    return { ok: true };
  } catch (e) {
    return { ok: false, ...errorFields(e) };
  }
}
