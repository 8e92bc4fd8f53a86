/**
 * One client watching one run: replay-then-live with no gap and no duplicate at the seam.
 *
 * Order of operations (the reason it is gap-free): (1) join the hub's channel for the run, so every
 * event handed out from now on reaches this subscriber, which holds them while (2) it replays every
 * stored event with seq > after from the table, page by page; the table has every event that was
 * handed out before (1), because events are committed before anyone is told; then (3) it sends the held
 * events, skipping every seq ≤ the last one sent, and goes live. Live, an event whose seq is not
 * last + 1 sends it back to (2) from the last seq sent, so even a hub bug costs latency, not events.
 *
 * Backpressure: durable events are never dropped: a subscriber whose unsent bytes pass
 * `maxBufferedBytes` is closed with 1013 (it resumes with ?after=). Progress is coalesced: while the
 * socket is congested, only the newest progress is kept and sent when it drains.
 */
import { isTerminalState } from "../../shared/run-states.ts";
import type { Logger } from "../../shared/logger.ts";
import type { OutgoingEvent, ReadRunEvents, ReadRunInfo } from "./read-run-events.ts";
import type { HubListener, OutgoingProgress, StreamHub } from "./stream-hub.ts";
import type { StreamLimits } from "./stream-limits.ts";
import { CLOSE, type StreamTransport } from "./stream-transport.ts";
import type { StreamErrorCode } from "../../shared/stream-messages.ts";

export interface RunSubscriberOptions {
  runId: string;
  /** Send events with seq > after. */
  after: number;
  hub: StreamHub;
  transport: StreamTransport;
  limits: StreamLimits;
  readEvents: ReadRunEvents;
  readInfo: ReadRunInfo;
  log?: Logger;
  /** Called once when the subscriber is done (for counting). */
  onClose?: () => void;
}

type Phase = "starting" | "replaying" | "live" | "closed";

/** Empty re-reads (50 ms apart) before a seq missing from the table is given up on. */
const MAX_FRUITLESS_READS = 40;

export class RunSubscriber implements HubListener {
  readonly runId: string;
  #lastSent: number;
  #phase: Phase = "starting";
  #held: OutgoingEvent[] = [];
  #progress: OutgoingProgress | null = null;
  #progressTimer: ReturnType<typeof setTimeout> | null = null;
  #unsubscribe: (() => void) | null = null;
  readonly #o: RunSubscriberOptions;

  constructor(opts: RunSubscriberOptions) {
    this.#o = opts;
    this.runId = opts.runId;
    this.#lastSent = opts.after;
  }

  /** The highest durable seq sent so far. */
  get lastSent(): number {
    return this.#lastSent;
  }

  get phase(): Phase {
    return this.#phase;
  }

  /** Joins the hub, replays, goes live. Resolves when live (or closed). */
  async start(): Promise<void> {
    try {
      const { unsubscribe } = await this.#o.hub.subscribeRun(this.runId, this);
      if (this.#phase === "closed") {
        unsubscribe();
        return;
      }
      this.#unsubscribe = unsubscribe;
      await this.#catchUp();
    } catch (e) {
      this.#o.log?.("warn", "stream replay failed", { runId: this.runId, error: (e as Error).message });
      this.#fail("replay_failed", "could not read the run's events; reconnect to resume", CLOSE.internal);
    }
  }

  /** The transport closed (client went away): stop everything. */
  dispose(): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    if (this.#progressTimer !== null) clearTimeout(this.#progressTimer);
    this.#progressTimer = null;
    this.#held = [];
    this.#progress = null;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#o.onClose?.();
  }

  onEvent(event: OutgoingEvent): void {
    if (this.#phase === "closed" || event.seq <= this.#lastSent) return;
    if (this.#phase !== "live") {
      if (this.#held.length >= this.#o.limits.maxPendingEvents) {
        this.#fail(
          "slow_consumer",
          `more than ${this.#o.limits.maxPendingEvents} events arrived during the replay`,
        );
        return;
      }
      this.#held.push(event);
      return;
    }
    if (event.seq !== this.#lastSent + 1) {
      // Cannot happen while the hub keeps its promise; recover from the table rather than skip.
      this.#held.push(event);
      void this.#catchUp();
      return;
    }
    this.#send(event);
  }

