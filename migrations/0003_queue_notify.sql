-- Wake-ups for the queue and the live streams, as triggers so that every writer (API, workers, psql)
-- sends them without having to remember. NOTIFY is transactional: Postgres delivers it only when the
-- transaction commits, so a listener never hears of a row it cannot see yet. Payloads stay tiny (ids,
-- seq): listeners read the rows themselves, and a missed notification only costs latency, because
-- workers also poll and streams resume from their last seq.

-- 'runs_queued' (empty payload): a run became claimable now. Identical notifications in one transaction
-- are folded into one by Postgres, so inserting a 500-run sweep wakes each worker once.
CREATE FUNCTION runs_notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.state = 'queued' AND NEW.run_after <= now()
     AND (TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM 'queued') THEN
    PERFORM pg_notify('runs_queued', '');
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER runs_notify_queued AFTER INSERT OR UPDATE OF state ON runs
  FOR EACH ROW EXECUTE FUNCTION runs_notify_queued();
--> statement-breakpoint
-- 'run_cancel' (payload: run id): a running run was asked to stop. The worker also learns it from its
-- next heartbeat, which is what makes a lost notification harmless.
CREATE FUNCTION runs_notify_cancel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('run_cancel', NEW.id::text);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER runs_notify_cancel AFTER UPDATE OF cancel_requested_at ON runs
  FOR EACH ROW WHEN (NEW.state = 'running' AND NEW.cancel_requested_at IS NOT NULL AND OLD.cancel_requested_at IS NULL)
  EXECUTE FUNCTION runs_notify_cancel();
--> statement-breakpoint
-- 'run_events' (payload: {"runId","seq"}): a durable event was appended. Stream servers read the row
-- (or every row after the subscriber's last seq) on hearing it.
CREATE FUNCTION run_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('run_events', json_build_object('runId', NEW.run_id, 'seq', NEW.seq)::text);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER run_events_notify AFTER INSERT ON run_events
  FOR EACH ROW EXECUTE FUNCTION run_events_notify();
