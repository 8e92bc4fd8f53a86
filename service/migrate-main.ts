// `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the embedded Postgres that
// `npm start` uses (started for the duration of the command).
import { loadConfig } from "../shared/config.ts";
import { openDatabase } from "./database.ts";

const config = loadConfig(process.env);
const db = await openDatabase(config, (l) => console.error(l));
console.log(`migrated ${db.embedded ? "embedded Postgres" : "DATABASE_URL"}`);
await db.close();
