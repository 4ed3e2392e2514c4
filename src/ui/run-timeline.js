// The step timeline of a run: one Gantt bar per step, drawn on the run's time axis. Sleeps,
// event waits, child runs and compensations have their own look; retries and waits are labelled.
import { duration, esc } from "./format.js";

const TYPE_LABEL = {
  step: "step",
  sleep: "sleep",
  event: "wait for event",
  child: "child run",
  compensation: "compensation",
};

function label(step) {
  const parts = [TYPE_LABEL[step.type] ?? step.type];
  if (step.type === "event") parts.push(`${step.eventName}${step.eventKey ? ` (key ${step.eventKey})` : ""}`);
  if (step.attempt > 1) parts.push(`attempt ${step.attempt}`);
  if (step.status === "failed" && step.wakeAt) parts.push("retry scheduled");
  if (step.compensable) parts.push("compensable");
  return parts.join(" · ");
}

/** The timeline's HTML for a run and its steps (`now` ends the bars of unfinished steps). */
export function timeline(run, steps, now = Date.now()) {
  if (steps.length === 0) return '<p class="muted">No steps recorded yet.</p>';
  const start = Math.min(run.startedAt ?? run.createdAt, ...steps.map((s) => s.startedAt));
  const ends = steps.map((s) => s.finishedAt ?? (s.status === "waiting" && s.wakeAt ? Math.min(s.wakeAt, now) : now));
  const end = Math.max(run.finishedAt ?? now, ...ends, start + 1);
  const span = end - start;
  const rows = steps.map((step, i) => {
    const stepEnd = ends[i];
    const left = ((step.startedAt - start) / span) * 100;
    const width = Math.max(0.3, ((stepEnd - step.startedAt) / span) * 100);
    const took = duration(stepEnd - step.startedAt) + (step.finishedAt === null ? "…" : "");
    const title = `${step.name}: ${label(step)} · ${step.status} · ${took}${step.error ? ` · ${step.error.code}: ${step.error.message}` : ""}`;
    // The label sits beside short bars, inside the track: right-aligned near the end of the axis.
    const place = left > 55 ? `right:${(100 - left - width).toFixed(2)}%;text-align:right` : `left:${left.toFixed(2)}%`;
    return (
      `<div class="muted" title="${esc(step.name)}" data-step="${esc(step.name)}">${esc(step.name)} <span class="chip s-${esc(step.status)}">${esc(step.status)}</span></div>` +
      `<div class="track" title="${esc(title)}"><div class="bar t-${esc(step.type)} st-${esc(step.status)}" data-step-type="${esc(step.type)}" style="left:${left.toFixed(2)}%;width:${width.toFixed(2)}%"></div>` +
      `<span class="bar-label" style="${place}">${esc(`${label(step)} · ${took}`)}</span></div>`
    );
  });
  return `<div class="timeline" id="timeline" aria-label="Step timeline">${rows.join("")}</div><p class="muted">0 → ${esc(duration(span))}</p>`;
}
