-- Issue 19: the queue's hot path.
--
-- 1. No NOTIFY inside the queue's own transactions. A transaction that sent NOTIFY takes one
--    cluster-wide lock at commit and holds it until its commit record is flushed, so claims, epoch
--    records and completions committed one at a time (connections waited on Lock:object 72-95 % of the
--    time). Durable run events are now announced by their writer after it committed, in a separate
--    transaction that stores nothing and commits without waiting for the disk
--    (worker/queue/announce-run-events.ts); stream servers also re-read the runs they serve every few
--    seconds, which covers an announcement lost to a crash between the two.
DROP TRIGGER run_events_notify ON run_events;
--> statement-breakpoint
DROP FUNCTION run_events_notify();
--> statement-breakpoint
-- 'runs_queued' stays a trigger (inserts, releases and retries are not the hot path, and every writer
-- must wake the workers), but only rows that end up queued call into PL/pgSQL: a claim or a completion
-- no longer runs the function to learn that it has nothing to say.
DROP TRIGGER runs_notify_queued ON runs;
--> statement-breakpoint
CREATE TRIGGER runs_notify_queued AFTER INSERT OR UPDATE OF state ON runs
  FOR EACH ROW WHEN (NEW.state = 'queued')
  EXECUTE FUNCTION runs_notify_queued();
--> statement-breakpoint
-- 2. HOT updates for everything a running run writes between its claim and its end (epochs, checkpoint
--    pointers, heartbeats): no indexed column changes (the reaper's index is keyed on id, not on the
--    lease expiry), and pages keep room for the new row version, so Postgres updates in place without
--    new entries in the nine indexes of runs. Claims and ends change `state`, which the partial indexes
--    test, and cannot be HOT. Existing pages keep their fill until rewritten; new ones get the room.
DROP INDEX "runs_lease_idx";
--> statement-breakpoint
CREATE INDEX "runs_running_idx" ON "runs" USING btree ("id") WHERE "runs"."state" = 'running';
--> statement-breakpoint
ALTER TABLE runs SET (fillfactor = 80);
--> statement-breakpoint
ALTER TABLE run_attempts SET (fillfactor = 80);
