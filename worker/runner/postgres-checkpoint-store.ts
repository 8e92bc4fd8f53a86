import type postgres from "postgres";
import { LeaseLostError } from "../../shared/queue/lease-lost-error.ts";
import type { CheckpointStore } from "./checkpoint-store.ts";

const PREFIX = "postgres:";
/** 1 MiB: small enough that no value nears bytea's limits or a big allocation on either side. */
const CHUNK_BYTES = 1 << 20;
/** Chunks per INSERT: fewer round trips without one giant statement. */
const CHUNKS_PER_INSERT = 8;

export function isPostgresRef(ref: string): boolean {
  return ref.startsWith(PREFIX);
}

/**
 * Checkpoints as rows: `checkpoints` (one per checkpoint) and `checkpoint_chunks` (its bytes, 1 MiB
 * each), referenced as `postgres:<id>`. Any worker that reaches the database resumes any run: nothing
 * else has to be shared between hosts.
 *
 * Why the locking is safe: a checkpoint is written in its own transaction, committed before the fenced
 * statement that points the run at it (so the pointer never names rows that are not there, and a crash
 * in between leaves unreferenced rows that the next collection deletes). The insert is fenced like every
 * worker write: it copies the run id out of the running row this claim owns, so a stale worker writes
 * nothing. The foreign key takes only a KEY SHARE lock on the run row, which does not conflict with the
 * fenced UPDATEs (heartbeats, the reaper): a worker frozen mid-transaction blocks nobody's queue writes.
 */
export function postgresCheckpointStore(sql: postgres.Sql): CheckpointStore {
  return {
    kind: "postgres",
    async write(lease, at, sealed) {
      const chunks = Math.max(1, Math.ceil(sealed.length / CHUNK_BYTES));
      const id = await sql.begin(async (tx) => {
        const rows = await tx<{ id: string }[]>`
          insert into checkpoints (run_id, attempt, epoch, batches, size, chunks)
          select id, attempt, ${at.epochsDone}, ${at.batches}, ${sealed.length}, ${chunks} from runs
          where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
            and state = 'running'
          returning id`;
        const id = rows[0]?.id;
        if (id === undefined) throw new LeaseLostError(lease, "storing a checkpoint");
        for (let first = 0; first < chunks; first += CHUNKS_PER_INSERT) {
          const batch = [];
          for (let n = first; n < Math.min(chunks, first + CHUNKS_PER_INSERT); n++) {
            const part = sealed.subarray(n * CHUNK_BYTES, Math.min(sealed.length, (n + 1) * CHUNK_BYTES));
            batch.push({ checkpoint_id: id, n, data: Buffer.from(part.buffer, part.byteOffset, part.byteLength) });
          }
          await tx`insert into checkpoint_chunks ${tx(batch, "checkpoint_id", "n", "data")}`;
        }
        return id;
      });
      return `${PREFIX}${id}`;
    },
    async read(ref) {
      const id = ref.slice(PREFIX.length);
      if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
      const [head] = await sql<{ size: string; chunks: number }[]>`select size, chunks from checkpoints where id = ${id}`;
      if (head === undefined) return null;
      const out = new Uint8Array(Number(head.size));
      let at = 0;
      // One chunk per row, in order; a missing or resized chunk shows up as a size or checksum mismatch.
      const parts = await sql<{ n: number; data: Buffer }[]>`select n, data from checkpoint_chunks where checkpoint_id = ${id} order by n`;
      for (const p of parts) {
        if (at + p.data.length > out.length) return out.subarray(0, 0);
        out.set(p.data, at);
        at += p.data.length;
      }
      return at === out.length ? out : out.subarray(0, at);
    },
    async collect(runId, upToAttempt, keep) {
      const ids = keep.filter((r): r is string => r !== null && isPostgresRef(r)).map((r) => r.slice(PREFIX.length));
      // This run's only: other runs' rows, of runs that ended, go in the reaper's periodic sweep
      // (collect-ended-checkpoints.ts), not in a second statement on every save.
      await sql`
        delete from checkpoints where run_id = ${runId} and attempt <= ${upToAttempt} and id <> all(${ids}::uuid[])`;
    },
  };
}
