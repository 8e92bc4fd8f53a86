-- runs.epochs becomes a generated column like the spec's other derived columns (issue 16): the
-- schedule's last epoch, read by Postgres from the stored spec instead of written by the application.
-- A column cannot be turned into a generated one in place, so it is dropped and added again; the two
-- views that read it are dropped first and created again as they were (their latest definitions,
-- 0001 and 0008), with the SQL reader's grants, and the range check comes back.
DROP VIEW run_summary;
--> statement-breakpoint
DROP VIEW runs_view;
--> statement-breakpoint
ALTER TABLE "runs" drop column "epochs";--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "epochs" integer GENERATED ALWAYS AS (((regexp_match(spec ->> 'schedule', ',\s*(\d+)\s*\]\s*$'))[1]::integer)) STORED NOT NULL;
--> statement-breakpoint
ALTER TABLE runs ADD CONSTRAINT runs_epochs_check CHECK (epochs between 1 and 1000);
--> statement-breakpoint
CREATE VIEW runs_view AS
SELECT r.id, r.name, r.sweep_id, r.state, r.priority, r.tags, r.attempt, r.max_attempts, r.worker_id,
       r.spec, r.alpha, r.lambda, r.l2, r.shift, r.batch_size, r.depth, r.schedule, r.epochs, r.threshold,
       r.spec #>> '{data,dataset}' AS dataset, r.spec ->> 'wdSchedule' AS wd_schedule,
       r.error, r.created_at, r.started_at, r.finished_at
FROM runs r;
--> statement-breakpoint
CREATE VIEW run_summary AS
SELECT r.id AS run_id, r.name, r.sweep_id, r.state, r.epochs, r.threshold,
       t.epoch AS threshold_epoch, t.val_acc AS acc_val, t.acc AS acc,
       b.epoch AS best_epoch, b.val_acc AS best_val_acc,
       f.loss AS final_loss, f.val_loss AS final_val_loss, f.epoch AS epochs_done,
       r.shift, r.l2, r.lambda, r.alpha, r.schedule, r.spec ->> 'wdSchedule' AS wd_schedule,
       r.batch_size, r.depth, r.tags, r.created_at, r.finished_at,
       mb.test_acc AS best_test_acc, mb.test_loss AS best_test_loss,
       mf.test_acc AS final_test_acc, mf.test_loss AS final_test_loss
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
) f ON true
LEFT JOIN run_models mb ON mb.run_id = r.id AND mb.weights_kind = 'best'
LEFT JOIN run_models mf ON mf.run_id = r.id AND mf.weights_kind = 'final';
--> statement-breakpoint
GRANT SELECT ON runs_view, run_summary TO resnet_sql_reader;
