/**
 * `npm run token -- <command>`: manage API tokens straight in the database (the way to get a token when
 * there is no admin token yet, or it was lost).
 *
 *   create --scope <read|submit|admin|worker> [--scope …] [--name <name>] [--expires-in-days <n>]
 *   list
 *   revoke <token id>
 *
 * `create` prints the token alone on stdout (so `npm run -s token -- create --scope read` can be
 * captured) and what it is on stderr. Uses DATABASE_URL, or else the embedded Postgres that
 * `npm start` runs (PG_PORT, database resnet_jobs, the password in DATA_DIR/postgres-password).
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { createApiToken } from "../../shared/api-tokens.ts";
import { ConfigError, loadConfig } from "../../shared/config.ts";
import { embeddedDatabaseUrl, MissingSecretError } from "../../shared/postgres-secret.ts";
import { TOKEN_SCOPES, type TokenScope } from "../../shared/run-states.ts";

export type TokenCommand =
  | { command: "create"; scopes: TokenScope[]; name: string; expiresInDays: number | null }
  | { command: "list" }
  | { command: "revoke"; id: string };

const USAGE = `usage: npm run token -- create --scope <${
  TOKEN_SCOPES.join("|")
}> [--scope …] [--name <name>] [--expires-in-days <n>]
       npm run token -- list
       npm run token -- revoke <token id>`;

/** Thrown for bad arguments; the message ends with the usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * @example
 * ```ts
 * parseTokenArgs(["create", "--scope", "submit"]);
 * // { command: "create", scopes: ["submit"], name: "submit token", expiresInDays: null }
 * ```
 */
export function parseTokenArgs(argv: readonly string[]): TokenCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        scope: { type: "string", multiple: true },
        name: { type: "string" },
        "expires-in-days": { type: "string" },
      },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
  const [command, ...rest] = parsed.positionals;
  const { values } = parsed;
  if (command === "create") {
    const scopes = values.scope ?? [];
    if (scopes.length === 0) throw new UsageError(`create needs at least one --scope\n${USAGE}`);
    for (const s of scopes) {
      if (!(TOKEN_SCOPES as readonly string[]).includes(s)) {
        throw new UsageError(`unknown scope '${s}': expected one of ${TOKEN_SCOPES.join(", ")}\n${USAGE}`);
      }
    }
    const days = values["expires-in-days"];
    const expiresInDays = days === undefined ? null : Number(days);
    if (expiresInDays !== null && !(Number.isFinite(expiresInDays) && expiresInDays > 0)) {
      throw new UsageError(`--expires-in-days must be a number of days > 0, found '${days}'\n${USAGE}`);
    }
    const unique = [...new Set(scopes)] as TokenScope[];
    return { command, scopes: unique, name: values.name ?? `${unique.join("+")} token`, expiresInDays };
  }
  if (command === "list" && rest.length === 0) return { command };
  if (command === "revoke" && rest.length === 1) {
    const id = rest[0]!;
    if (!/^[0-9a-f-]{36}$/i.test(id)) {
      throw new UsageError(`revoke needs a token id (a UUID), found '${id}'\n${USAGE}`);
    }
    return { command, id };
  }
  throw new UsageError(USAGE);
}

/**
 * Where the tokens live: DATABASE_URL, or the embedded server of `npm start` (service/database.ts),
 * whose password only the 0600 file in DATA_DIR holds.
 */
export async function tokenDatabaseUrl(env: Record<string, string | undefined>): Promise<string> {
  const config = loadConfig(env);
  return config.DATABASE_URL ?? await embeddedDatabaseUrl(config.DATA_DIR, config.PG_PORT, "resnet_jobs");
}

async function run(cmd: TokenCommand, sql: postgres.Sql): Promise<void> {
  if (cmd.command === "create") {
    const expiresAt = cmd.expiresInDays === null
      ? null
      : new Date(Date.now() + cmd.expiresInDays * 86_400_000);
    const created = await createApiToken(sql, { name: cmd.name, scopes: cmd.scopes, expiresAt });
    console.log(created.token);
    console.error(
      `created token ${created.id} (${created.name}; scopes ${created.scopes.join(", ")}${
        expiresAt ? `; expires ${expiresAt.toISOString()}` : ""
      }). It is shown only this once.`,
    );
    return;
  }
  if (cmd.command === "list") {
    const rows = await sql<
      { id: string; name: string; prefix: string; scopes: string[]; state: string; created_at: Date }[]
    >`
      select id, name, prefix, scopes, created_at,
        case when revoked_at is not null then 'revoked' when expires_at <= now() then 'expired' else 'active' end as state
      from api_tokens order by created_at`;
    for (const r of rows) {
      console.log(`${r.id}  ${r.prefix}…  ${r.state.padEnd(7)}  ${r.scopes.join(",").padEnd(12)}  ${r.name}`);
    }
    return;
  }
  const [row] =
    await sql`update api_tokens set revoked_at = coalesce(revoked_at, now()) where id = ${cmd.id} returning id`;
  if (row === undefined) throw new UsageError(`no token with id ${cmd.id}`);
  console.error(`revoked token ${cmd.id}`);
}

if (import.meta.main) {
  let cmd: TokenCommand;
  let url: string;
  try {
    cmd = parseTokenArgs(Deno.args);
    url = await tokenDatabaseUrl(Deno.env.toObject());
  } catch (e) {
    if (!(e instanceof UsageError || e instanceof ConfigError || e instanceof MissingSecretError)) throw e;
    console.error(e.message);
    Deno.exit(2);
  }
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await run(cmd, sql);
  } catch (e) {
    console.error(e instanceof UsageError ? e.message : `token: ${(e as Error).message}`);
    Deno.exitCode = 1;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
