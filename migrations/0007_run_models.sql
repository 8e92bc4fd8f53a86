CREATE TABLE "run_models" (
	"run_id" uuid NOT NULL,
	"weights_kind" text NOT NULL,
	"epoch" integer NOT NULL,
	"val_acc" double precision NOT NULL,
	"val_loss" double precision NOT NULL,
	"test_acc" double precision,
	"test_loss" double precision,
	"model" jsonb NOT NULL,
	"weights" "bytea" NOT NULL,
	"attempt" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "run_models_run_id_weights_kind_pk" PRIMARY KEY("run_id","weights_kind"),
	CONSTRAINT "run_models_weights_kind_check" CHECK ("run_models"."weights_kind" in ('best','final'))
);
--> statement-breakpoint
ALTER TABLE "run_models" ADD CONSTRAINT "run_models_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;