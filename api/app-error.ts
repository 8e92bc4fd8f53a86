/**
 * The one error type that route code throws for outcomes a client must handle. `app.onError` turns it
 * into `{ "error": { "code", "message", "issues"? } }` with the status that belongs to its code, so a
 * code can never be sent with the wrong status.
 */
import type { Issue } from "../shared/issue.ts";

/** What clients branch on; each code has exactly one HTTP status. */
export const ERROR_STATUS = {
  /** The request could not be understood: a bad query parameter, a bad header. */
  bad_request: 400,
  /** The body is not JSON. */
  invalid_json: 400,
  /** Postgres refused the statement sent to POST /v1/sql (its message is passed on). */
  sql_error: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  /** The resource is not in a state that allows this (cancel a finished run, retry a running one). */
  conflict: 409,
  /** The Idempotency-Key was used before with a different body. */
  idempotency_conflict: 409,
  /** It existed and was removed on purpose (a run's model weights pruned by an operator). */
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  /** The body is JSON but not a valid request (a run spec that fails its schema). */
  validation_failed: 422,
  internal: 500,
  /** Postgres (or another dependency) is unreachable. */
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];


/**
 * @example
 * ```ts
 * throw new AppError("not_found", `run ${id} does not exist`);
 * throw new AppError("validation_failed", "invalid run spec", { issues });
 * ```
 */
export class AppError extends Error {
  override name = "AppError";
  readonly code: ErrorCode;
  readonly issues: Issue[] | undefined;
  /** Extra response headers (Allow for 405, WWW-Authenticate for 401). */
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { issues?: Issue[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.issues = options.issues;
    this.headers = options.headers ?? {};
  }

  get status(): ErrorStatus {
    return ERROR_STATUS[this.code];
  }

  /** The response body; never carries a stack or a cause. */
  toBody(): { error: { code: ErrorCode; message: string; issues?: Issue[] } } {
    return {
      error: { code: this.code, message: this.message, ...(this.issues ? { issues: this.issues } : {}) },
    };
  }
}

