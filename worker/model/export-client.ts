/**
 * Fetches a run's exported model from the API (`GET /v1/runs/:id/model/model.json` and its shards),
 * for `npm run export`. Errors carry the API's own message (409 for a run that has not succeeded).
 *
 * @example
 * const { json, data } = await fetchRunModel({ apiUrl, token }, runId, "best");
 * await writeModelFiles("out/", json, data);
 */
import { type ModelJson, modelJsonSchema, type ModelWeights } from "../../shared/model-artifact.ts";

export interface ApiAccess {
  /** The API's base URL, e.g. http://127.0.0.1:8000. */
  apiUrl: string;
  /** A bearer token with the `read` scope. */
  token: string;
}

/** The URL of a run's model.json (what tf.loadLayersModel takes). */
export function runModelUrl(apiUrl: string, runId: string, weights: ModelWeights): string {
  return new URL(`/v1/runs/${encodeURIComponent(runId)}/model/model.json?weights=${weights}`, apiUrl).href;
}

export async function fetchRunModel(api: ApiAccess, runId: string, weights: ModelWeights): Promise<{ json: ModelJson; data: Uint8Array }> {
  const headers = { Authorization: `Bearer ${api.token}` };
  const url = runModelUrl(api.apiUrl, runId, weights);
  const raw: unknown = await (await ok(await fetch(url, { headers }), url)).json();
  const parsed = modelJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${url} is not an exported model: ${issue.path.join(".") || "(body)"}: ${issue.message}`);
  }
  // Validated, but kept as received: zod's output orders keys by its schema, and the files written
  // must be the ones the API serves, byte for byte.
  const json = raw as ModelJson;
  const parts: Uint8Array[] = [];
  for (const file of json.weightsManifest[0]!.paths) {
    const shardUrl = new URL(file, url).href;
    parts.push(new Uint8Array(await (await ok(await fetch(shardUrl, { headers }), shardUrl)).arrayBuffer()));
  }
  const data = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    data.set(p, offset);
    offset += p.byteLength;
  }
  return { json, data };
}

async function ok(res: Response, url: string): Promise<Response> {
  if (res.ok) return res;
  const text = await res.text();
  let message = text.slice(0, 300);
  try {
    message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
  } catch {
    // not the API's JSON error: show the text
  }
  throw new Error(`GET ${url}: ${res.status} ${res.statusText}: ${message}`);
}
