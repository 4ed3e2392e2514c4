// The run detail page: state, progress, input/output/error, the step timeline, the flow graph,
// live logs, child and parent runs, and the actions the session's role allows.
import { api, follow } from "../api.js";
import { flowGraph } from "../flow-graph.js";
import { chip, copy, elapsed, errorBox, esc, json, time } from "../format.js";
import { flash, href } from "../nav.js";
import { LogView } from "../run-logs.js";
import { timeline } from "../run-timeline.js";
import { canWrite } from "../state.js";

const TERMINAL = new Set(["completed", "failed", "cancelled", "compensated", "timed_out"]);
const RETRYABLE = new Set(["failed", "cancelled", "compensated", "timed_out"]);

function runLink(id) {
  return `<a data-nav href="${esc(href(`/runs/${encodeURIComponent(id)}`))}" class="mono">${esc(id)}</a>`;
}

function progressBar(progress) {
  if (!progress) return "";
  const percent = progress.percent ?? 0;
  return (
    `<div class="row"><div class="progress" style="flex:1" role="progressbar" aria-valuenow="${esc(percent)}" aria-valuemin="0" aria-valuemax="100" id="progress">` +
    `<div style="width:${Math.min(100, Math.max(0, percent))}%"></div></div><span>${esc(progress.percent === null ? "" : `${percent}%`)} ${esc(progress.message ?? "")}</span></div>`
  );
}

/** The event the run waits for: its open `event` step, if any. */
function openWait(steps) {
  return steps.find((s) => s.type === "event" && s.status === "waiting");
}

function actions(run, steps) {
  if (!canWrite()) return "";
  const buttons = [];
  if (!TERMINAL.has(run.status) && run.status !== "cancelling" && run.status !== "compensating") {
    buttons.push('<button type="button" class="danger" data-action="cancel">Cancel</button>');
  }
  if (RETRYABLE.has(run.status)) {
    buttons.push('<button type="button" class="primary" data-action="retry">Retry</button>');
    const named = steps.filter((s) => s.type !== "compensation");
    if (named.length > 0) {
      buttons.push(
        `<select id="retry-from" aria-label="Retry from step">${named.map((s) => `<option>${esc(s.name)}</option>`).join("")}</select>` +
          '<button type="button" data-action="retry-from">Retry from step</button>',
      );
    }
  }
  const wait = openWait(steps);
  if (wait) {
    buttons.push(
      `<span class="muted">waits for <code>${esc(wait.eventName)}</code>${wait.eventKey ? ` key <code>${esc(wait.eventKey)}</code>` : ""}</span>` +
        '<input id="event-payload" class="mono" aria-label="Event payload (JSON)" value="{}" size="30">' +
        '<button type="button" data-action="send-event">Send event</button>',
    );
  }
  return buttons.length > 0 ? `<div class="row" id="actions">${buttons.join(" ")}</div>` : "";
}

