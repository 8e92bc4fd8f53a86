-- The role that POST /v1/sql (and psql users, see the README) run as: it may SELECT the three
-- documented views and nothing else. Not the tables behind them (api_tokens holds token hashes, runs
-- holds lease tokens), not other schemas' objects. The API gives it a login at start-up
-- (api/sql/sql-reader.ts); until then it is NOLOGIN.
--
-- Roles are cluster-wide while migrations run per database, so creating it must be idempotent and
-- must survive another database's migration creating it at the same moment.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'resnet_sql_reader') THEN
    CREATE ROLE resnet_sql_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
--> statement-breakpoint
-- Defaults for any session of the role (psql included); POST /v1/sql sets its own per transaction too.
ALTER ROLE resnet_sql_reader SET default_transaction_read_only = on;
--> statement-breakpoint
ALTER ROLE resnet_sql_reader SET statement_timeout = '5s';
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO resnet_sql_reader;
--> statement-breakpoint
GRANT SELECT ON runs_view, epoch_metrics_view, run_summary TO resnet_sql_reader;
