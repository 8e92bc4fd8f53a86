DROP INDEX "runs_schedule_idx";--> statement-breakpoint
CREATE INDEX "runs_schedule_idx" ON "runs" USING hash ("schedule");--> statement-breakpoint
-- ADMIN_TOKEN rows listed the token's first characters in plain text: name them by their hash instead.
UPDATE "api_tokens" SET "prefix" = 'sha256:' || left("token_hash", 8) WHERE "name" = 'ADMIN_TOKEN';
