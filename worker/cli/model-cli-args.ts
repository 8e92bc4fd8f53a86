/**
 * What `npm run export` and `npm run predict` share on their command lines: where the API is and the
 * read token, from flags or the environment (API_URL, API_TOKEN).
 */
import type { ApiAccess } from "../model/export-client.ts";

export const CLI_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The API access from --api/--token or API_URL/API_TOKEN; pushes a message per problem and returns null. */
export function apiAccessFromArgs(
  values: { api?: string | undefined; token?: string | undefined },
  env: Record<string, string | undefined>,
  problems: string[],
): ApiAccess | null {
  const apiUrl = values.api ?? env.API_URL ?? "http://127.0.0.1:8000";
  const token = values.token ?? env.API_TOKEN;
  const before = problems.length;
  if (!URL.canParse(apiUrl) || !/^https?:$/.test(new URL(apiUrl).protocol)) {
    problems.push(`--api (or API_URL) must be an http(s) URL, got ${JSON.stringify(apiUrl)}`);
  }
  if (token === undefined || token.trim() === "") problems.push("a read token is required: --token or API_TOKEN");
  return problems.length > before ? null : { apiUrl, token: token!.trim() };
}
