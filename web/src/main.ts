// The dashboard's entry: the header (navigation, token, connection), a hash router and the views.
// Hash routes keep every view a bookmarkable URL while the server only ever serves index.html at `/`.
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { ApiClient } from "./api-client.ts";
import type { AppContext, View } from "./app-context.ts";
import { h } from "./dom.ts";
import { loadToken, saveToken } from "./token-store.ts";
import { compareView } from "./views/compare-view.ts";
import { runView } from "./views/run-view.ts";
import { runsView } from "./views/runs-view.ts";
import { submitView } from "./views/submit-view.ts";
import { sweepView } from "./views/sweep-view.ts";

let token = loadToken();
const api = new ApiClient(location.origin, () => token);

const main = h("main", { id: "main", tabindex: "-1" });
const notices = h("div", { class: "notices", role: "status", "aria-live": "polite" });

function notify(message: string, kind: "info" | "error" = "info"): void {
  const note = h("div", { class: `notice ${kind}` }, message, h("button", { class: "link", "aria-label": "Dismiss", onclick: () => note.remove() }, "×"));
  notices.append(note);
  if (kind === "info") setTimeout(() => note.remove(), 5000);
}

const ctx: AppContext = { api, token: () => token, navigate: (hash) => (location.hash = hash), notify };

const tokenInput = h("input", { id: "token", type: "password", autocomplete: "off", placeholder: "paste an API token", value: token, "aria-label": "API token" });
const tokenForm = h(
  "form",
  {
    class: "token",
    onsubmit: (e) => {
      e.preventDefault();
      token = tokenInput.value.trim();
      saveToken(token);
      notify(token ? "Token saved in this browser." : "Token removed.");
      route();
    },
  },
  h("label", { for: "token" }, "Token"),
  tokenInput,
  h("button", { type: "submit" }, "Save"),
);

const navLinks = [
  ["#/", "Runs"],
  ["#/submit", "Submit"],
  ["#/compare", "Compare"],
] as const;
const nav = h("nav", { "aria-label": "Main" }, navLinks.map(([href, label]) => h("a", { href, "data-nav": href }, label)));

document.body.append(
  h("a", { class: "skip", href: "#main", onclick: (e) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
  h("header", {}, h("h1", {}, h("a", { href: "#/" }, "ResNet jobs")), nav, tokenForm),
  notices,
  main,
);

const routes: [RegExp, View][] = [
  [/^\/runs\/([^/]+)$/, runView],
  [/^\/sweeps\/([^/]+)$/, sweepView],
  [/^\/compare$/, compareView],
  [/^\/submit$/, submitView],
  [/^\/?$/, runsView],
];

let unmount: (() => void) | null = null;

function route(): void {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path = "/", query = ""] = raw.split("?");
  unmount?.();
  unmount = null;
  main.replaceChildren();
  for (const a of nav.querySelectorAll("a")) {
    const href = a.getAttribute("data-nav") ?? "";
    const active = href === "#/" ? path === "/" || path === "" : `#${path}`.startsWith(href);
    if (active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!token) {
    main.append(h("section", { class: "panel" }, h("h2", {}, "Sign in"), h("p", {}, "Paste an API token (printed by ", h("code", {}, "npm start"), " or made with ", h("code", {}, "npm run token -- create --scope submit"), ") in the box above. It stays in this browser.")));
    tokenInput.focus();
    return;
  }
  for (const [re, view] of routes) {
    const m = re.exec(path);
    if (m) {
      unmount = view(main, ctx, new URLSearchParams(query), m[1] ? decodeURIComponent(m[1]) : null);
      return;
    }
  }
  main.append(h("p", {}, "No such page. ", h("a", { href: "#/" }, "Back to the runs.")));
}

addEventListener("hashchange", route);
route();
