// Formatting helpers shared by the pages: escaping, times, durations, chips, copy buttons.

/** Escapes text for HTML (every interpolation of API data goes through this). */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** "12s ago" / "in 3m"; the exact time is in the title (see `time`). */
export function relative(ms, now = Date.now()) {
  const diff = Math.round((now - ms) / 1000);
  const s = Math.abs(diff);
  const text =
    s < 60
      ? `${s}s`
      : s < 3600
        ? `${Math.floor(s / 60)}m`
        : s < 86400
          ? `${Math.floor(s / 3600)}h`
          : `${Math.floor(s / 86400)}d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** A relative time with the exact ISO time on hover; app.js refreshes `[data-ts]` every second. */
export function time(ms) {
  if (ms === null || ms === undefined) return '<span class="muted">—</span>';
  return `<time data-ts="${ms}" datetime="${new Date(ms).toISOString()}" title="${new Date(ms).toISOString()}">${relative(ms)}</time>`;
}

/** "850ms", "12.3s", "4m 05s", "2h 01m". */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m}m ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** How long a run (or step) took, or has taken so far (then it ticks: data-since). */
export function elapsed(startedAt, finishedAt) {
  if (startedAt === null || startedAt === undefined) return "";
  if (finishedAt !== null && finishedAt !== undefined) return esc(duration(finishedAt - startedAt));
  return `<span data-since="${startedAt}">${esc(duration(Date.now() - startedAt))}</span>`;
}

/** A status chip coloured by status. */
export function chip(status) {
  return `<span class="chip s-${esc(status)}" data-status="${esc(status)}">${esc(status.replace("_", " "))}</span>`;
}

/** A button that copies `text` (app.js handles the click). */
export function copy(text, label = "copy") {
  return `<button type="button" class="copy" data-copy="${esc(text)}" title="Copy ${esc(text)}" aria-label="Copy ${esc(text)}">${label}</button>`;
}

/** Pretty JSON in a <pre>. */
export function json(value) {
  return `<pre>${esc(JSON.stringify(value ?? null, null, 2))}</pre>`;
}

/** An API error, shown with its code. */
export function errorBox(error) {
  return `<div class="box-error" data-error-code="${esc(error.code ?? "ERROR")}"><strong>${esc(error.code ?? "ERROR")}</strong>: ${esc(error.message)}</div>`;
}

/** An empty state that says what to do next. */
export function empty(html) {
  return `<div class="empty">${html}</div>`;
}
