/**
 * The one rule for bad input, for every public call (as Node's
 * internal/validators): a value of the wrong JS type is a `TypeError`; a
 * value of the right type that is not allowed is a `UsernsError` `EINVAL`
 * (step "options" unless the caller names another). Both are thrown before
 * anything is created. Values are described without running their code.
 */
import { invalid, type Step, type UsernsError } from "./errors.ts";
import { describe } from "./idmap.ts";

export { describe };

/** A wrong JS type: `NAME must be EXPECTED, got <what it is>`. */
export function typeError(name: string, expected: string, got: unknown): TypeError {
  return new TypeError(`${name} must be ${expected}, got ${describe(got)}`);
}

/** A value of the right type that is not allowed. */
export function badValue(message: string, step: Step = "options"): UsernsError {
  return invalid(step, message);
}

/** A plain object (not null, not an array). */
export function validateObject(value: unknown, name: string): asserts value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw typeError(name, "an object", value);
}

export function validateArray(value: unknown, name: string): asserts value is unknown[] {
  if (!Array.isArray(value)) throw typeError(name, "an array", value);
}

export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== "string") throw typeError(name, "a string", value);
}

export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== "boolean") throw typeError(name, "a boolean", value);
}

export function validateNumber(value: unknown, name: string): asserts value is number {
  if (typeof value !== "number") throw typeError(name, "a number", value);
}

export function validateAbortSignal(value: unknown, name: string): asserts value is AbortSignal {
  if (!(value instanceof AbortSignal)) throw typeError(name, "an AbortSignal", value);
}

/** A number that must be an integer in [min, max]: TypeError if not a number, EINVAL if outside. */
export function validateInteger(
  value: unknown,
  name: string,
  min: number,
  max: number,
  step: Step = "options",
): number {
  validateNumber(value, name);
  if (!Number.isInteger(value) || value < min || value > max)
    throw badValue(`${name} must be an integer from ${min} to ${max}, got ${value}`, step);
  return value;
}

/** A string path: non-empty, without NUL (EINVAL otherwise). */
export function validatePath(value: unknown, name: string, step: Step = "options"): string {
  validateString(value, name);
  if (value === "") throw badValue(`${name} must not be empty`, step);
  if (value.includes("\0")) throw badValue(`${name} ${JSON.stringify(value)} contains a NUL byte`, step);
  return value;
}

/**
 * One of ALLOWED: a value of a type none of them has is a TypeError, another
 * value of their type an EINVAL naming them.
 */
export function validateOneOf<T extends string | number>(
  value: unknown,
  name: string,
  allowed: readonly T[],
  step: Step = "options",
): T {
  const list = allowed.map((a) => JSON.stringify(a)).join(", ");
  if (!allowed.some((a) => typeof a === typeof value)) throw typeError(name, `one of ${list}`, value);
  if (!(allowed as readonly unknown[]).includes(value))
    throw badValue(`invalid ${name} ${JSON.stringify(value)}: must be one of ${list}`, step);
  return value as T;
}
