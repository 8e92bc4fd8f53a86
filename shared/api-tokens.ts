/**
 * Bearer tokens for the REST API. A token is `rjt_` + 43 base64url characters (32 random bytes); only
 * its SHA-256 is stored (api_tokens.token_hash), so a database dump cannot be replayed against the API.
 * Web Crypto only: runs in Deno (the API and its CLI) and Node (`npm start`, which seeds the first
 * admin token).
 *
 * @example
 * ```ts
 * const created = await createApiToken(sql, { name: "laptop", scopes: ["submit"] });
 * console.log(created.token); // shown once: rjt_…
 * ```
 */
import { sha256Hex } from "./sha256-hex.ts";
import type postgres from "postgres";
import type { TokenScope } from "./run-states.ts";

export const TOKEN_PREFIX = "rjt_";
/** Characters shown in listings so that people can tell tokens apart (never enough to guess one). */
const SHOWN_CHARS = TOKEN_PREFIX.length + 6;

/** A new random token and what is stored of it. */
export async function generateApiToken(): Promise<{ token: string; prefix: string; hash: string }> {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const token = TOKEN_PREFIX + base64url(bytes);
  return { token, prefix: token.slice(0, SHOWN_CHARS), hash: await hashApiToken(token) };
}

/**
 * The stored form of a token: lowercase hex SHA-256 of its UTF-8 bytes.
 *
 * @example
 * ```ts
 * await hashApiToken("rjt_x"); // "5b7c…" (64 hex digits)
 * ```
 */
export function hashApiToken(token: string): Promise<string> {
  return sha256Hex(token);
}

export interface CreatedApiToken {
  id: string;
  name: string;
  /** The token itself: shown once, never stored. */
  token: string;
  prefix: string;
  scopes: TokenScope[];
  createdAt: Date;
  expiresAt: Date | null;
}

/** Creates a token with the given scopes; the only time the token text exists outside the client. */
export async function createApiToken(
  sql: postgres.Sql,
  opts: { name: string; scopes: readonly TokenScope[]; expiresAt?: Date | null },
): Promise<CreatedApiToken> {
  const { token, prefix, hash } = await generateApiToken();
  // Timestamps cross as ISO text both ways: a client shared with drizzle-orm has drizzle's date
  // parsers and serializers (text in, text out) instead of postgres.js's (Date).
  const [row] = await sql<{ id: string; created_at: Date | string; expires_at: Date | string | null }[]>`
    insert into api_tokens (name, token_hash, prefix, scopes, expires_at)
    values (${opts.name}, ${hash}, ${prefix}, ${arrayLiteral(opts.scopes)}::text[],
      ${opts.expiresAt?.toISOString() ?? null}::timestamptz)
    returning id, created_at, expires_at`;
  if (row === undefined) throw new Error("insert into api_tokens returned no row");
  return {
    id: row.id,
    name: opts.name,
    token,
    prefix,
    scopes: [...opts.scopes],
    createdAt: new Date(row.created_at),
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
  };
}

/** Arbitrary but fixed: serialises the first-start check so two processes cannot both create one. */
const ADMIN_SEED_LOCK_KEY = 7_370_000_002;

/**
 * Makes sure an admin can get in. With `adminToken` (the ADMIN_TOKEN setting) its hash is stored as an
 * admin token if it is not there yet. Without it, a new admin token is created only when no usable one
 * exists (the first start), and returned so that the caller can print it once; otherwise null.
 */
export async function ensureAdminToken(
  sql: postgres.Sql,
  adminToken: string | undefined,
): Promise<{ created: CreatedApiToken | null; fromEnv: boolean }> {
  return await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${ADMIN_SEED_LOCK_KEY})`;
    if (adminToken !== undefined) {
      const hash = await hashApiToken(adminToken);
      await tx`
        insert into api_tokens (name, token_hash, prefix, scopes)
        values ('ADMIN_TOKEN', ${hash}, ${chosenTokenLabel(hash)}, '{admin}')
        on conflict (token_hash) do nothing`;
      return { created: null, fromEnv: true };
    }
    const [usable] = await tx`
      select 1 from api_tokens
      where 'admin' = any(scopes) and revoked_at is null and (expires_at is null or expires_at > now())
      limit 1`;
    if (usable !== undefined) return { created: null, fromEnv: false };
    const created = await createApiToken(tx as unknown as postgres.Sql, {
      name: "admin (first start)",
      scopes: ["admin"],
    });
    return { created, fromEnv: false };
  }) as { created: CreatedApiToken | null; fromEnv: boolean };
}

/**
 * What listings show of a token someone chose (ADMIN_TOKEN): unlike a generated token, its first
 * characters may be a large part of a weak secret, so it is named by its hash instead.
 */
function chosenTokenLabel(hash: string): string {
  return `sha256:${hash.slice(0, 8)}`;
}

/**
 * A text[] literal. Not `sql.array()`: postgres.js learns array type ids on its first connection, so an
 * array built before that is sent as plain text and Postgres refuses it for a text[] column.
 */
function arrayLiteral(scopes: readonly TokenScope[]): string {
  return `{${scopes.join(",")}}`; // scope names are [a-z]+: nothing to quote
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
