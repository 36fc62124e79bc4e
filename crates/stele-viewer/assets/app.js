// Stele viewer: progressive behaviour only. Every page works without it (links and GET
// forms carry the state); this adds keyboard navigation (j/k, Enter), the SCIM page's
// error details toggles and JSON dialogs. Loaded as a module from /assets (CSP: 'self').

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
