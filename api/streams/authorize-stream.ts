/**
 * Who may open a stream, decided before the upgrade (so a refused client gets a plain 401/403 with the
 * API's error body, not an opened-then-closed socket).
 *
 * Credentials: `Authorization: Bearer <token>` (curl, the worker, any non-browser client), or, because
 * a browser's WebSocket cannot set headers, a `Sec-WebSocket-Protocol` entry `bearer.<token>` offered
 * together with `resnet-jobs.v1`. Only `resnet-jobs.v1` is ever echoed, never the token.
 *
 * Origin: browsers send one and cannot fake it, so a page on a foreign origin cannot use a visitor's
 * token (cross-site WebSocket hijacking). Allowed: no Origin (not a browser), the API's own origin, or
 * one listed in `allowedOrigins` (config ALLOWED_ORIGINS).
 */
import type postgres from "postgres";
import { hashApiToken } from "../../shared/api-tokens.ts";
import type { TokenScope } from "../../shared/run-states.ts";
import { BEARER_PROTOCOL_PREFIX, STREAM_PROTOCOL } from "../../shared/stream-messages.ts";
import { AppError } from "../app-error.ts";
import { scopeAllows } from "../auth.ts";

/** A usable token's scopes and SHA-256, or null for an unknown, revoked or expired one. */
export type LookupToken = (token: string) => Promise<{ scopes: readonly string[]; tokenHash: string } | null>;

/**
 * Looks a token up by its SHA-256 in api_tokens (the same rule as the REST API's authenticator).
 *
 * @example
 * const lookup = lookupApiToken(sql);
 * await lookup("rjt_…"); // { scopes: ["read"], tokenHash: "…" } or null
 */
export function lookupApiToken(sql: postgres.Sql): LookupToken {
  return async (token) => {
    const hash = await hashApiToken(token);
    const [row] = await sql<{ scopes: string[] }[]>`
      select scopes from api_tokens
      where token_hash = ${hash} and revoked_at is null and (expires_at is null or expires_at > now())`;
    return row === undefined ? null : { scopes: row.scopes, tokenHash: hash };
  };
}

/**
 * Which of these token hashes still name a usable token (not revoked, not expired): one statement for
 * all the open streams' tokens, which this instance keeps only as hashes.
 *
 * @example
 * const valid = await validTokenHashes(sql)(["3f2a…", "9bc1…"]); // Set { "3f2a…" }
 */
export function validTokenHashes(sql: postgres.Sql): (hashes: string[]) => Promise<Set<string>> {
  return async (hashes) => {
    const rows = await sql<{ token_hash: string }[]>`
      select token_hash from api_tokens
      where token_hash = any(${hashes}::text[]) and revoked_at is null and (expires_at is null or expires_at > now())`;
    return new Set(rows.map((r) => r.token_hash));
  };
}

export interface StreamAuthOptions {
  lookupToken: LookupToken;
  allowedOrigins: readonly string[];
  scope: TokenScope;
}

/**
 * Checks Origin, then the token and its scope; throws AppError (401/403/400) or returns the
 * subprotocol to echo (undefined when the client offered none).
 *
 * @example
 * const { protocol } = await authorizeStream(req, { lookupToken, allowedOrigins: [], scope: "read" });
 * Deno.upgradeWebSocket(req, protocol === undefined ? {} : { protocol });
 */
export async function authorizeStream(
  req: Request,
  opts: StreamAuthOptions,
): Promise<{ protocol: string | undefined; tokenHash: string }> {
  checkOrigin(req, opts.allowedOrigins);
  const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim()).filter((
    p,
  ) => p !== "");
  const fromProtocol = offered.find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX))?.slice(
    BEARER_PROTOCOL_PREFIX.length,
  );
  if (offered.length > 0 && !offered.includes(STREAM_PROTOCOL)) {
    throw new AppError(
      "bad_request",
      `Sec-WebSocket-Protocol must include '${STREAM_PROTOCOL}' (offer it next to 'bearer.<token>')`,
    );
  }
  const header = req.headers.get("authorization");
  let token: string | undefined;
  if (header !== null && header.trim() !== "") {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (match === null) throw unauthorized("the Authorization header must be 'Bearer <token>'");
    token = match[1];
  } else {
    token = fromProtocol;
  }
  if (token === undefined || token === "") {
    throw unauthorized(
      "a stream needs 'Authorization: Bearer <token>' or a Sec-WebSocket-Protocol entry 'bearer.<token>'",
    );
  }
  const found = await opts.lookupToken(token);
  if (found === null) throw unauthorized("the bearer token is unknown, revoked or expired", "invalid_token");
  if (!scopeAllows(found.scopes, opts.scope)) {
    throw new AppError(
      "forbidden",
      `this stream needs a token with the '${opts.scope}' scope; this token has ${
        found.scopes.map((s) => `'${s}'`).join(", ") || "none"
      }`,
    );
  }
  return { protocol: offered.length > 0 ? STREAM_PROTOCOL : undefined, tokenHash: found.tokenHash };
}

function checkOrigin(req: Request, allowed: readonly string[]): void {
  const origin = req.headers.get("origin");
  if (origin === null) return;
  if (allowed.includes("*") || allowed.includes(origin)) return;
  let host: string | null = null;
  try {
    host = new URL(origin).host;
  } catch {
    // An unparsable Origin is foreign.
  }
  if (host !== null && host === req.headers.get("host")) return;
  throw new AppError(
    "forbidden",
    `Origin ${
      JSON.stringify(origin)
    } may not open streams: allowed are this API's own origin and ALLOWED_ORIGINS`,
  );
}

function unauthorized(message: string, error?: string): AppError {
  const challenge = `Bearer realm="resnet-jobs"${error === undefined ? "" : `, error="${error}"`}`;
  return new AppError("unauthorized", message, { headers: { "WWW-Authenticate": challenge } });
}
