// linectl HMI: the batch, aggregation, alarms, audit and rejects screens follow the line live.
// Each pushed view names, per screen, the version of the HMI's picture at its last change; when
// this screen's is newer than the page, the page's live parts ([data-live]) are fetched again
// from the HMI (rendered, translated and escaped by the server) and swapped in. Forms are not
// live parts, so nothing typed is lost; text typed into a live part is carried over.
"use strict";
(function () {
  const hmi = window.linectlHmi;
  const page = document.body.dataset.page;
  if (!hmi || !document.querySelector("[data-live]")) return;
  const GAP_MS = 500; // at most two refreshes a second, whatever the line does
  let shown = Number(document.body.dataset.version || "0");
  let wanted = shown;
  let busy = false;
  let timer = null;
  let lastAt = 0;

  function later() {
    timer = setTimeout(refresh, Math.max(0, lastAt + GAP_MS - Date.now()));
  }

  function typed(root) {
    const kept = new Map();
    root.querySelectorAll("input[type=text], textarea").forEach(function (input) {
      if (!input.value && input !== document.activeElement) return;
      const row = input.closest("[data-key]");
      const key = (row ? row.dataset.key : "") + "|" + input.name;
      kept.set(key, { value: input.value, focused: input === document.activeElement });
    });
    return kept;
  }

  function restore(root, kept) {
    root.querySelectorAll("input[type=text], textarea").forEach(function (input) {
      const row = input.closest("[data-key]");
      const was = kept.get((row ? row.dataset.key : "") + "|" + input.name);
      if (!was) return;
      input.value = was.value;
      if (was.focused) input.focus();
    });
  }

  function swap(html) {
    const fresh = new DOMParser().parseFromString(html, "text/html");
    if (fresh.body.dataset.page !== page) return false; // logged out, or another page
    document.querySelectorAll("[data-live]").forEach(function (part) {
      const next = fresh.getElementById(part.id);
      if (!next) return;
      const kept = typed(part);
      const adopted = document.importNode(next, true);
      part.replaceWith(adopted);
      restore(adopted, kept);
    });
    shown = Number(fresh.body.dataset.version || shown);
    document.body.dataset.version = String(shown);
    document.body.dataset.refreshed = String(Date.now());
    document.dispatchEvent(new CustomEvent("linectl:refreshed"));
    return true;
  }

  function refresh() {
    timer = null;
    if (busy || wanted <= shown) return;
    busy = true;
    lastAt = Date.now();
    const asked = wanted;
    fetch(location.pathname + location.search, {
      headers: { "X-HMI-Live": "1" }, credentials: "same-origin", cache: "no-store",
    }).then(function (r) {
      if (r.redirected && new URL(r.url).pathname === "/login") {
        location.assign(r.url); // logged out (idle): show why
        return null;
      }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html && !swap(html)) shown = asked;
    }).catch(function () { /* the stream says when the HMI is back */ })
      .finally(function () {
        busy = false;
        if (wanted > shown) later();
      });
  }

  hmi.onView(function (v) {
    if (!v.connected || !v.screens) return; // keep what is shown; the banner says why
    const version = v.screens[page] || 0;
    if (version <= shown) return;
    wanted = Math.max(wanted, version);
    if (!busy && timer === null) later();
  });
})();