  onProgress(progress: OutgoingProgress): void {
    if (this.#phase === "closed" || progress.seq < this.#lastSent) return;
    this.#progress = progress;
    this.#flushProgress();
  }

  onShutdown(): void {
    this.#fail("shutting_down", "the server is shutting down; reconnect to resume", CLOSE.goingAway);
  }

  async #catchUp(): Promise<void> {
    this.#phase = "replaying";
    const { readEvents, readInfo, limits, transport } = this.#o;
    let fruitless = 0;
    for (;;) {
      const page = await readEvents(this.runId, this.#lastSent, limits.replayPageSize);
      if (this.#isClosed()) return;
      for (const event of page) {
        if (!this.#send(event)) return;
      }
      if (page.length < limits.replayPageSize) {
        // Held events continue where the table left off; one further ahead means rows committed after
        // the page was read: read again.
        this.#held = this.#held.filter((e) => e.seq > this.#lastSent).sort((a, b) => a.seq - b.seq);
        while (this.#held[0]?.seq === this.#lastSent + 1) {
          if (!this.#send(this.#held.shift()!)) return;
        }
        if (this.#held.length === 0) break;
        if (page.length === 0 && ++fruitless > MAX_FRUITLESS_READS) {
          // The table never showed the missing seqs (a row deleted by hand?): do not stall the stream.
          this.#o.log?.("warn", "stream gap not in run_events; skipping it", {
            runId: this.runId,
            after: this.#lastSent,
          });
          for (const e of this.#held.splice(0)) if (!this.#send(e)) return;
          break;
        }
        await new Promise((r) => setTimeout(r, page.length === 0 ? 50 : 0));
        continue;
      }
      if (!(await this.#drain(transport))) return;
    }
    this.#phase = "live";
    // A run that ended without a terminal event after our position (the client had it all already).
    const info = await readInfo(this.runId);
    if (this.#isClosed()) return;
    if (info !== null && isTerminalState(info.state) && this.#lastSent >= info.lastSeq) {
      this.#end();
      return;
    }
    this.#flushProgress();
  }

  /** Waits until a replay page has left the socket; false if the reader stalls (then closed) or left. */
  async #drain(transport: StreamTransport): Promise<boolean> {
    const deadline = Date.now() + this.#o.limits.replayStallMs;
    while (transport.bufferedAmount() > this.#o.limits.progressBufferedBytes) {
      if (this.#phase === "closed") return false;
      if (Date.now() > deadline) {
        this.#fail("slow_consumer", `the replay stalled for ${this.#o.limits.replayStallMs} ms`);
        return false;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.#phase !== "closed";
  }

  /** Sends one durable event; false when the subscriber was closed instead. */
  #send(event: OutgoingEvent): boolean {
    if (event.seq <= this.#lastSent) return true;
    const { transport, limits } = this.#o;
    if (transport.bufferedAmount() + event.text.length > limits.maxBufferedBytes) {
      this.#fail(
        "slow_consumer",
        `more than ${limits.maxBufferedBytes} bytes unsent: reconnect with ?after=${this.#lastSent}`,
      );
      return false;
    }
    transport.send(event.text, event.seq);
    this.#lastSent = event.seq;
    if (event.terminal) {
      this.#end();
      return false;
    }
    if (this.#progress !== null) {
      if (this.#progress.seq < this.#lastSent) this.#progress = null;
      else this.#flushProgress();
    }
    return true;
  }

  #flushProgress(): void {
    const p = this.#progress;
    if (p === null || this.#phase !== "live" || this.#progressTimer !== null) return;
    if (p.seq > this.#lastSent) return; // sent after the event it follows
    if (this.#o.transport.bufferedAmount() > this.#o.limits.progressBufferedBytes) {
      this.#progressTimer = setTimeout(() => {
        this.#progressTimer = null;
        this.#flushProgress();
      }, this.#o.limits.progressRetryMs);
      return;
    }
    this.#progress = null;
    this.#o.transport.send(p.text, null);
  }

  /** Not narrowed by TypeScript: the phase changes while we await. */
  #isClosed(): boolean {
    return this.#phase === "closed";
  }

  /** The run is over and the client has all of it. */
  #end(): void {
    const { transport } = this.#o;
    this.dispose();
    transport.close(CLOSE.normal, "run finished");
  }

  #fail(code: StreamErrorCode, message: string, closeCode: number = CLOSE.tryAgainLater): void {
    if (this.#phase === "closed") return;
    const { transport } = this.#o;
    const seq = this.#lastSent;
    this.dispose();
    transport.send(JSON.stringify({ type: "error", runId: this.runId, seq, code, message }), null);
    transport.close(closeCode, message);
  }
}
