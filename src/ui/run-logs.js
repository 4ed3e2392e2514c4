// A run's log view: levels coloured, `::group::` … `::endgroup::` sections folded (stored as
// "▸ title" and "◂ title" lines), following new lines while scrolled down.
import { esc } from "./format.js";

/** Appends log entries to a `.logs` element, keeping the view at the bottom if it was there. */
export class LogView {
  constructor(element) {
    this.element = element;
    this.group = null;
    this.lastSeq = 0;
  }

  /** Shows a note until the first line arrives. */
  placeholder(text) {
    this.element.innerHTML = `<span class="muted placeholder">${esc(text)}</span>`;
  }

  /** Adds entries it has not shown yet (by seq). */
  append(entries) {
    if (entries.length > 0) this.element.querySelector(".placeholder")?.remove();
    const atBottom = this.element.scrollTop + this.element.clientHeight >= this.element.scrollHeight - 8;
    for (const entry of entries) {
      if (entry.seq <= this.lastSeq) continue;
      this.lastSeq = entry.seq;
      const text = `${new Date(entry.ts).toISOString().slice(11, 23)} ${entry.stepName ? `[${entry.stepName}] ` : ""}${entry.message}`;
      if (entry.message.startsWith("▸ ")) {
        const details = document.createElement("details");
        details.open = true;
        details.innerHTML = `<summary>${esc(entry.message.slice(2))}</summary>`;
        this.element.append(details);
        this.group = details;
        continue;
      }
      if (entry.message.startsWith("◂ ")) {
        this.group = null;
        continue;
      }
      const line = document.createElement("div");
      line.className = `line l-${entry.level}`;
      line.dataset.level = entry.level;
      line.textContent = `${entry.level === "info" ? "" : `${entry.level.toUpperCase()} `}${text}`;
      (this.group ?? this.element).append(line);
    }
    if (atBottom) this.element.scrollTop = this.element.scrollHeight;
  }
}
