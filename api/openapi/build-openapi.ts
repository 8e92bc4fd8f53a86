/**
 * The OpenAPI 3.1 document, built from the router's route declarations and the same zod schemas that
 * validate requests (zod 4's own `z.toJSONSchema`, whose draft 2020-12 output is what OpenAPI 3.1
 * uses). Schemas with a `.meta({ id })` become shared components.
 */
import { z } from "zod";
import { errorBodySchema } from "../../shared/api-schemas.ts";
import { runSpecSchema } from "../../shared/run-spec.ts";
import { implicitErrors } from "../http/response-contract.ts";
import type { AnyRouteSpec } from "../http/router.ts";

type Json = Record<string, unknown>;

const REF_PREFIX = "#/components/schemas/";

export function buildOpenApi(routes: readonly AnyRouteSpec[], info: { version: string }): Json {
  const components: Record<string, unknown> = {};
  const convert = (schema: z.ZodType, io: "input" | "output"): Json => {
    const json = z.toJSONSchema(schema, {
      io,
      unrepresentable: "any",
      // The stored spec is the transform's output, which is itself a valid input: both sides refer to the
      // one RunSpec component, generated from the input side below.
      override: (ctx) => {
        if (ctx.zodSchema === runSpecSchema) {
          for (const key of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as Json)[key];
          (ctx.jsonSchema as Json).$ref = `${REF_PREFIX}RunSpec`;
        }
      },
    }) as Json;
    const defs = (json.$defs ?? {}) as Record<string, unknown>;
    delete json.$defs;
    delete json.$schema;
    for (const [id, def] of Object.entries(defs)) components[id] = rewriteRefs(def);
    return rewriteRefs(json) as Json;
  };
  const runSpecJson = z.toJSONSchema(runSpecSchema, { io: "input", unrepresentable: "any" }) as Json;
  delete runSpecJson.$schema;
  components.RunSpec = runSpecJson;

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const parameters: Json[] = [];
    for (const name of route.path.match(/:(\w+)/g) ?? []) {
      parameters.push({
        name: name.slice(1),
        in: "path",
        required: true,
        // Ids are UUIDs; other path segments (a model shard's file name) are plain strings.
        schema: name === ":id" ? { type: "string", format: "uuid" } : { type: "string" },
      });
    }
    if (route.query !== undefined) {
      const q = convert(route.query, "input");
      const props = (q.properties ?? {}) as Record<string, Json>;
      const required = new Set((q.required ?? []) as string[]);
      for (const [name, schema] of Object.entries(props)) {
        const { description, ...rest } = schema;
        parameters.push({
          name,
          in: "query",
          required: required.has(name),
          ...(description === undefined ? {} : { description }),
          schema: rest,
        });
      }
    }
    for (const h of route.headers ?? []) {
      parameters.push({
        name: h.name,
        in: "header",
        required: false,
        description: h.description,
        schema: { type: "string" },
      });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, doc] of Object.entries(route.responses)) {
      const content: Record<string, unknown> = {};
      if (doc.schema !== undefined) content["application/json"] = { schema: convert(doc.schema, "output") };
      for (const type of doc.alternatives ?? []) content[type] = { schema: { type: "string" } };
      responses[status] = {
        description: doc.description,
        ...(Object.keys(content).length ? { content } : {}),
      };
    }
    for (const [status, description] of implicitErrors(route)) {
      responses[String(status)] ??= {
        description,
        content: { "application/json": { schema: { $ref: `${REF_PREFIX}Error` } } },
      };
    }
    const operation: Json = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description === undefined ? {} : { description: route.description }),
      tags: [route.tag],
      ...(route.scope === null ? { security: [] } : { security: [{ bearer: [route.scope] }] }),
      ...(parameters.length ? { parameters } : {}),
      responses,
    };
    if (route.body !== undefined) {
      const bodySchema = route.bodyDoc ?? route.body;
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: convert(bodySchema, "input") } },
      };
    }
    (paths[path] ??= {})[route.method] = operation;
  }
  convert(errorBodySchema, "output");

  return {
    openapi: "3.1.0",
    info: {
      title: "ResNet training job service",
      version: info.version,
      description:
        "Submit ResNet56v2 / CIFAR-10 training runs and sweeps, follow them, and query finished runs with SQL. " +
        "Authenticate with `Authorization: Bearer <token>`; scopes nest: admin ⊇ submit ⊇ read; worker is separate. " +
        'Every error has the body `{ "error": { "code", "message", "issues"? } }` and every response an ' +
        "`X-Request-Id` header.",
    },
    servers: [{ url: "/" }],
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "scopes: read, submit, admin, worker" },
      },
      schemas: components,
    },
    security: [{ bearer: [] }],
    paths,
  };
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== "object") return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === "$ref" && typeof v === "string" && v.startsWith("#/$defs/")
      ? REF_PREFIX + v.slice("#/$defs/".length)
      : rewriteRefs(v);
  }
  return out;
}
