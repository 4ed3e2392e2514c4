// The runs page: filters in the URL, cursor paging, live status changes over SSE.
import { ApiError, api, follow } from "../api.js";
import { chip, copy, elapsed, empty, esc, time } from "../format.js";
import { href, navigate } from "../nav.js";
import { canWrite } from "../state.js";

const STATUSES = [
  "queued",
  "running",
  "sleeping",
  "waiting",
  "completed",
  "failed",
  "cancelling",
  "cancelled",
  "compensating",
  "compensated",
  "timed_out",
];
const PAGE_SIZE = 50;
/** Time ranges of the filter: created within the last … (kept relative in the URL). */
const RANGES = [
  ["15m", "last 15 minutes", 15 * 60_000],
  ["1h", "last hour", 3_600_000],
  ["24h", "last 24 hours", 86_400_000],
  ["7d", "last 7 days", 7 * 86_400_000],
];
/** The URL parameters that filter the list (kept across pages). */
const FILTERS = ["status", "name", "type", "range"];

/** The instant a `range` parameter starts at, or undefined for "any time". */
function rangeStart(query, now = Date.now()) {
  const range = RANGES.find(([key]) => key === query.get("range"));
  return range ? now - range[2] : undefined;
}

function filterParams(query, extra = {}) {
  const params = {};
  for (const key of FILTERS) if (query.get(key)) params[key] = query.get(key);
  return { ...params, ...extra };
}

/** "task", "workflow" or "flow" (a workflow deployed from YAML). */
function kindOf(run, runtimes) {
  return run.type === "workflow" && runtimes.get(run.name) === "flow" ? "flow" : run.type;
}

function row(run, runtimes) {
  const version = run.version ? ` <span class="muted">v${esc(run.version)}</span>` : "";
  return (
    `<tr data-href="${esc(href(`/runs/${encodeURIComponent(run.id)}`))}" data-run-id="${esc(run.id)}">` +
    `<td>${chip(run.status)}</td><td><a data-nav href="${esc(href(`/runs/${encodeURIComponent(run.id)}`))}">${esc(run.name)}</a>${version}</td>` +
    `<td>${esc(kindOf(run, runtimes))}</td><td>${esc(run.queue)}</td>` +
    `<td>${time(run.startedAt ?? run.createdAt)}</td><td>${elapsed(run.startedAt, run.finishedAt)}</td>` +
    `<td>${esc(run.attempt)}</td><td class="mono muted">${esc(run.id)} ${copy(run.id)}</td></tr>`
  );
}

function filtersForm(query) {
  const status = query.get("status") ?? "";
  const type = query.get("type") ?? "";
  const range = query.get("range") ?? "";
  return (
    '<form id="run-filters" class="row" role="search">' +
    `<input name="q" data-search placeholder="Run id or idempotency key  (press /)" value="${esc(query.get("q") ?? "")}" aria-label="Search by run id or idempotency key" size="34">` +
    `<select name="status" aria-label="Status"><option value="">any status</option>${STATUSES.map((s) => `<option ${s === status ? "selected" : ""}>${s}</option>`).join("")}</select>` +
    `<input name="name" placeholder="name" value="${esc(query.get("name") ?? "")}" aria-label="Name">` +
    `<select name="type" aria-label="Type"><option value="">any type</option>${["workflow", "task"].map((t) => `<option ${t === type ? "selected" : ""}>${t}</option>`).join("")}</select>` +
    `<select name="range" aria-label="Created"><option value="">any time</option>${RANGES.map(([key, label]) => `<option value="${key}" ${key === range ? "selected" : ""}>${label}</option>`).join("")}</select>` +
    '<button type="submit">Filter</button> <a data-nav href="/">clear</a>' +
    '<span id="live" class="muted" title="Status changes arrive over the server\'s event stream"></span></form>'
  );
}

function matches(run, query) {
  const status = query.get("status");
  const name = query.get("name");
  const type = query.get("type");
  const since = rangeStart(query);
  return (
    (!status || status.split(",").includes(run.status)) &&
    (!name || run.name === name) &&
    (!type || run.type === type) &&
    (since === undefined || run.createdAt >= since)
  );
}

