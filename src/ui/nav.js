// Navigation and messages shared by the pages (the router in app.js registers itself here).
import { errorBox, esc } from "./format.js";
import { state } from "./state.js";

let router = () => {};

/** app.js hands over its router once. */
export function setRouter(route) {
  router = route;
}

/** A UI path with the current namespace kept in its query (deep links name their namespace). */
export function href(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  if (state.namespace && state.namespace !== state.session?.namespace && !url.searchParams.has("ns")) {
    url.searchParams.set("ns", state.namespace);
  }
  return url.pathname + url.search;
}

/** Goes to a UI path (pushes history unless `replace`). */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  void router();
}

let flashTimer;

/** Shows a short message (or an API error with its code) above the page. */
export function flash(message) {
  const box = document.getElementById("flash");
  box.innerHTML = message instanceof Error ? errorBox(message) : `<div class="muted">${esc(message)}</div>`;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => {
    box.innerHTML = "";
  }, 10_000);
}
