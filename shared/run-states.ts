/**
 * The words every part of the product shares for a run's life and a token's rights, with no imports:
 * the API, the worker, the drizzle schema and the browser's dashboard all take them from here (the
 * dashboard bundle must not pull in drizzle through shared/db/schema.ts).
 */

/** Every state a run can be in; the legal moves between them are enforced by a trigger. */
export const RUN_STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type RunState = (typeof RUN_STATES)[number];

/** States after which a run never changes again (its stream ends with close code 1000). */
export const TERMINAL_STATES = ["succeeded", "failed", "cancelled"] as const satisfies readonly RunState[];

/**
 * @example
 * ```ts
 * isTerminalState("failed"); // true
 * isTerminalState("queued"); // false (a failed attempt is retried)
 * ```
 */
export function isTerminalState(state: unknown): boolean {
  return (TERMINAL_STATES as readonly unknown[]).includes(state);
}

/** Scopes a bearer token may carry. */
export const TOKEN_SCOPES = ["read", "submit", "admin", "worker"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];
