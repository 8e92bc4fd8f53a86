import { desc, eq, sql } from "drizzle-orm";
import {
  createdTokenSchema,
  tokenCreateSchema,
  tokenListSchema,
  type TokenView,
  tokenViewSchema,
} from "../../shared/api-schemas.ts";
import { createApiToken } from "../../shared/api-tokens.ts";
import { apiTokens } from "../../shared/db/schema.ts";
import type { TokenScope } from "../../shared/run-states.ts";
import { AppError } from "../app-error.ts";
import type { RouteDeps } from "../create-app.ts";
import { type Router, uuidParam } from "../http/router.ts";

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

function toTokenView(t: typeof apiTokens.$inferSelect): TokenView {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    scopes: t.scopes as TokenScope[],
    createdAt: t.createdAt.toISOString(),
    expiresAt: iso(t.expiresAt),
    revokedAt: iso(t.revokedAt),
    lastUsedAt: iso(t.lastUsedAt),
  };
}

export function tokensRoutes(router: Router, deps: RouteDeps): void {
  router.add({
    method: "post",
    path: "/v1/tokens",
    operationId: "createToken",
    summary: "Create a bearer token (the token is in this response only)",
    tag: "tokens",
    scope: "admin",
    body: tokenCreateSchema,
    responses: { 201: { description: "The new token", schema: createdTokenSchema } },
  }, async (c, { body }) => {
    const created = await createApiToken(deps.sql, {
      name: body.name,
      scopes: body.scopes,
      expiresAt: body.expiresAt === undefined ? null : new Date(body.expiresAt),
    });
    deps.log("info", "token created", {
      requestId: c.get("requestId"),
      tokenId: created.id,
      scopes: created.scopes,
    });
    return c.json({
      id: created.id,
      name: created.name,
      token: created.token,
      prefix: created.prefix,
      scopes: created.scopes,
      createdAt: created.createdAt.toISOString(),
      expiresAt: iso(created.expiresAt),
      revokedAt: null,
      lastUsedAt: null,
    }, 201);
  });

  router.add({
    method: "get",
    path: "/v1/tokens",
    operationId: "listTokens",
    summary: "List tokens (prefixes and metadata; never the tokens or their hashes)",
    tag: "tokens",
    scope: "admin",
    responses: { 200: { description: "Every token", schema: tokenListSchema } },
  }, async (c) => {
    const rows = await deps.db.select().from(apiTokens).orderBy(desc(apiTokens.createdAt)).limit(10_000);
    return c.json({ tokens: rows.map(toTokenView) }, 200);
  });

  router.add({
    method: "delete",
    path: "/v1/tokens/:id",
    operationId: "revokeToken",
    summary: "Revoke a token (takes effect on its next request)",
    tag: "tokens",
    scope: "admin",
    responses: {
      200: { description: "The revoked token", schema: tokenViewSchema },
      404: { description: "No such token" },
    },
  }, async (c) => {
    const id = uuidParam(c, "id", "token");
    const [row] = await deps.db.update(apiTokens)
      .set({ revokedAt: sql`coalesce(${apiTokens.revokedAt}, now())` })
      .where(eq(apiTokens.id, id)).returning();
    if (row === undefined) throw new AppError("not_found", `token ${id} does not exist`);
    deps.log("info", "token revoked", { requestId: c.get("requestId"), tokenId: id });
    return c.json(toTokenView(row), 200);
  });
}
