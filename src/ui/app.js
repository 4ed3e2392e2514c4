// Kiln's web UI: a shell (nav, session, namespace switcher), a history-API router and the pages.
// Plain ES modules served as they are (no build step); they talk to the API over HTTP/SSE only.
import { ApiError, api } from "./api.js";
import { duration, esc, errorBox, relative } from "./format.js";
import { renderEvents } from "./pages/events.js";
import { renderLogin } from "./pages/login.js";
import { renderRun } from "./pages/run.js";
import { renderRuns } from "./pages/runs.js";
import { renderSchedule, renderSchedules } from "./pages/schedules.js";
import { renderSecrets } from "./pages/secrets.js";
import { renderTasks } from "./pages/tasks.js";
import { renderTokens } from "./pages/tokens.js";
import { renderWebhooks } from "./pages/webhooks.js";
import { renderWorkflow, renderWorkflows } from "./pages/workflows.js";
import { href, navigate, setRouter } from "./nav.js";
import { isAdmin, state } from "./state.js";

const root = document.getElementById("app");
const nav = document.getElementById("nav");
const sessionBox = document.getElementById("session");

/** Pages by path pattern; each render returns an optional cleanup (closes its live streams). */
const routes = [
  [/^\/$/, renderRuns],
  [/^\/runs\/([^/]+)$/, renderRun],
  [/^\/workflows$/, renderWorkflows],
  [/^\/workflows\/([^/]+)$/, renderWorkflow],
  [/^\/tasks$/, renderTasks],
  [/^\/events$/, renderEvents],
  [/^\/schedules$/, renderSchedules],
  [/^\/schedules\/([^/]+)$/, renderSchedule],
  [/^\/webhooks$/, renderWebhooks],
  [/^\/secrets$/, renderSecrets],
  [/^\/tokens$/, renderTokens],
];

/** The nav: path, label, and the key that opens it after "g". */
function navItems() {
  return [
    ["/", "Runs", "r"],
    ["/workflows", "Workflows", "w"],
    ["/tasks", "Tasks & workers", "t"],
    ["/events", "Events", "e"],
    ["/schedules", "Schedules", "c"],
    ["/webhooks", "Webhooks", "h"],
    ["/secrets", "Secrets", "s"],
    ...(isAdmin() ? [["/tokens", "Tokens", "k"]] : []),
  ];
}

let cleanup = null;

async function route() {
  cleanup?.();
  cleanup = null;
  document.getElementById("flash").innerHTML = "";
  const query = new URLSearchParams(location.search);
  if (state.session === null) {
    try {
      state.session = await api("/v1/session", { namespace: null });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) {
        root.innerHTML = errorBox(error);
        return;
      }
      renderShell();
      cleanup = renderLogin(root, { onSignedIn: () => route(), accounts: error.data?.accounts === true }) ?? null;
      return;
    }
  }
  state.namespace = query.get("ns") || (state.session.namespace === "*" ? "default" : state.session.namespace);
  renderShell();
  for (const [pattern, render] of routes) {
    const match = pattern.exec(location.pathname);
    if (match) {
      try {
        cleanup = (await render(root, match.slice(1).map(decodeURIComponent), query)) ?? null;
      } catch (error) {
        // The session ended (signed out elsewhere, token revoked): sign in again.
        if (error instanceof ApiError && error.status === 401 && state.session?.mode === "auth") {
          state.session = null;
          return route();
        }
        root.innerHTML = errorBox(error);
      }
      return;
    }
  }
  root.innerHTML = errorBox({ code: "PAGE_NOT_FOUND", message: `No page at ${location.pathname}; see the runs page` });
}

