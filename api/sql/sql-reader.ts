/**
 * The database role that POST /v1/sql runs as. The migration `sql_reader_role` creates it NOLOGIN with
 * SELECT on the three documented views only; here the API gives it a login so that statements run in
 * a session that *is* that role. A session that merely `SET ROLE`d to it could `RESET ROLE` back to the
 * application's (often superuser) role, or `set_config('role', …)` inside a query; a session that
 * logged in as the reader has nothing to escape to.
 *
 * The password is derived from the application's own password (SHA-256 of both and the role name), so
 * every API process on the same database computes the same one without storing it anywhere, and a
 * reader, who does not know the application's password, cannot compute it.
 */
import postgres from "postgres";
import { sha256Hex } from "../../shared/sha256-hex.ts";

export const SQL_READER_ROLE = "resnet_sql_reader";

/** The reader's connection URL for the database at `appUrl`. */
export async function sqlReaderUrl(appUrl: string): Promise<string> {
  const url = new URL(appUrl);
  const secret = `resnet-jobs sql reader\u0000${decodeURIComponent(url.username)}\u0000${
    decodeURIComponent(url.password)
  }\u0000${SQL_READER_ROLE}`;
  const password = await sha256Hex(secret);
  url.username = SQL_READER_ROLE;
  url.password = password;
  return url.toString();
}

/**
 * Makes sure the reader can log in with the derived password: tries it, and only if that fails sets
 * LOGIN and the password (which needs CREATEROLE or superuser). Several processes may do this at once
 * (parallel test files share one cluster, and roles are cluster-wide): a concurrent ALTER ROLE can
 * fail with "tuple concurrently updated", so it retries.
 */
export async function ensureSqlReaderLogin(appSql: postgres.Sql, appUrl: string): Promise<string> {
  const url = await sqlReaderUrl(appUrl);
  // Probe only a role that can log in: a failed login is logged by Postgres as FATAL, which on a
  // first start (role still NOLOGIN) would look like an error when nothing is wrong.
  const [role] = await appSql<{ login: boolean }[]>`
    select rolcanlogin as login from pg_roles where rolname = ${SQL_READER_ROLE}`;
  if (role === undefined) {
    throw new Error(`the SQL reader role ${SQL_READER_ROLE} does not exist: are the migrations applied?`);
  }
  await keepReaderOutOfServerLog(appSql);
  if (role.login && (await canLogIn(url))) return url;
  const password = new URL(url).password; // hex digits only: safe inside a quoted literal
  for (let attempt = 0;; attempt++) {
    try {
      await appSql.unsafe(`alter role ${SQL_READER_ROLE} with login password '${password}'`);
      break;
    } catch (e) {
      if (attempt >= 4 || !/tuple concurrently updated/.test((e as Error).message)) {
        throw new Error(
          `cannot give the SQL reader role ${SQL_READER_ROLE} a login (POST /v1/sql needs it; the database user ` +
            `needs CREATEROLE or superuser): ${(e as Error).message}`,
          { cause: e },
        );
      }
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
    }
  }
  return url;
}

/**
 * Nothing a reader session does reaches the server's log: its errors (with the statement's text) and
 * its RAISE WARNINGs from DO blocks are client-chosen text, and `npm start` prints the server log. The
 * client still gets every message. Needs superuser (both settings are superuser-only); without it the
 * log keeps them, escaped and prefixed by the supervisor.
 */
async function keepReaderOutOfServerLog(appSql: postgres.Sql): Promise<void> {
  const [me] = await appSql<{ su: boolean }[]>`select rolsuper as su from pg_roles where rolname = current_user`;
  if (!me?.su) return;
  for (const setting of ["log_min_messages", "log_min_error_statement"]) {
    const [current] = await appSql<{ set: boolean }[]>`
      select exists (
        select 1 from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
        where r.rolname = ${SQL_READER_ROLE} and s.setdatabase = 0 and ${setting + "=panic"} = any(s.setconfig)
      ) as set`;
    if (current?.set) continue;
    await appSql.unsafe(`alter role ${SQL_READER_ROLE} set ${setting} = panic`).catch(() => {});
  }
}

async function canLogIn(url: string): Promise<boolean> {
  const probe = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await probe`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await probe.end({ timeout: 1 });
  }
}

/** The reader's pool: no prepared statements (each request ends with DISCARD ALL). */
export function openSqlReaderPool(url: string, max = 4): postgres.Sql {
  return postgres(url, {
    max,
    prepare: false,
    onnotice: () => {},
    connection: { application_name: "resnet-jobs sql" },
  });
}
