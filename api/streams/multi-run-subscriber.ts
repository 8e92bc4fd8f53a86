/**
 * A dashboard watching many runs (every run, or one sweep's): live only, from the moment it connects.
 * Per run, events still arrive once and in seq order (the hub's promise); there is no replay, because a
 * position in many runs is many seqs. A dashboard loads history over REST (`GET /v1/runs/:id/metrics`)
 * or opens a per-run stream with ?after= for the runs it shows.
 *
 * Backpressure as for one run: past `maxBufferedBytes` unsent the subscriber is closed with 1013;
 * progress is coalesced to the newest per run while the socket is congested.
 */
import type { StreamErrorCode } from "../../shared/stream-messages.ts";
import type { OutgoingEvent } from "./read-run-events.ts";
import type { MultiRunListener, OutgoingProgress, StreamHub } from "./stream-hub.ts";
import type { StreamLimits } from "./stream-limits.ts";
import { CLOSE, type StreamTransport } from "./stream-transport.ts";

export interface MultiRunSubscriberOptions {
  /** One sweep's runs, or null for every run. */
  sweepId: string | null;
  hub: StreamHub;
  transport: StreamTransport;
  limits: StreamLimits;
  onClose?: () => void;
}

export class MultiRunSubscriber implements MultiRunListener {
  readonly sweepId: string | null;
  #closed = false;
  #unsubscribe: (() => void) | null = null;
  /** Newest unsent progress per run (bounded by the runs that are sending progress right now). */
  readonly #progress = new Map<string, OutgoingProgress>();
  #progressTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #o: MultiRunSubscriberOptions;

  constructor(opts: MultiRunSubscriberOptions) {
    this.#o = opts;
    this.sweepId = opts.sweepId;
  }

  start(): void {
    if (this.#closed) return;
    this.#unsubscribe = this.#o.hub.subscribeMany(this);
  }

  dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#progressTimer !== null) clearTimeout(this.#progressTimer);
    this.#progress.clear();
    this.#unsubscribe?.();
    this.#o.onClose?.();
  }

  onEvent(event: OutgoingEvent): void {
    if (this.#closed) return;
    const { transport, limits } = this.#o;
    if (transport.bufferedAmount() + event.text.length > limits.maxBufferedBytes) {
      this.#fail("slow_consumer", `more than ${limits.maxBufferedBytes} bytes unsent`, CLOSE.tryAgainLater);
      return;
    }
    transport.send(event.text, event.seq);
    const p = this.#progress.get(event.runId);
    if (p !== undefined && p.seq < event.seq) this.#progress.delete(event.runId);
  }

  onProgress(progress: OutgoingProgress): void {
    if (this.#closed) return;
    this.#progress.set(progress.runId, progress);
    this.#flushProgress();
  }

  onShutdown(): void {
    this.#fail("shutting_down", "the server is shutting down; reconnect", CLOSE.goingAway);
  }

  #flushProgress(): void {
    if (this.#closed || this.#progressTimer !== null) return;
    const { transport, limits } = this.#o;
    for (const [runId, p] of this.#progress) {
      if (transport.bufferedAmount() > limits.progressBufferedBytes) {
        this.#progressTimer = setTimeout(() => {
          this.#progressTimer = null;
          this.#flushProgress();
        }, limits.progressRetryMs);
        return;
      }
      this.#progress.delete(runId);
      transport.send(p.text, null);
    }
  }

  #fail(code: StreamErrorCode, message: string, closeCode: number): void {
    if (this.#closed) return;
    const { transport } = this.#o;
    this.dispose();
    transport.send(JSON.stringify({ type: "error", runId: null, seq: 0, code, message }), null);
    transport.close(closeCode, message);
  }
}