function renderShell() {
  const signedIn = state.session !== null;
  const here = location.pathname;
  nav.innerHTML = signedIn
    ? navItems()
        .map(([path, label, key]) => {
          const active = path === "/" ? here === "/" || here.startsWith("/runs/") : here.startsWith(path);
          return `<a href="${esc(href(path))}" data-nav class="${active ? "active" : ""}" title="g then ${key}">${esc(label)}</a>`;
        })
        .join("")
    : "";
  if (!signedIn) {
    sessionBox.innerHTML = "";
    return;
  }
  const s = state.session;
  const all = s.namespace === "*";
  sessionBox.innerHTML =
    `<label>namespace <select id="ns-switch" ${all ? "" : "disabled"} aria-label="Namespace">` +
    `<option>${esc(state.namespace)}</option></select></label>` +
    `<span class="chip" title="signed in ${s.mode === "loopback-open" ? "from loopback (no login needed)" : s.account ? `as ${esc(s.account)}` : "with a token"}">${esc(s.account ? `${s.account} · ${s.role}` : s.role)}</span>` +
    (s.mode === "auth" ? '<button type="button" id="sign-out">Sign out</button>' : "");
  if (all) void fillNamespaces();
}

async function fillNamespaces() {
  const select = document.getElementById("ns-switch");
  try {
    const { items } = await api("/v1/namespaces");
    select.innerHTML = items
      .map((n) => `<option ${n.name === state.namespace ? "selected" : ""}>${esc(n.name)}</option>`)
      .join("");
  } catch {
    // Keeps the one option it has: switching is a convenience, the page still works.
  }
}

document.addEventListener("change", (event) => {
  if (event.target.id !== "ns-switch") return;
  state.namespace = event.target.value;
  navigate(`/?ns=${encodeURIComponent(event.target.value)}`);
});

document.addEventListener("click", async (event) => {
  const copyButton = event.target.closest("button[data-copy]");
  if (copyButton) {
    await navigator.clipboard?.writeText(copyButton.dataset.copy).catch(() => {});
    copyButton.textContent = "copied";
    setTimeout(() => {
      copyButton.textContent = "copy";
    }, 1200);
    return;
  }
  if (event.target.id === "sign-out") {
    await api("/v1/session", { method: "DELETE", namespace: null }).catch(() => {});
    state.session = null;
    navigate("/");
    return;
  }
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const link = event.target.closest("a[data-nav]");
  const row = link ? null : event.target.closest("tr[data-href]");
  if (!link && !row) return;
  if (row && event.target.closest("button, a, input")) return;
  event.preventDefault();
  navigate(link ? link.getAttribute("href") : row.dataset.href);
});

window.addEventListener("popstate", () => void route());

// Keyboard: "/" focuses the page's search, "g" then a letter opens a page, j/k/Enter walk tables.
let pendingG = false;
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select") || event.metaKey || event.ctrlKey || event.altKey) return;
  if (pendingG) {
    pendingG = false;
    const item = navItems().find(([, , key]) => key === event.key);
    if (item) navigate(href(item[0]));
    return;
  }
  if (event.key === "g") pendingG = true;
  else if (event.key === "/") {
    const search = root.querySelector("[data-search]");
    if (search) {
      event.preventDefault();
      search.focus();
    }
  } else if (event.key === "j" || event.key === "k") moveSelection(event.key === "j" ? 1 : -1);
  else if (event.key === "Enter") {
    const selected = root.querySelector("tr.selected[data-href]");
    if (selected) navigate(selected.dataset.href);
  }
});

function moveSelection(by) {
  const rows = [...root.querySelectorAll("tr[data-href]")];
  if (rows.length === 0) return;
  const at = rows.findIndex((r) => r.classList.contains("selected"));
  rows[at]?.classList.remove("selected");
  const next = rows[Math.min(rows.length - 1, Math.max(0, at + by))];
  next.classList.add("selected");
  next.scrollIntoView({ block: "nearest" });
}

// Relative times and running durations stay current without re-rendering the page.
setInterval(() => {
  const now = Date.now();
  for (const el of document.querySelectorAll("time[data-ts]")) el.textContent = relative(Number(el.dataset.ts), now);
  for (const el of document.querySelectorAll("[data-since]")) el.textContent = duration(now - Number(el.dataset.since));
}, 1000);

setRouter(route);
void route();
