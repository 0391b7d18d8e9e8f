// linectl HMI, rejects screen: Pareto of reject reasons and reject rate over time (plotly.js),
// redrawn from the live view at most once a second; tap an image to zoom it (the list
// itself is refreshed by live.js).
"use strict";
(function () {
  const hmi = window.linectlHmi;
  const pareto = document.getElementById("pareto");
  const rate = document.getElementById("rate-chart");
  const config = {
    displayModeBar: false, responsive: true, staticPlot: false, locale: localeFor(hmi.lang),
  };
  let lastDraw = 0;

  // plotly.js from PyPI carries no locales: the chart's month and day names come from the
  // browser's own Intl for the user's language, so the time axis reads like the rest
  function localeFor(lang) {
    if (lang === "en") return lang; // plotly's own; registering it again would replace it
    function names(count, option, style, date) {
      return Array.from({ length: count }, function (_, i) {
        return new Intl.DateTimeFormat(lang, { [option]: style }).format(date(i));
      });
    }
    const month = function (i) { return new Date(2026, i, 1); };
    const day = function (i) { return new Date(2026, 0, 4 + i); }; // 4 Jan 2026: a Sunday
    Plotly.register({
      moduleType: "locale", name: lang, dictionary: {},
      format: {
        months: names(12, "month", "long", month), shortMonths: names(12, "month", "short", month),
        days: names(7, "weekday", "long", day), shortDays: names(7, "weekday", "short", day),
      },
    });
    return lang;
  }
  let lastReasons = "";
  let lastRate = "";

  // one listener for every image, also those a live refresh brings
  document.addEventListener("click", function (e) {
    if (e.target.classList && e.target.classList.contains("reject-image")) {
      e.target.classList.toggle("zoomed");
    }
  });

  function drawPareto(reasons) {
    const entries = Object.entries(reasons).sort(function (a, b) { return b[1] - a[1]; });
    const total = entries.reduce(function (s, e) { return s + e[1]; }, 0);
    let running = 0;
    const names = entries.map(function (e) { return hmi.labels.reasons[e[0]] || e[0]; });
    const counts = entries.map(function (e) { return e[1]; });
    const cumulative = entries.map(function (e) { running += e[1]; return total ? running / total : 0; });
    Plotly.react(pareto, [
      { type: "bar", x: names, y: counts, marker: { color: "#c62828" }, name: pareto.dataset.title },
      { type: "scatter", mode: "lines+markers", x: names, y: cumulative, yaxis: "y2",
        name: pareto.dataset.cumulative, line: { color: "#1d2733" } },
    ], {
      margin: { t: 10, r: 60, b: 80, l: 50 }, showlegend: false, font: { size: 16 },
      yaxis: { rangemode: "tozero" },
      yaxis2: { overlaying: "y", side: "right", range: [0, 1.05], tickformat: ".0%" },
      separators: new Intl.NumberFormat(hmi.lang).format(1.5).charAt(1) + "\u202f",
    }, config);
  }

  function drawRate(series) {
    Plotly.react(rate, [{
      type: "scatter", mode: "lines+markers", name: rate.dataset.title,
      x: series.map(function (p) { return new Date(p.at * 1000); }),
      y: series.map(function (p) { return p.rate; }),
      line: { color: "#c62828" },
    }], {
      margin: { t: 10, r: 20, b: 50, l: 60 }, font: { size: 16 },
      yaxis: { tickformat: ".1%", rangemode: "tozero" },
    }, config);
  }

  hmi.onView(function (v) {
    const now = Date.now();
    if (now - lastDraw < 1000) return;
    const reasons = JSON.stringify(v.reasons);
    const series = JSON.stringify(v.rate_series);
    if (reasons !== lastReasons) { drawPareto(v.reasons); lastReasons = reasons; }
    if (series !== lastRate) { drawRate(v.rate_series); lastRate = series; }
    lastDraw = now;
  });
})();
