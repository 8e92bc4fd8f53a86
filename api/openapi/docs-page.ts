/**
 * A self-contained API reference page for `/docs`: one HTML document with inline CSS and script that
 * renders `/openapi.json`. No CDN and no third-party bundle, so it works on an offline cluster.
 */
export const DOCS_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'";

export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ResNet training job service: API</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
  header { padding: 1.5rem 2rem; background: #1d1d1f; color: #fff; }
  header h1 { margin: 0 0 .3rem; font-size: 1.4rem; }
  header p { margin: 0; max-width: 60rem; color: #ccc; }
  main { padding: 1rem 2rem 4rem; max-width: 70rem; }
  h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
  details { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; margin: .5rem 0; }
  summary { cursor: pointer; padding: .5rem .8rem; display: flex; gap: .8rem; align-items: baseline; }
  .method { font: 600 12px monospace; text-transform: uppercase; padding: .15rem .45rem; border-radius: 4px;
            color: #fff; min-width: 3.5rem; text-align: center; }
  .get { background: #2f7d32; } .post { background: #1565c0; } .delete { background: #c62828; }
  .path { font-family: monospace; font-weight: 600; }
  .scope { margin-left: auto; font-size: 12px; color: #666; }
  .body { padding: 0 1rem 1rem; }
  table { border-collapse: collapse; width: 100%; font-size: 14px; }
  td, th { text-align: left; border-bottom: 1px solid #eee; padding: .25rem .5rem; vertical-align: top; }
  pre { background: #f3f3f3; padding: .6rem; overflow: auto; font-size: 12px; max-height: 24rem; }
  code { font-family: monospace; }
</style>
</head>
<body>
<header><h1 id="title">API</h1><p id="description"></p></header>
<main id="main"><p>Loading <a href="/openapi.json">/openapi.json</a>…</p></main>
<script>
"use strict";
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};
function resolve(doc, schema) {
  if (schema && schema.$ref) return { ref: schema.$ref.split("/").pop(), schema: doc.components.schemas[schema.$ref.split("/").pop()] };
  return { ref: null, schema };
}
function schemaBlock(doc, schema) {
  const { ref, schema: s } = resolve(doc, schema);
  const wrap = el("div");
  if (ref) wrap.append(el("p", {}, "Schema ", el("code", {}, ref)));
  wrap.append(el("pre", {}, JSON.stringify(s, null, 2)));
  return wrap;
}
function operation(doc, path, method, op) {
  const scope = op.security && op.security.length ? "scope: " + (op.security[0].bearer || []).join(", ") : "public";
  const d = el("details", { id: op.operationId },
    el("summary", {}, el("span", { class: "method " + method }, method), el("span", { class: "path" }, path),
      el("span", {}, op.summary || ""), el("span", { class: "scope" }, scope)));
  const body = el("div", { class: "body" });
  if (op.description) body.append(el("p", {}, op.description));
  if (op.parameters && op.parameters.length) {
    const t = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "schema"), el("th", {}, "description")));
    for (const p of op.parameters) {
      t.append(el("tr", {}, el("td", {}, el("code", {}, p.name + (p.required ? " *" : ""))), el("td", {}, p.in),
        el("td", {}, el("code", {}, JSON.stringify(p.schema))), el("td", {}, p.description || "")));
    }
    body.append(el("h4", {}, "Parameters"), t);
  }
  if (op.requestBody) {
    body.append(el("h4", {}, "Request body (application/json)"), schemaBlock(doc, op.requestBody.content["application/json"].schema));
  }
  body.append(el("h4", {}, "Responses"));
  for (const [status, r] of Object.entries(op.responses)) {
    const types = r.content ? Object.keys(r.content).join(", ") : "";
    body.append(el("p", {}, el("b", {}, status), " ", r.description, types ? " (" + types + ")" : ""));
    const json = r.content && r.content["application/json"];
    if (json && status < 400) body.append(schemaBlock(doc, json.schema));
  }
  d.append(body);
  return d;
}
fetch("/openapi.json").then((r) => r.json()).then((doc) => {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("description").textContent = doc.info.description || "";
  const main = document.getElementById("main");
  main.textContent = "";
  const byTag = new Map();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(doc, path, method, op));
    }
  }
  for (const [tag, ops] of byTag) main.append(el("h2", {}, tag), ...ops);
  main.append(el("h2", {}, "Schemas"));
  for (const [name, s] of Object.entries(doc.components.schemas)) {
    main.append(el("details", { id: "schema-" + name }, el("summary", {}, el("code", {}, name)), el("pre", {}, JSON.stringify(s, null, 2))));
  }
}).catch((e) => { document.getElementById("main").textContent = "Could not load /openapi.json: " + e; });
</script>
</body>
</html>
`;
