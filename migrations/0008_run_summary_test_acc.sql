-- Float32 weights barely compress: store them out of line without spending CPU on pglz.
ALTER TABLE run_models ALTER COLUMN weights SET STORAGE EXTERNAL;
--> statement-breakpoint
-- run_summary gains the test-set figures of the run's best-epoch and final weights (null unless the run
-- validated on a split of the training set and finished). Columns are appended, so CREATE OR REPLACE
-- keeps the view's grants (resnet_sql_reader) and every earlier column as it was.
CREATE OR REPLACE VIEW run_summary AS
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
