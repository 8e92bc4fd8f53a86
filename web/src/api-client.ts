import type { RunListQuery, SweepRequest } from "../../shared/api-schemas.ts";
import type { Issue } from "../../shared/issue.ts";
import type { EpochMetric, Run, RunFilter, Sweep } from "./api-types.ts";


/** An error answer of the API (`{ error: { code, message, issues? } }`) or a network failure (status 0). */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: Issue[] = [],
  ) {
    super(message);
  }
}

/**
 * The REST API as the dashboard uses it, typed by the API's own schemas (shared/api-schemas.ts). The
 * API validates what it sends, so responses are not parsed again here: a page of 1000 runs would
 * re-run every spec's schedule parser for nothing.
 */
export class ApiClient {
  constructor(readonly baseUrl: string, readonly token: () => string) {}

  /** Every run matching the filter, newest first, following the cursor (at most 10,000). */
  async listRuns(filter: RunFilter = {}, pageSize = 1000): Promise<Run[]> {
    const runs: Run[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ limit: String(pageSize) });
      const set = (k: keyof RunListQuery, v: string | undefined) => v && q.set(k, v);
      set("state", filter.state);
      set("sweep", filter.sweep);
      set("tag", filter.tag);
      set("namePrefix", filter.namePrefix);
      if (cursor) q.set("cursor", cursor);
      const page = await this.#request<{ runs: Run[]; nextCursor: string | null }>("GET", `/v1/runs?${q}`);
      runs.push(...page.runs);
      cursor = page.nextCursor;
    } while (cursor && runs.length < 10_000);
    return runs;
  }

  getRun(id: string): Promise<Run> {
    return this.#request<Run>("GET", `/v1/runs/${encodeURIComponent(id)}`);
  }

  async getMetrics(id: string): Promise<EpochMetric[]> {
    const body = await this.#request<{ runId: string; epochs: EpochMetric[] }>("GET", `/v1/runs/${encodeURIComponent(id)}/metrics`);
    return [...body.epochs].sort((a, b) => a.epoch - b.epoch);
  }

  /**
   * Many runs' epochs in a few requests: `POST /v1/sql` over `epoch_metrics_view` (the API's documented
   * read-only SQL), in chunks that stay under its 10,000-row cap. One request per run would cost a
   * 100-run sweep 100 round trips. Where the SQL endpoint is unavailable (503) or the result is cut
   * off, the runs it did not cover are fetched one by one.
   */
  async getMetricsMany(ids: readonly string[], epochsPerRun: number, sweepId?: string): Promise<Map<string, EpochMetric[]>> {
    const out = new Map<string, EpochMetric[]>(ids.map((id) => [id, []]));
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
    const perChunk = Math.max(1, Math.floor(9_000 / Math.max(1, epochsPerRun)));
    const missing = new Set(ids);
    const chunks: string[][] = [];
    const valid = ids.filter((id) => uuid.test(id));
    for (let i = 0; i < valid.length; i += perChunk) chunks.push(valid.slice(i, i + perChunk));
    // A whole sweep is one query by sweep id (it can start before the sweep's run ids are known).
    if (sweepId !== undefined && uuid.test(sweepId)) chunks.splice(0, chunks.length, []);
    try {
      await Promise.all(chunks.map(async (chunk) => {
        const where = chunk.length === 0 ? `sweep_id = '${sweepId}'` : `run_id in (${chunk.map((id) => `'${id}'`).join(",")})`;
        const sql = "select run_id, epoch, loss, acc, val_loss, val_acc, lr, wd, seconds, images_per_sec, attempt " +
          `from epoch_metrics_view where ${where} order by run_id, epoch`;
        const res = await this.#request<{ rows: unknown[][]; truncated: boolean }>("POST", "/v1/sql", { sql });
        if (res.truncated) return;
        for (const r of res.rows) {
          const [runId, epoch, loss, acc, valLoss, valAcc, lr, wd, seconds, imagesPerSec, attempt] = r as [string, ...number[]];
          if (!out.has(runId)) out.set(runId, []);
          out.get(runId)!.push({ epoch: epoch!, loss: loss!, acc: acc!, valLoss: valLoss!, valAcc: valAcc!, lr: lr!, wd: wd!, seconds: seconds!, imagesPerSec: imagesPerSec!, attempt: attempt! });
        }
        for (const id of chunk.length === 0 ? ids : chunk) missing.delete(id);
      }));
    } catch (e) {
      if (!(e instanceof ApiError) || e.status === 401) throw e;
    }
    const rest = [...missing];
    const worker = async () => {
      for (let id = rest.pop(); id !== undefined; id = rest.pop()) out.set(id, await this.getMetrics(id));
    };
    await Promise.all(Array.from({ length: Math.min(6, rest.length) }, worker));
    return out;
  }

  cancelRun(id: string): Promise<Run> {
    return this.#request<Run>("POST", `/v1/runs/${encodeURIComponent(id)}/cancel`);
  }

  retryRun(id: string): Promise<Run> {
    return this.#request<Run>("POST", `/v1/runs/${encodeURIComponent(id)}/retry`);
  }

  createRun(spec: unknown, idempotencyKey?: string): Promise<Run> {
    return this.#request<Run>("POST", "/v1/runs", spec, idempotencyKey);
  }

  createSweep(body: Partial<SweepRequest>, idempotencyKey?: string): Promise<Sweep> {
    return this.#request<Sweep>("POST", "/v1/sweeps", body, idempotencyKey);
  }

  getSweep(id: string): Promise<Sweep> {
    return this.#request<Sweep>("GET", `/v1/sweeps/${encodeURIComponent(id)}`);
  }

  /** The WebSocket URL for a path under this API (ws: or wss: to match the page). */
  wsUrl(path: string): string {
    const url = new URL(path, this.baseUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.toString();
  }

  async #request<T>(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (e) {
      throw new ApiError(0, "network", `Cannot reach the API: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: unknown; message?: unknown; issues?: unknown } } | null)?.error ?? {};
      const issues = Array.isArray(err.issues)
        ? err.issues.map((i: { path?: unknown; message?: unknown }) => ({
          path: Array.isArray(i.path) ? i.path.join(".") : String(i.path ?? ""),
          message: String(i.message ?? ""),
        }))
        : [];
      throw new ApiError(
        res.status,
        typeof err.code === "string" ? err.code : `http_${res.status}`,
        typeof err.message === "string" ? err.message : `${res.status} ${res.statusText}`,
        issues,
      );
    }
    return json as T;
  }
}
