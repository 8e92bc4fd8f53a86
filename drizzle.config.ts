import { defineConfig } from "drizzle-kit";

// Only `drizzle-kit generate` uses this; migrations are applied by service/migrate.ts.
export default defineConfig({
  dialect: "postgresql",
  schema: "./shared/db/schema.ts",
  out: "./migrations",
});
