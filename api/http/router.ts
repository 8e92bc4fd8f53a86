/**
 * One declaration per endpoint: method, path, scope, and the zod schemas of its query, body and
 * responses. From it the router wires authentication and validation, answers 405 for a known path
 * with the wrong method, and `/openapi.json` is generated; so what is validated and what is documented
 * cannot drift apart.
 */
import type { Issue } from "../../shared/issue.ts";
import type { Context, Hono } from "hono";
import type { z } from "zod";
import type { TokenScope } from "../../shared/run-states.ts";
import { pathPattern } from "./response-contract.ts";
import { assertStorable } from "./storable-input.ts";
import { AppError } from "../app-error.ts";

export interface AuthInfo {
  tokenId: string;
  scopes: TokenScope[];
}

/** What the app keeps per request. */
export interface AppEnv {
  Variables: {
    requestId: string;
    auth: AuthInfo | null;
  };
}

export type AppContext = Context<AppEnv>;

export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  /** Media types besides application/json that this response can have (text/csv, text/markdown). */
  alternatives?: string[];
}

export interface HeaderDoc {
  name: string;
  description: string;
}

export interface RouteSpec<B extends z.ZodType | undefined, Q extends z.ZodType | undefined> {
  method: "get" | "post" | "delete";
  /** Hono syntax: `/v1/runs/:id`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** The scope a bearer token needs; null for public endpoints. */
  scope: TokenScope | null;
  query?: Q;
  body?: B;
  /** How the body is documented when it differs from the validating schema's input. */
  bodyDoc?: z.ZodType;
  /** Extra request headers the endpoint reads (Idempotency-Key). */
  headers?: HeaderDoc[];
  responses: Record<number, ResponseDoc>;
}

type Output<S> = S extends z.ZodType ? z.output<S> : undefined;

export type RouteHandler<B extends z.ZodType | undefined, Q extends z.ZodType | undefined> = (
  c: AppContext,
  input: { body: Output<B>; query: Output<Q> },
) => Response | Promise<Response>;

// deno-lint-ignore no-explicit-any
export type AnyRouteSpec = RouteSpec<any, any>;

export type Authenticate = (c: AppContext, scope: TokenScope) => Promise<void>;

/**
 * @example
 * ```ts
 * const router = new Router(app, authenticate);
 * router.add({ method: "get", path: "/v1/workers", scope: "read", … }, async (c) => c.json(…));
 * router.routes; // for the OpenAPI document
 * ```
 */
export class Router {
  readonly routes: AnyRouteSpec[] = [];

  constructor(private readonly app: Hono<AppEnv>, private readonly authenticate: Authenticate) {}

  add<B extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined>(
    spec: RouteSpec<B, Q>,
    handler: RouteHandler<B, Q>,
  ): void {
    this.routes.push(spec);
    this.app.on(spec.method.toUpperCase(), spec.path, async (c) => {
      if (spec.scope !== null) await this.authenticate(c, spec.scope);
      const query = spec.query === undefined ? undefined : parseQuery(c, spec.query);
      const body = spec.body === undefined ? undefined : validate(spec.body, await readJsonBody(c), "body");
      return await handler(c, { body, query } as { body: Output<B>; query: Output<Q> });
    });
  }

  /**
   * Declares an endpoint served by a handler mounted elsewhere (the live streams, which authenticate
   * before a WebSocket upgrade): it is documented in `/openapi.json` and answers 405 to other methods
   * like every declared endpoint, while the request itself is left to its own handler.
   */
  describe(spec: AnyRouteSpec): void {
    this.routes.push(spec);
  }

  /** The methods registered for a concrete path, for 405 and its Allow header. */
  methodsFor(path: string): string[] {
    const methods = this.routes.filter((r) => pathPattern(r.path).test(path)).map((r) =>
      r.method.toUpperCase()
    );
    if (methods.includes("GET")) methods.push("HEAD");
    return [...new Set(methods)];
  }
}

/** Turns zod issues into the API's `{ path, message }` pairs (dotted paths). */
export function toIssues(error: z.ZodError, prefix: string[] = []): Issue[] {
  return error.issues.map((i) => ({
    path: [...prefix, ...i.path.map(String)].join("."),
    message: i.message,
  }));
}

function validate<S extends z.ZodType>(schema: S, value: unknown, where: "body" | "query"): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw where === "body"
    ? new AppError("validation_failed", "the request body is not valid", { issues: toIssues(result.error) })
    : new AppError("bad_request", "the query string is not valid", { issues: toIssues(result.error) });
}

function parseQuery<S extends z.ZodType>(c: AppContext, schema: S): z.output<S> {
  const all = c.req.queries();
  const value: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(all)) value[key] = values.length === 1 ? values[0]! : values;
  assertStorable(value, "query");
  return validate(schema, value, "query");
}

/**
 * The body as JSON: 415 unless the Content-Type says JSON, 400 when it does not parse. The size limit
 * (413) is enforced before this by the body-limit middleware, while the body streams in.
 */
export async function readJsonBody(c: AppContext): Promise<unknown> {
  const type = c.req.header("content-type");
  if (type === undefined || !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new AppError(
      "unsupported_media_type",
      `expected Content-Type: application/json, found ${type === undefined ? "none" : JSON.stringify(type)}`,
    );
  }
  const text = await c.req.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AppError("invalid_json", `the request body is not valid JSON: ${(e as Error).message}`);
  }
  assertStorable(value, "body");
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path id; one that is not a UUID cannot name anything, so it is a 404 like an unknown one. */
export function uuidParam(c: AppContext, name: string, what: string): string {
  const value = c.req.param(name) ?? "";
  if (!UUID.test(value)) throw new AppError("not_found", `${what} ${JSON.stringify(value)} does not exist`);
  return value.toLowerCase();
}
