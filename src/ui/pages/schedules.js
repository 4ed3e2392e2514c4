// Schedules: the list (target, cron and time zone, next due, paused with its note, last run) and
// one schedule's next 5 fire times and recent fires; pause, resume and trigger for writers.
import { api } from "../api.js";
import { chip, empty, errorBox, esc, time } from "../format.js";
import { flash, href, navigate } from "../nav.js";
import { canWrite } from "../state.js";

const scheduleHref = (id) => href(`/schedules/${encodeURIComponent(id)}`);
const runLink = (runId) =>
  runId ? `<a data-nav class="mono" href="${esc(href(`/runs/${encodeURIComponent(runId)}`))}">${esc(runId)}</a>` : "";

function target(s) {
  return `<span class="muted">${esc(s.target.type)}</span> ${esc(s.target.name)}`;
}

function cron(s) {
  return `<code>${esc(s.cron)}</code> <span class="muted">${esc(s.timezone)}</span>`;
}

function pausedCell(s) {
  if (!s.paused) return '<span class="muted">active</span>';
  return `${chip("paused")}${s.note ? ` <span class="muted">${esc(s.note)}</span>` : ""}`;
}

/** The Pause/Resume and Trigger now buttons (writers only; the API checks the role too). */
function actions(s) {
  if (!canWrite()) return "";
  const toggle = s.paused
    ? `<button type="button" data-resume="${esc(s.id)}">Resume</button>`
    : `<button type="button" data-pause="${esc(s.id)}">Pause</button>`;
  return `${toggle} <button type="button" data-trigger="${esc(s.id)}">Trigger now</button>`;
}

/** Wires the action buttons inside `box`; `after` re-renders once an action worked. */
function onActions(box, after) {
  box?.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-pause], button[data-resume], button[data-trigger]");
    if (!button) return;
    const { pause, resume, trigger } = button.dataset;
    const id = pause ?? resume ?? trigger;
    button.disabled = true;
    try {
      if (pause !== undefined) {
        const note = prompt(`Pause schedule ${id}: why? (optional)`, "") ?? undefined;
        if (note === undefined) return;
        await api(`/v1/schedules/${encodeURIComponent(id)}/pause`, {
          method: "POST",
          body: note.trim() === "" ? {} : { note: note.trim() },
        });
        flash(`Schedule ${id} paused`);
      } else if (resume !== undefined) {
        await api(`/v1/schedules/${encodeURIComponent(id)}/resume`, { method: "POST" });
        flash(`Schedule ${id} resumed`);
      } else {
        const fire = await api(`/v1/schedules/${encodeURIComponent(id)}/trigger`, { method: "POST" });
        flash(fire.runId ? `Schedule ${id} triggered: run ${fire.runId}` : `Schedule ${id}: ${fire.outcome}`);
      }
      await after();
    } catch (error) {
      flash(error);
    } finally {
      button.disabled = false;
    }
  });
}

/** Renders the schedules list. */
export async function renderSchedules(root) {
  const { items } = await api("/v1/schedules");
  root.innerHTML =
    '<h1>Schedules</h1><p class="muted">Cron schedules that start runs; times are shown relative, the exact time on hover.</p>' +
    (items.length === 0
      ? empty(
          "No schedules yet — add <code>schedules:</code> to kiln.yaml or " +
            '<code>kiln schedules create nightly --cron "0 3 * * *" --workflow hello</code>.',
        )
      : '<table id="schedules"><thead><tr><th>id</th><th>target</th><th>cron</th><th>next due</th><th>state</th><th>last run</th><th>source</th><th></th></tr></thead><tbody>' +
        items
          .map(
            (s) =>
              `<tr data-href="${esc(scheduleHref(s.id))}" data-schedule-id="${esc(s.id)}">` +
              `<td><a data-nav href="${esc(scheduleHref(s.id))}">${esc(s.id)}</a></td><td>${target(s)}</td><td>${cron(s)}</td>` +
              `<td>${s.paused ? '<span class="muted">—</span>' : time(s.nextDueAt)}</td><td class="paused">${pausedCell(s)}</td>` +
              `<td>${s.lastRunId ? `${runLink(s.lastRunId)} ${time(s.lastDueAt)}` : '<span class="muted">none yet</span>'}</td>` +
              `<td class="muted">${esc(s.source)}</td><td class="actions">${actions(s)}</td></tr>`,
          )
          .join("") +
        "</tbody></table>");
  onActions(root.querySelector("#schedules"), () => renderSchedules(root));
}

function fireRow(f) {
  return (
    `<tr><td>${time(f.dueAt)}</td><td>${time(f.firedAt)}</td><td>${chip(f.outcome)}</td>` +
    `<td>${runLink(f.runId)}</td><td class="muted">${esc(f.reason ?? "")}</td></tr>`
  );
}

/** Renders one schedule: its settings, the next 5 fire times and the recent fires. */
export async function renderSchedule(root, [id]) {
  let s;
  try {
    s = await api(`/v1/schedules/${encodeURIComponent(id)}`);
  } catch (error) {
    root.innerHTML = `<h1>Schedule ${esc(id)}</h1>${errorBox(error)}<p><a data-nav href="${esc(href("/schedules"))}">← all schedules</a></p>`;
    return;
  }
  const next =
    s.nextFireTimes.length === 0
      ? empty(
          s.paused ? "Paused: no fire times until it is resumed." : "No further fire times (the schedule has ended).",
        )
      : `<ol id="next-fires">${s.nextFireTimes.map((t) => `<li>${time(t)} <span class="muted mono">${esc(new Date(t).toISOString())}</span></li>`).join("")}</ol>`;
  const fires =
    s.recentFires.length === 0
      ? empty(canWrite() ? "No fires yet — wait for the next due time or press Trigger now." : "No fires yet.")
      : '<table id="recent-fires"><thead><tr><th>due</th><th>fired</th><th>outcome</th><th>run</th><th>reason</th></tr></thead><tbody>' +
        s.recentFires.map(fireRow).join("") +
        "</tbody></table>";
  root.innerHTML =
    `<p><a data-nav href="${esc(href("/schedules"))}">← all schedules</a></p>` +
    `<h1 id="schedule-title">Schedule ${esc(s.id)}</h1>` +
    `<div class="card" id="schedule-info" data-schedule-id="${esc(s.id)}"><p>${target(s)} · ${cron(s)}</p>` +
    `<p class="paused">${pausedCell(s)}</p>` +
    `<p class="muted">overlap ${esc(s.overlap)} · catch-up ${esc(s.catchUp)} · source ${esc(s.source)}` +
    `${s.jitterMs ? ` · jitter ${esc(s.jitterMs)}ms` : ""}</p><p class="actions">${actions(s)}</p></div>` +
    `<h2>Next fire times</h2>${next}<h2>Recent fires</h2>${fires}`;
  onActions(root.querySelector("#schedule-info"), async () => {
    if (location.pathname === `/schedules/${encodeURIComponent(s.id)}`) await renderSchedule(root, [id]);
    else navigate(scheduleHref(s.id));
  });
}
