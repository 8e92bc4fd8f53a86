/**
 * Open streams end when their token stops being valid. A WebSocket or SSE stream is authorised once,
 * at the upgrade; without this, revoking a token (or its expiry) ended its REST access at once but
 * left its open streams delivering. Every `intervalMs` the distinct tokens of this instance's open
 * streams are looked up again (the same rule as at the upgrade: not revoked, not expired), and the
 * streams of any that fails are closed. A periodic re-check rather than NOTIFY: it also catches
 * expiry, which no statement announces, and revocations made straight in the database
 * (`npm run token -- revoke`), on every API instance alike; the cost is one statement per interval
 * for all the distinct tokens, and only while streams are open. Tokens are watched by their SHA-256
 * (the key is opaque here): the plaintext is not kept for the stream's life.
 */
export interface TokenWatchOptions {
  /** Which of these token keys (hashes) are still valid. */
  stillValid: (tokens: string[]) => Promise<Set<string>>;
  intervalMs: number;
  onError?: (e: unknown) => void;
}

export class TokenWatch {
  readonly #streams = new Map<string, Set<() => void>>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #checking = false;

  constructor(private readonly opts: TokenWatchOptions) {}

  /** Calls `close` once `token` is revoked or expired; returns the function that stops watching. */
  add(token: string, close: () => void): () => void {
    let set = this.#streams.get(token);
    if (set === undefined) this.#streams.set(token, set = new Set());
    set.add(close);
    // The timer runs only while something is watched, so an idle API (and a test) has none.
    this.#timer ??= setInterval(() => void this.check(), this.opts.intervalMs);
    return () => this.#remove(token, close);
  }

  /** Looks every watched token up once now and closes the streams of those no longer valid. */
  async check(): Promise<void> {
    if (this.#checking || this.#streams.size === 0) return;
    this.#checking = true;
    try {
      const tokens = [...this.#streams.keys()];
      const valid = await this.opts.stillValid(tokens);
      for (const token of tokens) {
        if (valid.has(token)) continue;
        for (const close of [...(this.#streams.get(token) ?? [])]) {
          this.#remove(token, close);
          close();
        }
      }
    } catch (e) {
      this.opts.onError?.(e); // the database is away: try again next time, close nothing on a guess
    } finally {
      this.#checking = false;
    }
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#streams.clear();
  }

  #remove(token: string, close: () => void): void {
    const set = this.#streams.get(token);
    set?.delete(close);
    if (set?.size === 0) this.#streams.delete(token);
    if (this.#streams.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}
