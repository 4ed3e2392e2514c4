// Task kinds (from worker registrations) with their settings and a run form; the workers with
// heartbeat age, queues, kinds, concurrency and the runs they hold.
import { api } from "../api.js";
import { duration, empty, esc, time } from "../format.js";
import { href } from "../nav.js";
import { canWrite } from "../state.js";
import { startForm, wireStartForm } from "../start-form.js";

/** Renders the tasks and workers page (`?kind=` opens a kind's run form). */
export async function renderTasks(root, _params, query) {
  const [tasks, workers, running] = await Promise.all([
    api("/v1/tasks"),
    api("/v1/workers"),
    api("/v1/runs?status=running&limit=1000"),
  ]);
  const byWorker = new Map();
  for (const run of running.items) {
    if (run.leaseOwner) byWorker.set(run.leaseOwner, [...(byWorker.get(run.leaseOwner) ?? []), run]);
  }
  const chosen = query.get("kind");
  const kindRows = tasks.items
    .map((t) => {
      const link = href("/tasks", { kind: t.kind });
      const settings = Object.entries(t.settings)
        .filter(([, v]) => v !== null && v !== undefined && typeof v !== "object")
        .map(([k, v]) => `${esc(k)}=${esc(v)}`)
        .join(" · ");
      return `<tr data-href="${esc(link)}" class="${t.kind === chosen ? "selected" : ""}"><td><a data-nav href="${esc(link)}">${esc(t.kind)}</a></td><td>${esc(t.queues.join(", "))}</td><td class="muted mono">${settings}</td><td>${t.workers.map((w) => `${esc(w.name)}${w.alive ? "" : " (gone)"}`).join(", ")}</td></tr>`;
    })
    .join("");
  const workerRows = workers.items
    .map((w) => {
      const runs = byWorker.get(w.name) ?? [];
      return (
        `<tr><td>${esc(w.name)}</td><td>${w.alive ? '<span class="chip s-completed">alive</span>' : '<span class="chip s-failed">gone</span>'} <span title="last heartbeat">${esc(duration(w.heartbeatAgeMs))} ago</span></td>` +
        `<td>${esc(w.queues.join(", "))}</td><td>${time(w.startedAt)}</td><td>${esc(w.kinds.map((k) => k.kind).join(", "))}</td>` +
        `<td>${runs.map((r) => `<a data-nav href="${esc(href(`/runs/${encodeURIComponent(r.id)}`))}">${esc(r.name)}</a>`).join(", ") || '<span class="muted">idle</span>'}</td>` +
        `<td class="concurrency">${w.concurrency === null ? '<span class="muted">?</span>' : `${runs.length} / ${esc(w.concurrency)}`}</td><td class="muted">${esc(w.version)}</td></tr>`
      );
    })
    .join("");
  root.innerHTML =
    "<h1>Task kinds</h1>" +
    (tasks.items.length === 0
      ? empty(
          "No task kinds — add <code>tasks:</code> to kiln.yaml and start <code>kiln dev</code> or <code>kiln worker</code>.",
        )
      : `<table id="task-kinds"><thead><tr><th>kind</th><th>queues</th><th>settings</th><th>workers</th></tr></thead><tbody>${kindRows}</tbody></table>`) +
    (chosen && canWrite() ? `<h2>Run <code>${esc(chosen)}</code></h2>${startForm("start-task")}` : "") +
    '<h1 style="margin-top:24px">Workers</h1>' +
    (workers.items.length === 0
      ? empty("No workers — <code>kiln dev</code> runs one, or start <code>kiln worker</code>.")
      : `<table id="workers"><thead><tr><th>name</th><th>heartbeat</th><th>queues</th><th>started</th><th>kinds</th><th>running</th><th title="runs held / runs it executes at once">slots</th><th>version</th></tr></thead><tbody>${workerRows}</tbody></table>`);
  if (chosen && canWrite()) wireStartForm(root, "start-task", { type: "task", name: chosen, schema: null });
}
