/* SPC chart page: the control chart (uPlot) with limits, spec band and rule violations marked,
 * the dispersion chart, the violations table and capability. Rule selection refetches. */
"use strict";

(() => {
  const { page, h, getJSON, fmtTime } = IF;
  const ch = page.characteristic;
  const base = `/api/quality/characteristics/${ch.id}`;
  const boxes = [...document.querySelectorAll("#rule-picker input[type=checkbox]")];
  const summary = document.getElementById("spc-summary");
  const DISPERSION = { r: "Range (R)", s: "Standard deviation (S)", mr: "Moving range (MR)" };
  const css = getComputedStyle(document.body);
  const color = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const LINE = color("--chart-line", "#0969da");
  const ALARM = color("--alarm", "#cf222e");
  const MUTED = color("--muted", "#6e7781");
  let plots = [];

  const fmt = (v) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toPrecision(6).replace(/\.?0+$/, ""));
  const selected = () => boxes.filter((b) => b.checked).map((b) => b.value);

  function axisValues(_u, ticks) { return ticks.map((t) => fmtTime(t * 1e6, { seconds: false })); }

  function makePlot(el, title, xs, series, height) {
    const opts = {
      width: el.clientWidth || 900,
      height,
      legend: { show: true },
      scales: { x: { time: false } },
      axes: [{ values: axisValues, stroke: MUTED }, { stroke: MUTED, size: 70 }],
      series: [{ label: "time", value: (_u, v) => (v === null ? "–" : fmtTime(v * 1e6, { date: true })) }, ...series.map((s) => s.opts)],
    };
    return new uPlot(opts, [xs, ...series.map((s) => s.data)], el);
  }

  function limitSeries(label, data, dash, stroke) {
    return { opts: { label, stroke, dash, width: 1, points: { show: false }, value: (_u, v) => fmt(v) }, data };
  }

  function draw(chart) {
    for (const p of plots) p.destroy();
    plots = [];
    const main = document.getElementById("spc-chart");
    const disp = document.getElementById("spc-dispersion");
    main.replaceChildren();
    disp.replaceChildren();
    if (!chart.values.length) {
      main.append(h("p", { class: "muted" }, "Not enough measurements for a chart yet (the baseline needs at least two subgroups)."));
      return;
    }
    const xs = chart.ts_us.map((t) => t / 1e6);
    const marked = new Array(chart.values.length).fill(null);
    for (const v of chart.violations) marked[v.index] = chart.values[v.index];
    const n = chart.values.length;
    const flat = (v) => new Array(n).fill(v === null || v === undefined ? null : v);
    const series = [
      { opts: { label: ch.chart === "imr" ? "value" : "X̄", stroke: LINE, width: 1.5, points: { show: true, size: 4 }, value: (_u, v) => fmt(v) }, data: chart.values },
      { opts: { label: "violation", stroke: ALARM, width: 0, paths: () => null, points: { show: true, size: 9, fill: ALARM, stroke: ALARM }, value: (_u, v) => fmt(v) }, data: marked },
      limitSeries("UCL", chart.limits.ucl, [6, 4], ALARM),
      limitSeries("CL", chart.limits.center, [], MUTED),
      limitSeries("LCL", chart.limits.lcl, [6, 4], ALARM),
    ];
    if (chart.usl !== null) series.push(limitSeries("USL", flat(chart.usl), [2, 3], "#8250df"));
    if (chart.lsl !== null) series.push(limitSeries("LSL", flat(chart.lsl), [2, 3], "#8250df"));
    plots.push(makePlot(main, "chart", xs, series, 320));
    if (chart.dispersion_kind && chart.dispersion_limits) {
      document.getElementById("dispersion-title").textContent = DISPERSION[chart.dispersion_kind] || chart.dispersion_kind;
      plots.push(makePlot(disp, "dispersion", xs, [
        { opts: { label: chart.dispersion_kind.toUpperCase(), stroke: LINE, width: 1.2, points: { show: true, size: 3 }, value: (_u, v) => fmt(v) }, data: chart.dispersion },
        limitSeries("UCL", chart.dispersion_limits.ucl, [6, 4], ALARM),
        limitSeries("CL", chart.dispersion_limits.center, [], MUTED),
        limitSeries("LCL", chart.dispersion_limits.lcl, [6, 4], ALARM),
      ], 180));
    }
  }

  function table(chart) {
    const body = document.getElementById("viol-rows");
    const rows = chart.violations.slice().reverse().map((v) => h("tr", {},
      h("td", { class: "nowrap" }, fmtTime(v.ts_us, { date: true })),
      h("td", {}, h("span", { class: "mono" }, v.rule), " ", v.description),
      h("td", { class: "num" }, fmt(chart.values[v.index])),
      h("td", { class: "num" }, String(v.points.length))));
    body.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No selected rule fires on the points in view."))]));
  }

  async function load() {
    const rules = selected();
    const query = rules.length ? "?" + rules.map((r) => `rule=${encodeURIComponent(r)}`).join("&") : "?rule=";
    try {
      const chart = await getJSON(base + "/chart" + (rules.length ? query : ""));
      if (!rules.length) chart.violations = [];
      draw(chart);
      table(chart);
      summary.textContent = chart.values.length
        ? `${chart.values.length} points · σ̂ ${fmt(chart.sigma_hat)} · ${chart.violations.length} violation${chart.violations.length === 1 ? "" : "s"}`
        : "No chart yet";
    } catch (err) {
      summary.textContent = "";
      document.getElementById("spc-chart").replaceChildren(h("p", { class: "load-error" }, `Could not load the chart: ${err.message}`));
    }
  }

  async function capability() {
    const dl = document.getElementById("capability");
    try {
      const c = await getJSON(base + "/capability");
      const item = (label, v, low) => [h("dt", {}, label), h("dd", { "data-low": v !== null && low !== undefined && v < low }, fmt(v))];
      dl.replaceChildren(
        ...item("Cp", c.cp, 1.33), ...item("Cpk", c.cpk, 1.33), ...item("Pp", c.pp, 1.33), ...item("Ppk", c.ppk, 1.33),
        ...item("mean", c.mean), ...item("σ within", c.sigma_within), ...item("σ overall", c.sigma_overall), ...item("n", c.n));
    } catch (err) {
      dl.replaceChildren(h("dt", {}, "–"), h("dd", { class: "muted" }, "Not enough measurements."));
    }
  }

  for (const b of boxes) b.addEventListener("change", load);
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => plots.forEach((p) => p.setSize({ width: p.root.parentElement.clientWidth, height: p.height })), 150);
  });
  load();
  capability();
  setInterval(load, 30000); // new measurements arrive from tags and operators
})();
