// Stele viewer: progressive behaviour only. Every page works without it (links and GET
// forms carry the state); this adds keyboard navigation (j/k, Enter), the SCIM page's
// error details toggles and JSON dialogs. Loaded as a module from /assets (CSP: 'self').
// On the event page it loads verify.js (the browser-side Verify button).

function rows(table) {
  return Array.from(table.querySelectorAll("tbody tr[data-href]"));
}

function focusRow(table, index) {
  const all = rows(table);
  if (all.length === 0) return;
  const i = Math.max(0, Math.min(all.length - 1, index));
  all.forEach((r) => r.classList.remove("current"));
  const row = all[i];
  row.classList.add("current");
  row.setAttribute("tabindex", "-1");
  row.focus({ preventScroll: false });
  row.scrollIntoView({ block: "nearest" });
}

function currentIndex(table) {
  return rows(table).findIndex((r) => r.classList.contains("current"));
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName));
}

document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey || typing(e.target) || document.querySelector("dialog[open]")) return;
  const table = document.querySelector("table[data-keynav]");
  if (!table) return;
  if (e.key === "j") {
    focusRow(table, currentIndex(table) + 1);
    e.preventDefault();
  } else if (e.key === "k") {
    focusRow(table, Math.max(0, currentIndex(table) - 1));
    e.preventDefault();
  } else if (e.key === "Enter") {
    const i = currentIndex(table);
    if (i >= 0 && e.target === rows(table)[i]) {
      window.location.assign(rows(table)[i].dataset.href);
      e.preventDefault();
    }
  }
});

document.addEventListener("click", (e) => {
  const target = e.target instanceof Element ? e.target : null;
  if (!target) return;
  const toggle = target.closest("[data-toggle]");
  if (toggle) {
    const box = document.getElementById(toggle.dataset.toggle);
    if (box) {
      const open = box.hidden;
      box.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
    }
    return;
  }
  const opener = target.closest("[data-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.dialog);
    if (dialog instanceof HTMLDialogElement) dialog.showModal();
    return;
  }
  const closer = target.closest("[data-close]");
  if (closer) {
    closer.closest("dialog")?.close();
    return;
  }
  if (target instanceof HTMLDialogElement) target.close(); // a click on the backdrop
});

// The Live page: follows the server's stream of rendered rows and puts each new one at the
// top of the table (built with textContent only: nothing from an event becomes markup).
// EventSource reconnects by itself and resends the last seq it saw, so no row is lost.
const MAX_LIVE_ROWS = 500;

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function liveRow(r) {
  const tr = document.createElement("tr");
  tr.dataset.href = r.href;
  tr.className = "fresh";
  const when = document.createElement("td");
  when.className = "nowrap";
  const link = document.createElement("a");
  link.href = r.href;
  const time = document.createElement("time");
  time.dateTime = r.time_iso;
  time.textContent = r.time;
  link.append(time);
  when.append(link);
  const status = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = "badge " + r.status_class;
  badge.textContent = r.status;
  status.append(badge);
  tr.append(when, cell(r.action, "mono"), cell(r.actor), cell(r.target), status, cell(r.message, "msg"));
  return tr;
}

function follow(table) {
  const body = table.tBodies[0];
  const status = document.querySelector("[data-live-status]");
  const say = (text, state) => {
    if (!status) return;
    status.dataset.state = state;
    const label = status.querySelector("[data-live-text]");
    if (label) label.textContent = text;
  };
  const source = new EventSource(table.dataset.live);
  source.addEventListener("open", () => say("Live: new events appear at the top.", "live"));
  source.addEventListener("ready", () => say("Live: new events appear at the top.", "live"));
  source.addEventListener("event", (e) => {
    let row;
    try {
      row = JSON.parse(e.data);
    } catch {
      return;
    }
    body.querySelector("tr[data-empty]")?.remove();
    body.prepend(liveRow(row));
    while (body.rows.length > MAX_LIVE_ROWS) body.deleteRow(-1);
  });
  source.addEventListener("error", (e) => {
    if (e.data) {
      // The server ended the stream (shutting down, or this page fell too far behind).
      let detail = "";
      try {
        detail = JSON.parse(e.data).detail || "";
      } catch {}
      say("Paused: " + detail, "paused");
      return;
    }
    say(source.readyState === EventSource.CLOSED ? "Disconnected; reload the page." : "Reconnecting…", "paused");
  });
}

const live = document.querySelector("table[data-live]");
if (live && "EventSource" in window) follow(live);

// The event page's Verify button lives in its own module, loaded only where it is used.
if (document.querySelector("[data-verify]")) {
  import(`./verify.js${new URL(import.meta.url).search}`);
}

// Events page: the histogram and facets count every matching event, so the page is painted
// with its rows first and they arrive from /events/summary (server-rendered, auto-escaped
// HTML of the same read), put in place here.
const summaryBox = document.querySelector("[data-summary-href]");
if (summaryBox) {
  fetch(summaryBox.dataset.summaryHref, { credentials: "same-origin", headers: { accept: "text/html" } })
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`the server answered ${r.status}`))))
    .then((html) => {
      const doc = new DOMParser().parseFromString(html, "text/html");
      summaryBox.replaceChildren(...Array.from(doc.body.childNodes).map((n) => document.importNode(n, true)));
      summaryBox.removeAttribute("aria-busy");
    })
    .catch((e) => {
      const hint = summaryBox.querySelector(".counting");
      if (hint) hint.textContent = `The counts could not be loaded (${e.message}).`;
      summaryBox.removeAttribute("aria-busy");
    });
}
