-- Issue 19: the schedule index as a btree on the schedule's md5 instead of a hash index. Most runs
-- share a few schedules; a hash index keeps equal keys in one bucket, and every insert walks that
-- bucket's overflow chain to its end: each claim and completion (new row versions, not HOT) read one
-- page per ~400 earlier runs with the same schedule, a cost that grew with the history (300 of the
-- 330 pages a claim touched at 120,000 runs). A btree descends in O(log n) whatever the duplicates; the
-- md5 keeps a 1,000-knot schedule within a btree entry's size limit. Queries filter with
-- `md5(schedule) = md5('...')` to use it.
DROP INDEX "runs_schedule_idx";--> statement-breakpoint
CREATE INDEX "runs_schedule_idx" ON "runs" USING btree (md5("schedule"));
