/* Machine health pages: the risk ranking, and one machine's score and RUL trends, alerts and
 * their evidence (historian raw data of the alert's tags over its evidence window, uPlot).
 *
 * Alert changes arrive live from /api/analytics/events (event "alert"); the plant clock comes
 * from /api/events. Everything put into the DOM goes through IF.h (text nodes, never HTML).
 */
"use strict";

(() => {
  const { US, page, h, getJSON, live, clock, fmtTime, fmtNumber } = IF;
  const HOUR_US = 3600 * US;
  const css = (name) => getComputedStyle(document.body).getPropertyValue(name).trim();
  const keyPath = (key) => key.split("/").map(encodeURIComponent).join("/");
  const fmtH = (v) => (v === null || v === undefined || !isFinite(v) ? "–" : `${Math.round(v)} h`);

  /** Follow alert changes; `onAlert(event)` runs for each raised, acknowledged or cleared alert. */
  function followAlerts(node, onAlert) {
    const url = "/api/analytics/events" + (node ? `?node=${encodeURIComponent(node)}` : "");
    const es = new EventSource(url);
    es.addEventListener("alert", (e) => onAlert(JSON.parse(e.data)));
    window.addEventListener("pagehide", () => es.close());
    return es;
  }

  /** Run `fn` at most once every `ms` (trailing call kept). */
  function throttle(fn, ms) {
    let last = 0, timer = null;
    return () => {
      const wait = last + ms - Date.now();
      if (wait <= 0) { last = Date.now(); fn(); }
      else if (!timer) timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, wait);
    };
  }

  // --- the plant-wide ranking ------------------------------------------------------------------

  function overview() {
    const rows = document.getElementById("risk-rows");
    const updated = document.getElementById("risk-updated");

    function render(ranking) {
      const trs = ranking.machines.map((m, i) => h("tr", { dataset: { machineKey: m.key } },
        h("td", { class: "num" }, i + 1),
        h("td", {}, h("a", { href: `/machine-health/${keyPath(m.key)}` }, m.name)),
        h("td", {}, (m.equipment_class || "–").replaceAll("_", " ")),
        h("td", {}, m.open_alerts
          ? h("span", { class: "alert-count", dataset: { unacknowledged: m.unacknowledged } },
            `${m.open_alerts} open` + (m.unacknowledged ? `, ${m.unacknowledged} not acknowledged` : ""))
          : h("span", { class: "muted" }, "none")),
        h("td", { class: "num" }, m.score_ratio === null ? "–" : m.score_ratio.toFixed(2)),
        h("td", { class: "num" }, m.rul ? `${fmtH(m.rul.rul_h)} (${Math.round(m.rul.lo_h)}–${fmtH(m.rul.hi_h)})` : "–"),
        h("td", { class: "num" }, m.risk.toFixed(2))));
      rows.replaceChildren(...trs);
      updated.textContent = `Updated ${fmtTime(ranking.now_us)}`;
    }

    async function reload() {
      try {
        render(await getJSON("/api/analytics/risk"));
      } catch (e) {
        updated.textContent = `Could not refresh: ${e.message}`;
      }
    }
    const soon = throttle(reload, 2000);
    followAlerts(null, soon);
    live("/api/events?interval_s=5", { resync: soon });
    // Scores change every minute of plant time: refresh now and then even without alerts.
    setInterval(reload, 30000);
    if (page.ranking) updated.textContent = `Updated ${fmtTime(page.ranking.now_us)}`;
  }

  // --- one machine ------------------------------------------------------------------------------

  function machinePage() {
    const machine = page.machine;
    const tags = new Map(page.tags.map((t) => [t.id, t]));
    let rangeH = 24;
    let health = page.health;
    const charts = new Map(); // element id -> uPlot
    const evidenceCharts = [];

    const axes = (yValues) => [
      { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid") },
        values: (u, splits) => splits.map((v) => fmtTime(v * US, { seconds: false, date: rangeH > 24 })) },
      { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid") },
        size: 60, values: yValues || ((u, vals) => vals.map((v) => fmtNumber(v, "float"))) },
    ];

    function hline(u, value, label) {
      const ctx = u.ctx;
      const y = Math.round(u.valToPos(value, "y", true));
      if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) return;
      ctx.save();
      ctx.strokeStyle = css("--alarm") || "#cf222e";
      ctx.fillStyle = ctx.strokeStyle;
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.font = `600 ${12 * devicePixelRatio}px system-ui, sans-serif`;
      // uPlot leaves the context aligned for its axis labels: set what this label needs.
      ctx.textAlign = "right";
      ctx.textBaseline = "bottom";
      ctx.fillText(label, u.bbox.left + u.bbox.width - 6 * devicePixelRatio, y - 3 * devicePixelRatio);
      ctx.restore();
    }

    function plot(id, opts, data) {
      const el = document.getElementById(id);
      if (!el) return;
      const old = charts.get(id);
      if (old) old.destroy();
      el.replaceChildren();
      const u = new uPlot({ width: Math.max(300, el.clientWidth - 2), height: 200,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), IF.tz), legend: { show: false }, ...opts }, data, el);
      charts.set(id, u);
    }

    function window_() { return [health.end_us - rangeH * HOUR_US, health.end_us]; }

    function drawScore() {
      const [start, end] = window_();
      const x = [], y = [];
      let prev = null;
      for (const p of health.scores) {
        // Minutes without scoring (machine stopped) are a gap, not a line across it.
        if (prev !== null && p.minute_us - prev > 2 * 60 * US) { x.push((prev + 60 * US) / US); y.push(null); }
        x.push(p.minute_us / US);
        y.push(p.ratio);
        prev = p.minute_us;
      }
      const note = document.getElementById("score-note");
      note.textContent = health.scores.length
        ? "Largest score per minute, relative to each detector's alert threshold (dashed line at 1.0)."
        : "No score yet in this range: the detectors score a machine while it executes, after a settling time.";
      plot("score-chart", {
        scales: { x: { time: true, range: () => [start / US, end / US] },
          y: { range: (u, lo, hi) => [0, Math.max(1.5, (hi || 0) * 1.1)] } },
        axes: axes(),
        series: [{}, { label: "score ÷ threshold", stroke: css("--chart-line") || "#0969da", width: 2, spanGaps: false }],
        hooks: { draw: [(u) => hline(u, 1.0, "alert threshold")] },
      }, [x, y]);
    }

    function drawRul() {
      if (!document.getElementById("rul-chart")) return;
      const [start, end] = window_();
      const pts = health.rul || [];
      const note = document.getElementById("rul-note");
      if (note) note.textContent = pts.length
        ? "Median prediction with its 10–90 % band, in hours; the dashed line is the 72 h horizon."
        : "No prediction in this range yet.";
      plot("rul-chart", {
        scales: { x: { time: true, range: () => [start / US, end / US] },
          y: { range: (u, lo, hi) => [0, Math.max(100, (hi || 0) * 1.1)] } },
        axes: axes((u, vals) => vals.map((v) => `${Math.round(v)} h`)),
        series: [{}, { label: "RUL", stroke: css("--chart-line") || "#0969da", width: 2 },
          { label: "high", stroke: "transparent", points: { show: false } },
          { label: "low", stroke: "transparent", points: { show: false } }],
        bands: [{ series: [2, 3], fill: css("--chart-band") || "rgba(9,105,218,0.16)" }],
        hooks: { draw: [(u) => hline(u, 72, "72 h horizon")] },
      }, [pts.map((p) => p.at_us / US), pts.map((p) => p.rul_h), pts.map((p) => p.hi_h), pts.map((p) => p.lo_h)]);
    }

    // --- alerts and their evidence ---

    function stateText(a) {
      return { active: "Active – not acknowledged", acknowledged: "Acknowledged", cleared: "Cleared" }[a.state] || a.state;
    }

    async function acknowledge(a, input, status) {
      status.textContent = "Saving…";
      const r = await fetch(`/api/alerts/${a.id}/acknowledge`, { method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ comment: input.value }) });
      if (r.ok) { status.textContent = ""; await reload(); return; }
      const body = await r.json().catch(() => ({}));
      status.textContent = r.status === 401 || r.status === 403
        ? "Log in as an operator, technician, quality engineer or manager to acknowledge."
        : (body.detail?.[0]?.msg || `HTTP ${r.status}`);
      status.dataset.error = "";
    }

    function alertCard(a) {
      const status = h("span", { class: "ack-status", role: "status" });
      const input = h("input", { type: "text", name: "comment", maxlength: 2000, placeholder: "What was seen or done (optional)",
        "aria-label": `Comment on alert ${a.id}` });
      const ack = a.state === "active"
        ? h("form", { class: "ack-form", onsubmit: (e) => { e.preventDefault(); acknowledge(a, input, status); } },
          input, h("button", { type: "submit" }, "Acknowledge"), status)
        : h("p", { class: "ack-done" }, `Acknowledged by ${a.acknowledged_by}` +
          (a.acknowledged_at ? ` at ${fmtTime(Date.parse(a.acknowledged_at) * 1000, { date: true })}` : "") +
          (a.ack_comment ? `: ${a.ack_comment}` : ""));
      const evidence = h("div", { class: "evidence" });
      const card = h("article", { class: "alert-card", dataset: { alertId: a.id, state: a.state } },
        h("header", {},
          h("span", { class: "alert-state", dataset: { state: a.state } }, stateText(a)),
          h("span", {}, ` raised ${fmtTime(a.raised_at_us, { date: true })} by the ${a.detector} detector, `),
          h("strong", {}, `score ${fmtNumber(a.score, "float")}`),
          h("span", {}, ` against a threshold of ${fmtNumber(a.threshold, "float")}` +
            (a.state === "cleared" ? `; peak ${a.peak_ratio.toFixed(2)} × threshold` : "") + " on "),
          h("span", { class: "mono" }, a.tags.map((t) => t.name).join(", ") || "–")),
        ack, evidence);
      for (const t of a.tags) evidence.append(evidencePanel(a, t));
      return card;
    }

    function evidencePanel(a, t) {
      const tag = tags.get(t.id) || { id: t.id, label: t.name, unit: t.unit, data_type: "float" };
      const chart = h("div", { class: "evidence-chart" });
      const panel = h("figure", { class: "evidence-panel", dataset: { tagId: t.id } },
        h("figcaption", {}, `${t.name}${t.unit ? ` (${t.unit})` : ""}: evidence ${fmtTime(a.window_start_us)} – ${fmtTime(a.window_end_us)}`),
        chart);
      loadEvidence(a, tag, chart);
      return panel;
    }

    async function loadEvidence(a, tag, el) {
      const start = a.window_start_us;
      // Show until now for an open alert (is it still going on?), else to the end of the window.
      const until = a.state === "cleared" ? a.window_end_us : Math.max(a.window_end_us, clock.now_us);
      const end = Math.max(until, start + 60 * US) + 1;
      const span = end - start;
      let x, y;
      try {
        if (span <= 2 * HOUR_US) {
          const r = await getJSON(`/api/history/raw?tag_id=${tag.id}&start_us=${start}&end_us=${end}&limit=20000`);
          x = r.ts.map((v) => v / US);
          y = r.values;
        } else {
          const bucket = Math.ceil(span / US / 600);
          const r = await getJSON(`/api/history/aggregate?tag_id=${tag.id}&start_us=${start}&end_us=${end}&bucket_s=${bucket}`);
          x = r.start.map((s) => (s + r.bucket_us / 2) / US);
          y = r.twa;
        }
      } catch (e) {
        el.replaceChildren(h("p", { class: "error-text" }, `Evidence could not be loaded: ${e.message}`));
        return;
      }
      const u = new uPlot({
        width: Math.max(280, el.clientWidth - 2), height: 140, legend: { show: false },
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), IF.tz),
        scales: { x: { time: true, range: () => [start / US, end / US] } },
        axes: [
          { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 },
            values: (uu, splits) => splits.map((v) => fmtTime(v * US, { seconds: span <= HOUR_US })) },
          { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, size: 60,
            values: (uu, vals) => vals.map((v) => fmtNumber(v, "float")) },
        ],
        series: [{}, { label: tag.label || tag.name, stroke: css("--chart-line") || "#0969da", width: 1.5, spanGaps: false }],
        hooks: { drawClear: [(uu) => {
          // The alert: shaded from its raise to the end of the evidence, a line at the raise.
          const ctx = uu.ctx;
          const x0 = uu.valToPos(a.raised_at_us / US, "x", true);
          // An open alert is still going on: shade to the right edge.
          const x1 = a.state === "cleared"
            ? uu.valToPos(Math.max(a.window_end_us, a.raised_at_us + US) / US, "x", true)
            : uu.bbox.left + uu.bbox.width;
          ctx.save();
          ctx.fillStyle = css("--alarm-bg") || "#ffebe9";
          ctx.fillRect(x0, uu.bbox.top, Math.max(2, x1 - x0), uu.bbox.height);
          ctx.strokeStyle = css("--alarm") || "#cf222e";
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(x0, uu.bbox.top);
          ctx.lineTo(x0, uu.bbox.top + uu.bbox.height);
          ctx.stroke();
          ctx.restore();
        }] },
      }, [x, y], el);
      evidenceCharts.push(u);
    }

    function renderAlerts() {
      for (const u of evidenceCharts.splice(0)) u.destroy();
      const box = document.getElementById("open-alerts");
      const open = health.open_alerts;
      box.dataset.count = String(open.length);
      box.replaceChildren(...(open.length ? open.map(alertCard)
        : [h("p", { class: "muted", dataset: { role: "no-alerts" } },
          "No open alert: the detectors see this machine behave as they learnt it.")]));
    }

    async function reload() {
      const end = Math.floor(clock.now_us || health.end_us) + 1;
      try {
        health = await getJSON(`/api/analytics/health?machine=${encodeURIComponent(machine.key)}` +
          `&start_us=${end - rangeH * HOUR_US}&end_us=${end}`);
      } catch (e) {
        document.getElementById("ack-status").textContent = `Could not refresh: ${e.message}`;
        return;
      }
      renderAlerts();
      drawScore();
      drawRul();
    }

    for (const b of document.querySelectorAll("[data-range-h]")) {
      b.addEventListener("click", () => {
        rangeH = Number(b.dataset.rangeH);
        for (const o of document.querySelectorAll("[data-range-h]")) o.setAttribute("aria-pressed", String(o === b));
        reload();
      });
    }
    for (const el of document.querySelectorAll("time.js-time")) {
      el.textContent = el.dataset.us && el.dataset.us !== "None" ? fmtTime(Number(el.dataset.us), { date: true }) : "–";
    }
    renderAlerts();
    drawScore();
    drawRul();
    const soon = throttle(reload, 1000);
    followAlerts(machine.key, soon);
    live(`/api/events?node=${encodeURIComponent(machine.key)}&interval_s=5`, { resync: soon });
    // The trend grows by a point a minute of plant time: refresh now and then.
    setInterval(reload, 30000);
  }

  if (page.view === "overview") overview();
  else if (page.view === "machine") machinePage();
})();
