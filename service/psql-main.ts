// `npm run psql [-- psql options]`: psql on the service's database, as the superuser of the embedded
// cluster (its password read from DATA_DIR/postgres-password) or DATABASE_URL's user. The password goes
// to psql in its environment, never on a command line that `ps` shows to other users.
import { spawn } from "node:child_process";
import { ConfigError, loadConfig } from "../shared/config.ts";
import { embeddedDatabaseUrl, MissingSecretError } from "../shared/postgres-secret.ts";
import { APP_DATABASE } from "./database.ts";

try {
  const config = loadConfig(process.env);
  const url = new URL(config.DATABASE_URL ?? await embeddedDatabaseUrl(config.DATA_DIR, config.PG_PORT, APP_DATABASE));
  const child = spawn("psql", process.argv.slice(2), {
    stdio: "inherit",
    env: {
      ...process.env,
      PGHOST: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      PGPORT: url.port || "5432",
      PGUSER: decodeURIComponent(url.username),
      PGPASSWORD: decodeURIComponent(url.password),
      PGDATABASE: decodeURIComponent(url.pathname.slice(1)),
    },
  });
  child.on("error", (e) => {
    console.error(`cannot run psql (${e.message}): install the PostgreSQL client (Debian: apt-get install postgresql-client)`);
    process.exit(127);
  });
  child.on("exit", (code) => process.exit(code ?? 1));
} catch (e) {
  if (!(e instanceof ConfigError || e instanceof MissingSecretError)) throw e;
  console.error(e.message);
  process.exit(2);
}