/** Opens the run a search names: by id, else by idempotency key (one run per key). */
async function openSearched(text) {
  try {
    await api(`/v1/runs/${encodeURIComponent(text)}`);
    return text;
  } catch (error) {
    if (error.code !== "RUN_NOT_FOUND") throw error;
    const byKey = await api(`/v1/runs?${new URLSearchParams({ idempotencyKey: text, limit: "1" })}`);
    if (byKey.items[0]) return byKey.items[0].id;
    throw new ApiError("RUN_NOT_FOUND", `No run has the id or idempotency key "${text}" in this namespace`, 404);
  }
}

/** Renders the runs page; returns the cleanup that closes its live stream. */
export async function renderRuns(root, _params, query) {
  const searched = query.get("q")?.trim();
  if (searched) {
    // A search opens the run (or shows RUN_NOT_FOUND with its code).
    const id = await openSearched(searched);
    navigate(href(`/runs/${encodeURIComponent(id)}`), { replace: true });
    return undefined;
  }
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const key of ["status", "name", "type", "cursor"]) if (query.get(key)) params.set(key, query.get(key));
  const since = rangeStart(query);
  if (since !== undefined) params.set("since", String(since));
  const workflows = api("/v1/workflows?limit=1000").catch(() => ({ items: [] }));
  const page = await api(`/v1/runs?${params}`);
  // Filled in after the first render: only whether a workflow is a flow depends on it.
  const runtimes = new Map();
  const filtered = FILTERS.some((k) => query.get(k));
  const table =
    page.items.length === 0
      ? empty(
          filtered || query.get("cursor")
            ? 'No runs match these filters — <a data-nav href="/">clear them</a>.'
            : `No runs yet — <code>kiln start hello</code>${canWrite() ? ', or start one from <a data-nav href="/workflows">Workflows</a>' : ""}.`,
        )
      : '<table id="runs"><thead><tr><th>status</th><th>name</th><th>type</th><th>queue</th><th>started</th><th>duration</th><th>attempt</th><th>id</th></tr></thead>' +
        `<tbody>${page.items.map((r) => row(r, runtimes)).join("")}</tbody></table>`;
  const pager =
    (query.get("cursor") ? `<a data-nav href="${esc(href("/", filterParams(query)))}">← first page</a> ` : "") +
    (page.nextCursor
      ? `<a data-nav id="next-page" href="${esc(href("/", filterParams(query, { cursor: page.nextCursor })))}">next page →</a>`
      : "");
  root.innerHTML = `<h1>Runs</h1>${filtersForm(query)}<div id="runs-table">${table}</div><p class="row">${pager}</p>`;
  // bench/ui.bench.ts reads this mark: the first page of runs is in the DOM.
  if (performance.getEntriesByName("kiln:runs-rendered").length === 0) performance.mark("kiln:runs-rendered");
  root.querySelector("#run-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const next = {};
    for (const [k, v] of form) if (String(v).trim() !== "") next[k] = String(v).trim();
    navigate(href("/", next));
  });
  void workflows.then(({ items }) => {
    for (const w of items) runtimes.set(w.name, w.runtime);
    for (const tr of root.querySelectorAll("#runs tbody tr")) {
      const cell = tr.cells[2];
      if (
        cell?.textContent === "workflow" &&
        runtimes.get(tr.querySelector("td:nth-child(2) a")?.textContent) === "flow"
      ) {
        cell.textContent = "flow";
      }
    }
  });
  const live = root.querySelector("#live");
  const firstPage = !query.get("cursor");
  const stop = follow("/v1/stream?types=run", {
    run: (event) => {
      live.textContent = "● live";
      const run = event.run;
      const existing = root.querySelector(`tr[data-run-id="${CSS.escape(run.id)}"]`);
      if (existing) {
        existing.outerHTML = matches(run, query) ? row(run, runtimes) : "";
        return;
      }
      if (!firstPage || !matches(run, query)) return;
      let body = root.querySelector("#runs tbody");
      if (!body) {
        root.querySelector("#runs-table").innerHTML =
          '<table id="runs"><thead><tr><th>status</th><th>name</th><th>type</th><th>queue</th><th>started</th><th>duration</th><th>attempt</th><th>id</th></tr></thead><tbody></tbody></table>';
        body = root.querySelector("#runs tbody");
      }
      body.insertAdjacentHTML("afterbegin", row(run, runtimes));
      while (body.rows.length > PAGE_SIZE) body.lastElementChild.remove();
    },
  });
  live.textContent = "● live";
  return stop;
}
