// linectl HMI: live figures from the HMI's /events stream (Server-Sent Events), no inline script.
// A push changes only the parts of the page whose value changed: an unchanged figure, list or
// banner is not written again, so a steady screen costs the browser no style, layout or paint
// (panels may share a small PC's cores with the line).
"use strict";
(function () {
  const lang = document.documentElement.lang || "en";
  const labels = JSON.parse(document.getElementById("labels").textContent);
  const integer = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
  const percent = new Intl.NumberFormat(lang, {
    style: "percent", minimumFractionDigits: 2, maximumFractionDigits: 2,
  });
  const banner = document.getElementById("disconnected");
  const listeners = [];
  const shown = new Map(); // what each live part shows now: field name or list id -> its key

  function fmt(value, format) {
    return value === null || value === undefined ? "–" : format.format(value);
  }
  function changed(key, value) {
    if (shown.get(key) === value) return false;
    shown.set(key, value);
    return true;
  }
  function set(name, text) {
    if (!changed(name, text)) return;
    document.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) {
      el.textContent = text;
    });
  }
  function item(cls, strong, text, detail) {
    const li = document.createElement("li");
    if (cls) li.className = cls;
    const b = document.createElement("b");
    b.textContent = strong;
    li.appendChild(b);
    li.appendChild(document.createTextNode(" " + text));
    if (detail) {
      const small = document.createElement("small");
      small.className = "detail";
      small.textContent = detail;
      li.appendChild(document.createTextNode(" "));
      li.appendChild(small);
    }
    return li;
  }
  function showDisconnected(down) {
    if (!changed("#disconnected", down)) return;
    if (banner) banner.hidden = !down;
    document.body.classList.toggle("disconnected", down);
  }

  function render(v) {
    showDisconnected(!v.connected);
    const state = v.state || "UNKNOWN";
    const stateEl = document.getElementById("state");
    if (stateEl && changed("#state", state)) stateEl.className = "state state-" + state;
    set("state", labels.states[state] || state);
    set("batch", v.batch || labels.none);
    set("speed", fmt(v.speed, integer));
    set("good", fmt(v.good, integer));
    set("reject", fmt(v.reject, integer));
    set("rate", fmt(v.rate, percent));
    set("pool", fmt(v.pool, integer));
    set("backlog", fmt(v.backlog, integer));
    if (changed("pool-low", Boolean(v.pool_low))) {
      document.querySelectorAll('[data-field="pool-low"]').forEach(function (el) {
        el.hidden = !v.pool_low;
      });
    }
    const devices = document.getElementById("devices");
    if (devices && changed("#devices", JSON.stringify(v.devices))) {
      devices.replaceChildren.apply(devices, v.devices.map(function (d) {
        return item("device-" + d.state, d.name, labels[d.state] || d.state);
      }));
    }
    const alarms = document.getElementById("alarms");
    if (alarms && changed("#alarms", JSON.stringify(v.alarms))) {
      const rows = v.alarms.map(function (a) {
        const title = labels.alarms[String(a.code).split(":")[0]] || "";
        return item(a.holds ? "holds" : "", a.code, title, a.message);
      });
      if (!rows.length) {
        const none = document.createElement("li");
        none.className = "none";
        none.textContent = labels.none;
        rows.push(none);
      }
      alarms.replaceChildren.apply(alarms, rows);
    }
    listeners.forEach(function (fn) { fn(v); });
  }

  // a live refresh (live.js) brings parts rendered by the server: write every value again
  document.addEventListener("linectl:refreshed", function () { shown.clear(); });

  window.linectlHmi = { onView: function (fn) { listeners.push(fn); }, labels: labels, lang: lang };

  // One stream per shown page. A page the browser keeps for "back" (bfcache) must not keep its
  // stream: the browser allows six connections to the HMI, and a form would wait for a seventh.
  let source = null;
  function follow() {
    source = new EventSource("/events");
    source.addEventListener("view", function (e) { render(JSON.parse(e.data)); });
    source.addEventListener("error", function () { showDisconnected(true); });
  }
  window.addEventListener("pagehide", function () { if (source) source.close(); source = null; });
  window.addEventListener("pageshow", function (e) { if (e.persisted || !source) follow(); });
  follow();

  // the language picker submits itself on touch; the button stays for keyboards
  const picker = document.getElementById("language");
  if (picker) {
    picker.addEventListener("change", function () { picker.form.submit(); });
  }
})();
