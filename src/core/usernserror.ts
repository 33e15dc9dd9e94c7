/**
 * The package's error class. Its own module, with type-only imports: the
 * package's entry exports it without loading anything else.
 */
import type { Step } from "./errors.ts";

export interface UsernsErrorFields {
  code: string;
  errno?: number;
  syscall?: string;
  step: Step;
  /** Which mapping a parse error is about. */
  map?: "uid" | "gid";
  /** A longer explanation, where the Go-compatible message is terse. */
  hint?: string;
  cause?: unknown;
}

export class UsernsError extends Error {
  override name = "UsernsError";
  /**
   * Errno name such as `"EINVAL"` (every bad input), `"EPERM"`, `"ESRCH"`. A map
   * number's own error, the `cause`, says `"ERR_SYNTAX"` or `"ERR_RANGE"`.
   */
  readonly code: string;
  /** Positive errno, when the kernel (or its rules) said no. */
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  readonly step: Step;
  readonly map: "uid" | "gid" | undefined;
  readonly hint: string | undefined;

  constructor(message: string, fields: UsernsErrorFields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = fields.code;
    this.errno = fields.errno;
    this.syscall = fields.syscall;
    this.step = fields.step;
    this.map = fields.map;
    this.hint = fields.hint;
  }
}
