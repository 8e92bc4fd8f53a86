import type postgres from "postgres";

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  /** The tf backend in use ("tensorflow", "webgpu", "wasm", "cpu", or "fake" for the test double). */
  backend: string;
  device: string;
  version: string;
}

/**
 * Registers (or re-registers, after a restart with the same id) a worker as `idle`.
 *
 * Why the locking is safe: an upsert on the primary key; only this worker writes its own row, apart
 * from the reaper marking it `gone`, which a re-registration rightly overrides.
 *
 * @example
 * await registerWorker(sql, { id, host: hostname(), pid: process.pid, backend: "wasm", device: "cpu", version });
 */
export async function registerWorker(sql: postgres.Sql, w: WorkerInfo): Promise<void> {
  await sql`
    insert into workers (id, host, pid, backend, device, version, state, current_run_id, started_at, last_seen_at)
    values (${w.id}, ${w.host}, ${w.pid}, ${w.backend}, ${w.device}, ${w.version}, 'idle', null, now(), now())
    on conflict (id) do update set host = excluded.host, pid = excluded.pid, backend = excluded.backend,
      device = excluded.device, version = excluded.version, state = 'idle', current_run_id = null,
      started_at = now(), last_seen_at = now()`;
}
