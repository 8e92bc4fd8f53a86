/**
 * Serves the built dashboard (web/dist, made by `npm run build:web`): `index.html` at `/` (and
 * `/index.html`), never cached, with a CSP that allows only this origin; content-hashed files under
 * `/assets/` cached for a year. Files are read from disk per request, so a rebuild shows up without a
 * restart. Runtime-neutral (node:fs works in Deno and Node), no I/O at import.
 *
 * @example
 * ```ts
 * const app = new Hono();
 * app.route("/", serveDashboard({ dir: new URL("../../web/dist/", import.meta.url) }));
 * ```
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Hono } from "hono";

const TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  map: "application/json; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  html: "text/html; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  woff2: "font/woff2",
};

/** Hashed names only (main-ABC123.js): no path separators, no dot-dot, so nothing outside assets/ is reachable. */
const ASSET_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.(js|css|map|txt|svg|png|woff2)$/;

/**
 * `connect-src 'self'` covers the same-origin ws:/wss: streams in current browsers; uPlot sets styles
 * through CSSOM, which `style-src 'self'` does not block.
 */
export const DASHBOARD_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

export interface ServeDashboardOptions {
  /** The build output folder (web/dist), as a path or a file: URL ending in a slash. */
  dir: string | URL;
}

export function serveDashboard(options: ServeDashboardOptions): Hono {
  const base = typeof options.dir === "string" ? pathToFileURL(`${resolve(options.dir)}/`) : options.dir;
  const app = new Hono();

  const index = async () => {
    let html: Uint8Array;
    try {
      html = await readFile(new URL("index.html", base));
    } catch {
      return new Response(
        "The dashboard is not built. Run `npm run build:web` (npm start and npm test do it for you).\n",
        { status: 503, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } },
      );
    }
    return new Response(html as BodyInit, {
      headers: {
        "content-type": TYPES.html!,
        // Always revalidate: it names the current hashed assets.
        "cache-control": "no-cache",
        "content-security-policy": DASHBOARD_CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      },
    });
  };
  app.get("/", index);
  app.get("/index.html", index);

  app.get("/assets/:name", async (c) => {
    const name = c.req.param("name");
    if (!ASSET_NAME.test(name)) return c.notFound();
    let body: Uint8Array;
    try {
      body = await readFile(new URL(`assets/${name}`, base));
    } catch {
      return c.notFound();
    }
    const ext = name.slice(name.lastIndexOf(".") + 1);
    return new Response(body as BodyInit, {
      headers: {
        "content-type": TYPES[ext] ?? "application/octet-stream",
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
      },
    });
  });
  return app;
}
