CREATE TABLE "api_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"token_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"scopes" text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "epoch_metrics" (
	"run_id" uuid NOT NULL,
	"epoch" integer NOT NULL,
	"loss" double precision NOT NULL,
	"acc" double precision NOT NULL,
	"val_loss" double precision NOT NULL,
	"val_acc" double precision NOT NULL,
	"lr" double precision NOT NULL,
	"wd" double precision NOT NULL,
	"seconds" double precision NOT NULL,
	"images_per_sec" double precision NOT NULL,
	"attempt" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "epoch_metrics_run_id_epoch_pk" PRIMARY KEY("run_id","epoch"),
	CONSTRAINT "epoch_metrics_epoch_check" CHECK ("epoch_metrics"."epoch" >= 1)
);
--> statement-breakpoint
CREATE TABLE "run_attempts" (
	"run_id" uuid NOT NULL,
	"attempt" integer NOT NULL,
	"worker_id" text NOT NULL,
	"lease_token" uuid NOT NULL,
	"claimed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone,
	"outcome" text,
	"error" jsonb,
	CONSTRAINT "run_attempts_run_id_attempt_pk" PRIMARY KEY("run_id","attempt")
);
--> statement-breakpoint
CREATE TABLE "run_events" (
	"run_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "run_events_run_id_seq_pk" PRIMARY KEY("run_id","seq")
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text,
	"sweep_id" uuid,
	"spec" jsonb NOT NULL,
	"state" text DEFAULT 'queued' NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"attempt" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer DEFAULT 3 NOT NULL,
	"lease_token" uuid,
	"worker_id" text,
	"lease_expires_at" timestamp with time zone,
	"run_after" timestamp with time zone DEFAULT now() NOT NULL,
	"cancel_requested_at" timestamp with time zone,
	"checkpoint_path" text,
	"checkpoint_epoch" integer,
	"error" jsonb,
	"idempotency_key" text,
	"request_hash" text,
	"last_seq" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"alpha" double precision GENERATED ALWAYS AS (((spec #>> '{optimizer,alpha}')::double precision)) STORED,
	"lambda" double precision GENERATED ALWAYS AS (((spec #>> '{optimizer,lambda}')::double precision)) STORED,
	"l2" double precision GENERATED ALWAYS AS (((spec #>> '{optimizer,l2}')::double precision)) STORED,
	"shift" double precision GENERATED ALWAYS AS (((spec #>> '{data,shift}')::double precision)) STORED,
	"threshold" double precision GENERATED ALWAYS AS (((spec #>> '{threshold}')::double precision)) STORED,
	"batch_size" integer GENERATED ALWAYS AS (((spec ->> 'batchSize')::integer)) STORED,
	"depth" integer GENERATED ALWAYS AS (((spec #>> '{model,depth}')::integer)) STORED,
	"schedule" text GENERATED ALWAYS AS ((spec ->> 'schedule')) STORED,
	"epochs" integer NOT NULL,
	CONSTRAINT "runs_state_check" CHECK ("runs"."state" in ('queued','running','succeeded','failed','cancelled')),
	CONSTRAINT "runs_epochs_check" CHECK ("runs"."epochs" between 1 and 1000),
	CONSTRAINT "runs_attempt_check" CHECK ("runs"."attempt" >= 0 and "runs"."max_attempts" >= 1),
	CONSTRAINT "runs_lease_check" CHECK ("runs"."state" <> 'running' or ("runs"."lease_token" is not null and "runs"."worker_id" is not null and "runs"."lease_expires_at" is not null))
);
--> statement-breakpoint
CREATE TABLE "sweeps" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text,
	"base_spec" jsonb NOT NULL,
	"grid" jsonb NOT NULL,
	"repeat" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "workers" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"pid" integer NOT NULL,
	"backend" text NOT NULL,
	"device" text NOT NULL,
	"version" text NOT NULL,
	"state" text DEFAULT 'idle' NOT NULL,
	"current_run_id" uuid,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "epoch_metrics" ADD CONSTRAINT "epoch_metrics_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "run_attempts" ADD CONSTRAINT "run_attempts_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "run_events" ADD CONSTRAINT "run_events_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_sweep_id_sweeps_id_fk" FOREIGN KEY ("sweep_id") REFERENCES "public"."sweeps"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_tokens_hash_idx" ON "api_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "runs_claimable_idx" ON "runs" USING btree ("priority" DESC NULLS LAST,"created_at","id") WHERE "runs"."state" = 'queued';--> statement-breakpoint
CREATE INDEX "runs_lease_idx" ON "runs" USING btree ("lease_expires_at") WHERE "runs"."state" = 'running';--> statement-breakpoint
CREATE INDEX "runs_created_idx" ON "runs" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "runs_sweep_idx" ON "runs" USING btree ("sweep_id");--> statement-breakpoint
CREATE INDEX "runs_tags_idx" ON "runs" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "runs_params_idx" ON "runs" USING btree ("alpha","lambda","l2","shift");--> statement-breakpoint
CREATE INDEX "runs_schedule_idx" ON "runs" USING btree ("schedule");--> statement-breakpoint
CREATE UNIQUE INDEX "runs_idempotency_key_idx" ON "runs" USING btree ("idempotency_key");