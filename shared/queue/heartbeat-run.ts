import type postgres from "postgres";
import { LeaseLostError } from "./lease-lost-error.ts";
import type { Lease } from "./queue-types.ts";

export interface HeartbeatAnswer {
  /** The new expiry, on the database clock. */
  leaseExpiresAt: Date;
  /** Someone asked to cancel the run: stop at the next batch boundary. */
  cancelRequested: boolean;
}

/**
 * Renews the lease for another `leaseS` seconds and says whether cancel was requested (the fallback
 * for a cancel NOTIFY lost while the LISTEN connection was down). Throws {@link LeaseLostError} when
 * the run is no longer this claim's.
 *
 * Why the locking is safe: a single fenced UPDATE (id + attempt + token + state running) takes the
 * row lock for the statement only. It does not check the expiry: a lease that ran out but was not reaped
 * yet still belongs to this claim (nobody else can hold it while state and token are unchanged), and
 * renewing it is correct. If the reaper wins the row first, the token no longer matches: zero rows.
 *
 * @example
 * const { cancelRequested } = await heartbeatRun(sql, lease, 30);
 */
export async function heartbeatRun(sql: postgres.Sql, lease: Lease, leaseS: number): Promise<HeartbeatAnswer> {
  const rows = await sql<HeartbeatAnswer[]>`
    with renewed as (
      update runs set lease_expires_at = now() + make_interval(secs => ${leaseS}::double precision)
      where id = ${lease.runId} and attempt = ${lease.attempt} and lease_token = ${lease.leaseToken}
        and state = 'running'
      returning lease_expires_at, cancel_requested_at
    ), seen as (
      update workers set last_seen_at = now() where id = ${lease.workerId} and exists (select 1 from renewed)
    )
    select lease_expires_at as "leaseExpiresAt", cancel_requested_at is not null as "cancelRequested" from renewed`;
  const row = rows[0];
  if (row === undefined) throw new LeaseLostError(lease, "heartbeat");
  return row;
}
