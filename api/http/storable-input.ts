/**
 * What Postgres can store and our code can walk, checked once where input enters: JSON bodies and
 * query strings. Postgres refuses a NUL character in text and jsonb, and a lone UTF-16 surrogate has
 * no UTF-8 form: both would otherwise surface as a 500 deep in a query. A body nested thousands of levels
 * deep would overflow the stack of every recursive step after parsing (validation, expansion, cloning).
 * The walk is iterative, so it cannot overflow itself.
 */
import { AppError } from "../app-error.ts";

/** Deeper than any run spec or sweep needs (a spec is 3 levels, a sweep's base 4). */
export const MAX_JSON_DEPTH = 32;

// A high surrogate not followed by a low one, or a low one not preceded by a high one; or NUL.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `text` cannot be stored, or null when it can. */
export function unstorableText(text: string): string | null {
  const m = UNSTORABLE.exec(text);
  if (m === null) return null;
  return m[0] === "\u0000"
    ? "must not contain the NUL character (\\u0000)"
    : `must be valid Unicode: found a lone surrogate \\u${m[0].charCodeAt(0).toString(16)}`;
}

/**
 * Throws a 400 naming the first place in `value` that holds unstorable text (in a key or a string) or
 * nests deeper than {@link MAX_JSON_DEPTH}.
 */
export function assertStorable(value: unknown, where: "body" | "query"): void {
  const stack: { v: unknown; path: string[]; depth: number }[] = [{ v: value, path: [], depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === "string") {
      const why = unstorableText(v);
      if (why !== null) throw invalid(where, path, why);
      continue;
    }
    if (typeof v !== "object" || v === null) continue;
    if (depth >= MAX_JSON_DEPTH) throw invalid(where, path, `must not nest deeper than ${MAX_JSON_DEPTH} levels`);
    for (const [k, child] of Object.entries(v)) {
      const why = unstorableText(k);
      if (why !== null) throw invalid(where, [...path, k], `a key ${why}`);
      stack.push({ v: child, path: [...path, k], depth: depth + 1 });
    }
  }
}

function invalid(where: "body" | "query", path: string[], message: string): AppError {
  const shown = path.map((p) => p.replace(/[\u0000-\u001f\uD800-\uDFFF]/g, "?")).join(".");
  return where === "body"
    ? new AppError("validation_failed", "the request body is not valid", { issues: [{ path: shown, message }] })
    : new AppError("bad_request", "the query string is not valid", { issues: [{ path: shown, message }] });
}
