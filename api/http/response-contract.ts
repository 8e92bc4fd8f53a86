/**
 * The response side of a route declaration, as a checkable contract: which statuses an endpoint may
 * answer (its own plus the errors every endpoint of its kind can give) and what each body must be.
 * `/openapi.json` documents exactly these (build-openapi.ts), and the API tests check every response
 * they receive against them (api/testing/test-api.ts), so the document cannot promise what the code
 * does not send.
 */
import { z } from "zod";
import { errorBodySchema } from "../../shared/api-schemas.ts";
import type { AnyRouteSpec, ResponseDoc } from "./router.ts";

/**
 * The errors any endpoint of this shape can answer besides its declared ones: a malformed request and an
 * internal error anywhere; a database outage wherever a handler reads it (all but the static pages);
 * auth refusals when a scope is needed; body refusals when a body is read.
 */
export function implicitErrors(route: AnyRouteSpec): [number, string][] {
  const errors: [number, string][] = [[400, "Malformed request"], [500, "Internal error"]];
  if (route.operationId !== "openapi" && route.operationId !== "docs") {
    errors.push([503, "The database is unavailable; try again shortly"]);
  }
  if (route.scope !== null) {
    errors.push([401, "Missing, unknown, revoked or expired token"], [403, "Token lacks the scope"]);
  }
  if (route.body !== undefined) {
    errors.push([413, "Body over 1 MiB"], [415, "Content-Type is not application/json"], [422, "Invalid body"]);
  }
  return errors;
}

/** Every status the route may answer, with its documentation: declared ones win over implicit ones. */
export function documentedResponses(route: AnyRouteSpec): Map<number, ResponseDoc> {
  const out = new Map<number, ResponseDoc>();
  for (const [status, doc] of Object.entries(route.responses)) out.set(Number(status), doc);
  for (const [status, description] of implicitErrors(route)) {
    if (!out.has(status)) out.set(status, { description, schema: errorBodySchema });
  }
  return out;
}

/** The declared route a request was served by (HEAD is served as GET), or undefined. */
export function routeFor(routes: readonly AnyRouteSpec[], method: string, path: string): AnyRouteSpec | undefined {
  const m = method.toLowerCase() === "head" ? "get" : method.toLowerCase();
  return routes.find((r) => r.method === m && pathPattern(r.path).test(path));
}

/**
 * What is wrong with a response against its route's declaration: an undocumented status, a media type
 * the status does not list, a JSON body its schema rejects, or an error without the error shape.
 * Empty when it conforms. Reads a clone: the caller's response stays unread.
 *
 * @example
 * ```ts
 * const breaches = await responseBreaches(routes, "GET", "/v1/runs/abc", res);
 * // ["GET /v1/runs/:id answered 418, which it does not document (200, 404, 400, 500, 503, 401, 403)"]
 * ```
 */
export async function responseBreaches(
  routes: readonly AnyRouteSpec[],
  method: string,
  path: string,
  res: Response,
): Promise<string[]> {
  const route = routeFor(routes, method, path);
  if (route === undefined) return [];
  const where = `${method.toUpperCase()} ${route.path}`;
  const documented = documentedResponses(route);
  const doc = documented.get(res.status);
  if (doc === undefined) {
    return [`${where} answered ${res.status}, which it does not document (${[...documented.keys()].join(", ")})`];
  }
  const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (method.toUpperCase() === "HEAD" || res.status === 204 || res.status === 101 || type === "") return [];
  if (type !== "application/json") {
    const allowed = doc.alternatives ?? [];
    return allowed.includes(type) ? [] : [`${where} ${res.status} sent ${type}, not one of: application/json${allowed.length ? `, ${allowed.join(", ")}` : ""}`];
  }
  const schema = doc.schema ?? (res.status >= 400 ? errorBodySchema : undefined);
  if (schema === undefined) return [];
  const body = await res.clone().json();
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    return parsed.error.issues.slice(0, 5).map((i) =>
      `${where} ${res.status} body at ${i.path.map(String).join(".") || "(root)"}: ${i.message}`
    );
  }
  // zod strips keys an object does not declare, so a field the code sends but the document does not
  // name would pass the parse: look for them in the body itself.
  return undeclaredFields(outputJsonSchema(schema), body, "").slice(0, 5).map((path) =>
    `${where} ${res.status} body has ${path}, which its schema does not declare`
  );
}

type Json = { [key: string]: unknown };
const jsonSchemas = new WeakMap<z.ZodType, Json>();

function outputJsonSchema(schema: z.ZodType): Json {
  let json = jsonSchemas.get(schema);
  if (json === undefined) {
    jsonSchemas.set(schema, json = z.toJSONSchema(schema, { io: "output", unrepresentable: "any" }) as Json);
  }
  return json;
}

/**
 * The paths in `value` that `schema` (JSON Schema, as zod writes it) does not declare: keys of an object
 * whose schema lists `properties` and allows nothing else. Records (`additionalProperties`), unknowns
 * (`{}`) and anything else are open. A union is satisfied by its best branch.
 */
function undeclaredFields(schema: Json, value: unknown, path: string, root: Json = schema): string[] {
  const ref = schema.$ref;
  if (typeof ref === "string" && ref.startsWith("#/$defs/")) {
    const target = (root.$defs as Record<string, Json> | undefined)?.[ref.slice("#/$defs/".length)];
    return target === undefined ? [] : undeclaredFields(target, value, path, root);
  }
  const branches = (schema.anyOf ?? schema.oneOf) as Json[] | undefined;
  if (branches !== undefined) {
    const found = branches.map((b) => undeclaredFields(b, value, path, root));
    return found.reduce((best, f) => (f.length < best.length ? f : best), found[0] ?? []);
  }
  if (Array.isArray(value)) {
    const items = schema.items as Json | undefined;
    return items === undefined ? [] : value.flatMap((v, i) => undeclaredFields(items, v, `${path}[${i}]`, root));
  }
  if (value === null || typeof value !== "object") return [];
  const properties = schema.properties as Record<string, Json> | undefined;
  const extra = schema.additionalProperties;
  const out: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const at = path === "" ? key : `${path}.${key}`;
    const declared = properties?.[key];
    if (declared !== undefined) out.push(...undeclaredFields(declared, v, at, root));
    else if (extra !== undefined && extra !== false) out.push(...(typeof extra === "object" ? undeclaredFields(extra as Json, v, at, root) : []));
    else if (properties !== undefined) out.push(at);
  }
  return out;
}

const patterns = new Map<string, RegExp>();

/** A Hono path (`/v1/runs/:id`) as an exact-match pattern; Hono routes are strict about trailing slashes. */
export function pathPattern(path: string): RegExp {
  let re = patterns.get(path);
  if (re === undefined) {
    const source = path.split("/").map((seg) => seg.startsWith(":") ? "[^/]+" : escapeRegExp(seg)).join("/");
    re = new RegExp(`^${source}$`);
    patterns.set(path, re);
  }
  return re;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