function summary(run) {
  const rows = [
    ["id", `<span class="mono">${esc(run.id)}</span> ${copy(run.id)}`],
    ["type", `${esc(run.type)}${run.version ? ` · version ${esc(run.version)}` : ""}`],
    ["queue", esc(run.queue)],
    ["attempt", esc(run.attempt)],
    ["created", time(run.createdAt)],
    ["started", time(run.startedAt)],
    ["duration", elapsed(run.startedAt, run.finishedAt)],
  ];
  if (run.idempotencyKey) rows.push(["idempotency key", `<span class="mono">${esc(run.idempotencyKey)}</span>`]);
  if (run.parentRunId)
    rows.push([
      "parent",
      `${runLink(run.parentRunId)} <span class="muted">step ${esc(run.parentStepName ?? "")}</span>`,
    ]);
  if (run.leaseOwner && !TERMINAL.has(run.status)) rows.push(["worker", esc(run.leaseOwner)]);
  if (run.availableAt && ["queued", "sleeping", "waiting"].includes(run.status))
    rows.push(["wakes", time(run.availableAt)]);
  return `<dl class="kv">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

/** Child runs: those listed at load, and those started since (their `child` steps). */
function childList(listed, steps) {
  const known = new Set(listed.map((c) => c.id));
  // The child's step follows it live; the listed status is only as fresh as the page.
  const stepStatus = new Map(steps.filter((s) => s.childRunId).map((s) => [s.childRunId, s.status]));
  const items = listed.map((c) => `<li>${chip(stepStatus.get(c.id) ?? c.status)} ${esc(c.name)} ${runLink(c.id)}</li>`);
  for (const s of steps) {
    if (s.childRunId && !known.has(s.childRunId))
      items.push(`<li>${chip(s.status)} ${esc(s.name)} ${runLink(s.childRunId)}</li>`);
  }
  return items.length === 0 ? '<p class="muted">None.</p>' : `<ul>${items.join("")}</ul>`;
}

/** Renders a run; returns the cleanup that closes its live stream. */
export async function renderRun(root, [id]) {
  const path = `/v1/runs/${encodeURIComponent(id)}`;
  const [first, children, logs] = await Promise.all([
    api(path),
    api(`/v1/runs?parentRunId=${encodeURIComponent(id)}&limit=100`),
    api(`${path}/logs?limit=10000`),
  ]);
  let run = first;
  const steps = new Map(first.steps.map((s) => [s.name, s]));
  const graph = await flowGraph(run);
  root.innerHTML =
    `<p><a data-nav href="${esc(href("/"))}">← runs</a></p>` +
    '<h1 id="run-title"></h1><div id="run-actions"></div><div id="run-progress"></div><div id="run-error"></div>' +
    '<div class="grid2"><div><h2>Run</h2><div id="run-summary"></div></div><div><h2>Input</h2><div id="run-input"></div><h2>Output</h2><div id="run-output"></div></div></div>' +
    `<h2>Step timeline</h2><div id="run-timeline"></div>` +
    (graph ? '<h2>Flow graph</h2><div id="run-graph" class="graph"></div>' : "") +
    '<h2>Child runs</h2><div id="run-children"></div>' +
    '<h2>Logs <span class="muted" id="log-state"></span></h2><div class="logs" id="logs" tabindex="0" aria-label="Logs"></div>';
  const logView = new LogView(root.querySelector("#logs"));
  logView.append(logs.items);
  if (logs.items.length === 0) logView.placeholder(TERMINAL.has(run.status) ? "No log lines." : "No log lines yet.");
  const logState = root.querySelector("#log-state");
  let followAgain = () => {};
  let shownActions = null;
  const paint = () => {
    const list = [...steps.values()].sort((a, b) => a.seq - b.seq);
    root.querySelector("#run-title").innerHTML = `${esc(run.name)} ${chip(run.status)}`;
    // Re-rendered only when it changes, so a payload being typed survives live updates.
    const actionsHtml = actions(run, list);
    if (actionsHtml !== shownActions) {
      shownActions = actionsHtml;
      root.querySelector("#run-actions").innerHTML = actionsHtml;
    }
    root.querySelector("#run-progress").innerHTML = progressBar(run.progress);
    root.querySelector("#run-error").innerHTML = run.error ? errorBox(run.error) : "";
    root.querySelector("#run-summary").innerHTML = summary(run);
    root.querySelector("#run-input").innerHTML = json(run.input);
    root.querySelector("#run-output").innerHTML =
      run.output === null ? '<p class="muted">None yet.</p>' : json(run.output);
    root.querySelector("#run-timeline").innerHTML = timeline(run, list);
    if (graph) root.querySelector("#run-graph").innerHTML = graph.render(list);
    root.querySelector("#run-children").innerHTML = childList(children.items, list);
    logState.textContent = TERMINAL.has(run.status) ? "" : "following…";
    if (TERMINAL.has(run.status)) logView.element.querySelector(".placeholder")?.replaceChildren("No log lines.");
  };
  paint();
  root.querySelector("#run-actions").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    button.disabled = true;
    try {
      const action = button.dataset.action;
      if (action === "send-event") {
        const wait = openWait([...steps.values()]);
        const payload = JSON.parse(root.querySelector("#event-payload").value || "null");
        const sent = await api("/v1/events", {
          method: "POST",
          body: { name: wait.eventName, ...(wait.eventKey ? { key: wait.eventKey } : {}), payload },
        });
        flash(sent.deliveredTo ? `Event delivered to ${sent.deliveredTo}` : "Event buffered (no run waited for it)");
      } else if (action === "retry-from") {
        run = await api(`${path}/retry`, {
          method: "POST",
          body: { fromStep: root.querySelector("#retry-from").value },
        });
        flash(`Retrying from step ${root.querySelector("#retry-from")?.value ?? ""}`);
      } else {
        run = await api(`${path}/${action}`, { method: "POST", body: {} });
        flash(action === "cancel" ? `Cancel requested: ${run.status}` : `Retry queued: attempt ${run.attempt}`);
      }
      if (action.startsWith("retry")) {
        // A retry forgets steps (all, or from one on): reload them.
        const fresh = await api(path);
        steps.clear();
        for (const s of fresh.steps) steps.set(s.name, s);
        run = fresh;
      }
      paint();
      followAgain();
    } catch (error) {
      flash(error instanceof SyntaxError ? Object.assign(error, { code: "INVALID_JSON" }) : error);
      button.disabled = false;
    }
  });
  // The run's stream ends when the run does: open it while the run is live, again after a retry.
  let stop = null;
  const startFollowing = () => {
    if (stop !== null || TERMINAL.has(run.status)) return;
    stop = follow(`/v1/stream?runId=${encodeURIComponent(id)}&after=${logView.lastSeq}`, {
      run: (event) => {
        run = event.run;
        paint();
        if (TERMINAL.has(run.status)) stopFollowing();
      },
      step: (event) => {
        steps.set(event.step.name, event.step);
        paint();
      },
      progress: (event) => {
        run = { ...run, progress: event.progress };
        root.querySelector("#run-progress").innerHTML = progressBar(run.progress);
      },
      log: (event) => logView.append([event.log]),
    });
  };
  const stopFollowing = () => {
    stop?.();
    stop = null;
  };
  followAgain = startFollowing;
  startFollowing();
  return stopFollowing;
}
