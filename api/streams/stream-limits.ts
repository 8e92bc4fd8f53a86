/**
 * The knobs of the live streams, with defaults sized for a loopback or LAN dashboard. Everything that
 * bounds server memory is here, so the bound can be read off: per subscriber at most
 * `maxBufferedBytes` in the socket's send queue plus `maxPendingEvents` messages held during replay.
 */
export interface StreamLimits {
  /** A subscriber whose socket has more unsent bytes than this is closed with 1013 (try again later). */
  maxBufferedBytes: number;
  /** Above this many unsent bytes a subscriber gets no new progress message; only the latest is kept. */
  progressBufferedBytes: number;
  /** Live events held for a subscriber while its replay runs; more means it cannot keep up: 1013. */
  maxPendingEvents: number;
  /** Rows read per replay query. */
  replayPageSize: number;
  /** A replay waits for a slow reader to drain at most this long before giving up with 1013. */
  replayStallMs: number;
  /** Seconds between pings; a peer that does not answer one within this time is closed (Deno's idleTimeout). */
  pingIntervalS: number;
  /** SSE has no ping: a comment line this often makes a dead peer show up as a failed write. */
  sseHeartbeatMs: number;
  /** Concurrent subscribers per API instance; more are refused with 503 before the upgrade. */
  maxSubscribers: number;
  /** How often a coalesced progress message is retried for a congested subscriber. */
  progressRetryMs: number;
  /** How often open streams' tokens are looked up again; a revoked or expired one closes its streams. */
  tokenRecheckMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxBufferedBytes: 1024 * 1024,
  progressBufferedBytes: 64 * 1024,
  maxPendingEvents: 10_000,
  replayPageSize: 500,
  replayStallMs: 30_000,
  pingIntervalS: 30,
  sseHeartbeatMs: 15_000,
  maxSubscribers: 10_000,
  progressRetryMs: 100,
  tokenRecheckMs: 2000,
};

/** Defaults with some knobs changed (tests shrink them). */
export function streamLimits(overrides: Partial<StreamLimits> = {}): StreamLimits {
  const limits = { ...DEFAULT_STREAM_LIMITS, ...overrides };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`stream limit ${key} must be a finite number ≥ 0, found ${value}`);
    }
  }
  return limits;
}
