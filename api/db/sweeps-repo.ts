/** Sweeps: the sweep row and all its runs in one transaction, so a sweep is never half created. */
import { eq } from "drizzle-orm";
import type postgres from "postgres";
import type { SweepRequest, SweepView } from "../../shared/api-schemas.ts";
import { sweeps } from "../../shared/db/schema.ts";
import { insertRuns } from "../../shared/queue/enqueue-run.ts";
import { RUN_STATES } from "../../shared/run-states.ts";
import type { RunSpec } from "../../shared/run-spec.ts";
import { type Db, runsOfSweep } from "./runs-repo.ts";

/** Inserts the sweep and its runs (in the given order, by the one insert of runs) in one transaction. */
export async function createSweep(db: Db, request: SweepRequest, specs: readonly RunSpec[]): Promise<string> {
  return await db.$client.begin(async (tx) => {
    const [sweep] = await tx<{ id: string }[]>`
      insert into sweeps (name, base_spec, grid, repeat)
      values (${request.name ?? null}, ${JSON.stringify(request.base)}::text::jsonb, ${JSON.stringify(request.grid)}::text::jsonb, ${request.repeat})
      returning id`;
    await insertRuns(tx as unknown as postgres.Sql, specs.map((spec) => ({ spec, sweepId: sweep!.id })));
    return sweep!.id;
  }) as string;
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
