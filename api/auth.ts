/**
 * Bearer-token authentication. Tokens are looked up by their SHA-256 (the only form stored). Scopes
 * nest: `admin` may do everything, `submit` may also read; `worker` is only for workers' own
 * endpoints. A missing or unusable token is 401, a token without the scope 403. The token text itself
 * is never logged or echoed.
 */
import type postgres from "postgres";
import { hashApiToken } from "../shared/api-tokens.ts";
import type { TokenScope } from "../shared/run-states.ts";
import { AppError } from "./app-error.ts";
import type { AppContext, Authenticate } from "./http/router.ts";
import type { Logger } from "../shared/logger.ts";

/** Whether a token with `scopes` may use an endpoint that needs `needed`. */
export function scopeAllows(scopes: readonly string[], needed: TokenScope): boolean {
  if (scopes.includes("admin") || scopes.includes(needed)) return true;
  return needed === "read" && scopes.includes("submit");
}

/** last_used_at is for people ("is this token still in use?"); a minute's precision saves a write per request. */
const LAST_USED_PRECISION_S = 60;

export function bearerAuthenticator(sql: postgres.Sql, log: Logger): Authenticate {
  return async (c: AppContext, scope: TokenScope) => {
    const header = c.req.header("authorization");
    const challenge = { "WWW-Authenticate": 'Bearer realm="resnet-jobs"' };
    if (header === undefined || header.trim() === "") {
      throw new AppError("unauthorized", "this endpoint needs an 'Authorization: Bearer <token>' header", {
        headers: challenge,
      });
    }
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (match === null) {
      throw new AppError("unauthorized", "the Authorization header must be 'Bearer <token>'", {
        headers: challenge,
      });
    }
    const hash = await hashApiToken(match[1]!);
    const [row] = await sql<
      { id: string; scopes: string[]; usable: boolean; stale: boolean }[]
    >`select id, scopes,
        revoked_at is null and (expires_at is null or expires_at > now()) as usable,
        last_used_at is null or last_used_at < now() - make_interval(secs => ${LAST_USED_PRECISION_S}) as stale
      from api_tokens where token_hash = ${hash}`;
    if (row === undefined || !row.usable) {
      throw new AppError("unauthorized", "the bearer token is unknown, revoked or expired", {
        headers: { "WWW-Authenticate": 'Bearer realm="resnet-jobs", error="invalid_token"' },
      });
    }
    c.set("auth", { tokenId: row.id, scopes: row.scopes as TokenScope[] });
    if (row.stale) {
      // Not awaited: bookkeeping must not slow down or fail the request.
      sql`update api_tokens set last_used_at = now() where id = ${row.id}`.catch((e: Error) =>
        log("warn", "could not update last_used_at", {
          requestId: c.get("requestId"),
          tokenId: row.id,
          error: e.message,
        })
      );
    }
    if (!scopeAllows(row.scopes, scope)) {
      throw new AppError(
        "forbidden",
        `this endpoint needs a token with the '${scope}' scope; this token has ${
          row.scopes.map((s) => `'${s}'`).join(", ")
        }`,
      );
    }
  };
}
