/** Sweeps: the sweep row and all its runs in one transaction, so a sweep is never half created. */
import { eq, sql } from "drizzle-orm";
import type { SweepRequest, SweepView } from "../../shared/api-schemas.ts";
import { runs, sweeps } from "../../shared/db/schema.ts";
import { RUN_STATES } from "../../shared/run-states.ts";
import type { RunSpec } from "../../shared/run-spec.ts";
import { type Db, runsOfSweep, runValues } from "./runs-repo.ts";

/**
 * Inserts the sweep and its runs. Each run's created_at is the transaction's time plus its index in
 * microseconds, so listings by time keep the sweep's order (now() is the same for the whole
 * transaction, and ids are random).
 */
export async function createSweep(db: Db, request: SweepRequest, specs: readonly RunSpec[]): Promise<string> {
  return await db.transaction(async (tx) => {
    const [sweep] = await tx.insert(sweeps).values({
      name: request.name ?? null,
      baseSpec: request.base,
      grid: request.grid,
      repeat: request.repeat,
    }).returning({ id: sweeps.id });
    const id = sweep!.id;
    // Chunks keep each INSERT well under Postgres's 65535 bind parameters.
    for (let start = 0; start < specs.length; start += 250) {
      await tx.insert(runs).values(
        specs.slice(start, start + 250).map((spec, i) => ({
          ...runValues(spec),
          sweepId: id,
          createdAt: sql`now() + make_interval(secs => ${(start + i) / 1e6})`,
        })),
      );
    }
    return id;
  });
}

export async function getSweep(db: Db, id: string): Promise<SweepView | null> {
  const [sweep] = await db.select().from(sweeps).where(eq(sweeps.id, id));
  if (sweep === undefined) return null;
  const sweepRuns = await runsOfSweep(db, id);
  const counts = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<
    (typeof RUN_STATES)[number],
    number
  >;
  for (const r of sweepRuns) counts[r.state]++;
  return {
    id: sweep.id,
    name: sweep.name,
    baseSpec: sweep.baseSpec,
    grid: sweep.grid as Record<string, unknown[]>,
    repeat: sweep.repeat,
    createdAt: sweep.createdAt.toISOString(),
    counts,
    runs: sweepRuns,
  };
}
