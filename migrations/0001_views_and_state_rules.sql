-- A run's state may only move along the legal edges of its life cycle:
--   queued  -> running | cancelled | failed      (claim; cancel before start; attempts used up)
--   running -> queued | succeeded | failed | cancelled   (release/reap; finish; fail; cancel)
-- Terminal states never change: a retry is a new run. A new run must start queued. Enforced here, not only in application code,
-- so that no buggy or stale writer can resurrect or corrupt a finished run.
CREATE FUNCTION runs_guard_state_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.state <> 'queued' THEN
      RAISE EXCEPTION 'a new run must start queued, not % (run %)', NEW.state, NEW.id
        USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.state IS DISTINCT FROM OLD.state AND NOT (
       (OLD.state = 'queued'  AND NEW.state IN ('running', 'cancelled', 'failed'))
    OR (OLD.state = 'running' AND NEW.state IN ('queued', 'succeeded', 'failed', 'cancelled'))
  ) THEN
    RAISE EXCEPTION 'illegal run state transition from % to % (run %)', OLD.state, NEW.state, OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER runs_state_transition BEFORE INSERT OR UPDATE ON runs
  FOR EACH ROW EXECUTE FUNCTION runs_guard_state_transition();
--> statement-breakpoint
-- The documented, read-only surface for SQL users (POST /v1/sql and psql). Only these views are granted
-- to the SQL reader role; the tables behind them (tokens, leases) are not.
CREATE VIEW runs_view AS
SELECT r.id, r.name, r.sweep_id, r.state, r.priority, r.tags, r.attempt, r.max_attempts, r.worker_id,
       r.spec, r.alpha, r.lambda, r.l2, r.shift, r.batch_size, r.depth, r.schedule, r.epochs, r.threshold,
       r.spec #>> '{data,dataset}' AS dataset, r.spec ->> 'wdSchedule' AS wd_schedule,
       r.error, r.created_at, r.started_at, r.finished_at
FROM runs r;
--> statement-breakpoint
CREATE VIEW epoch_metrics_view AS
SELECT m.run_id, r.name AS run_name, r.sweep_id, m.epoch, m.loss, m.acc, m.val_loss, m.val_acc, m.lr, m.wd,
       m.seconds, m.images_per_sec, m.attempt, m.created_at
FROM epoch_metrics m JOIN runs r ON r.id = m.run_id;
--> statement-breakpoint
-- One row per run with the seed's table columns. "threshold_epoch" is the first epoch whose val_acc
-- reaches the run's threshold; acc_val and acc are taken at that epoch (the seed's "epoch | acc_val |
-- acc"); the best epoch is the first epoch with the highest val_acc.
CREATE VIEW run_summary AS
SELECT r.id AS run_id, r.name, r.sweep_id, r.state, r.epochs, r.threshold,
       t.epoch AS threshold_epoch, t.val_acc AS acc_val, t.acc AS acc,
       b.epoch AS best_epoch, b.val_acc AS best_val_acc,
       f.loss AS final_loss, f.val_loss AS final_val_loss, f.epoch AS epochs_done,
       r.shift, r.l2, r.lambda, r.alpha, r.schedule, r.spec ->> 'wdSchedule' AS wd_schedule,
       r.batch_size, r.depth, r.tags, r.created_at, r.finished_at
FROM runs r
LEFT JOIN LATERAL (
  SELECT m.epoch, m.val_acc, m.acc FROM epoch_metrics m
  WHERE m.run_id = r.id AND m.val_acc >= r.threshold ORDER BY m.epoch LIMIT 1
) t ON true
LEFT JOIN LATERAL (
  SELECT m.epoch, m.val_acc FROM epoch_metrics m
  WHERE m.run_id = r.id ORDER BY m.val_acc DESC, m.epoch LIMIT 1
) b ON true
LEFT JOIN LATERAL (
  SELECT m.epoch, m.loss, m.val_loss FROM epoch_metrics m
  WHERE m.run_id = r.id ORDER BY m.epoch DESC LIMIT 1
) f ON true;
