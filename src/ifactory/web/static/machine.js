/* Machine page: live tag values, trend charts (uPlot) and the state timeline over one range. */
"use strict";

(() => {
  const { US, page, h, getJSON, renderValue, renderState, renderSince, clock, live,
    fmtTime, fmtDuration, fmtNumber, STATE_LABELS, STATE_ORDER } = IF;
  const machine = page.machine;
  const tags = new Map(page.tags.map((t) => [t.id, t]));
  const keyPath = machine.key.split("/").map(encodeURIComponent).join("/");
  // Beyond one hour raw points get too many to draw: use one-minute aggregates instead.
  const RAW_MAX_S = 3600;
  const BUCKET_S = 60;
  const RANGES = [900, 3600, 28800];

  const head = document.querySelector(".machine-head");
  const valueEls = new Map();
  for (const el of document.querySelectorAll(".value[data-tag-id]")) {
    const id = Number(el.dataset.tagId);
    if (!valueEls.has(id)) valueEls.set(id, []);
    valueEls.get(id).push(el);
  }
  const updatedEls = new Map(
    [...document.querySelectorAll("[data-updated-tag-id]")].map((el) => [Number(el.dataset.updatedTagId), el]));
  const lastTs = new Map(); // tag id -> timestamp of the latest value

  // --- what is shown: range and tags, kept in the URL so a view can be shared ----------------

  const params = new URLSearchParams(location.search);
  let rangeS = RANGES.includes(Number(params.get("range"))) ? Number(params.get("range")) : RANGES[0];
  const boxes = [...document.querySelectorAll(".tag-picker input[type=checkbox]")];
  if (params.has("tags")) {
    const wanted = new Set(params.get("tags").split(",").map(Number));
    for (const b of boxes) b.checked = wanted.has(Number(b.value));
  }
  const selected = () => boxes.filter((b) => b.checked).map((b) => Number(b.value));
  // A fixed window [start_us, end_us) from a link (an alert's or a work order's evidence) is
  // shown as it was, not sliding with the clock, until a range button goes back to live.
  const fixedStart = Number(params.get("start_us"));
  const fixedEnd = Number(params.get("end_us"));
  let fixed = params.has("start_us") && params.has("end_us") && Number.isFinite(fixedStart) &&
    Number.isFinite(fixedEnd) && fixedEnd > fixedStart ? [fixedStart, fixedEnd] : null;

  function saveView() {
    const win = fixed ? `&start_us=${fixed[0]}&end_us=${fixed[1]}` : "";
    history.replaceState(null, "", `${location.pathname}?range=${rangeS}&tags=${selected().join(",")}${win}`);
  }

  const windowUs = () => (fixed ? fixed : [clock.now_us - rangeS * US, clock.now_us]);
  const spanS = () => (fixed ? (fixed[1] - fixed[0]) / US : rangeS);
  const aggregated = () => spanS() > RAW_MAX_S;

  // --- times of a window: bare within the site's today, dated otherwise --------------------
  // Re-evaluated on every render: "today" comes from the page's clock and moves on with it.

  const siteDay = (us) => fmtTime(us, { date: true, seconds: false }).slice(0, 10);
  /** True unless [start, end] lies within the site's today: bare times would be ambiguous. */
  function needsDates([start, end]) {
    const today = siteDay(clock.now_us);
    return siteDay(start) !== today || siteDay(end) !== today;
  }

  /** "14:05 – 18:05" within the site's today; otherwise with dates: "2026-11-23 22:00 – 2026-11-24 02:00". */
  function fmtWindow(win) {
    const [start, end] = win;
    const hm = { seconds: false };
    if (!needsDates(win)) return `${fmtTime(start, hm)} – ${fmtTime(end, hm)}`;
    const endText = siteDay(end) === siteDay(start) ? fmtTime(end, hm) : fmtTime(end, { date: true, seconds: false });
    return `${fmtTime(start, { date: true, seconds: false })} – ${endText}`;
  }

  /** Time-axis labels ("14:00"); outside today the date goes under the first tick and each new day's. */
  function tickLabels(ticksUs, win) {
    const dated = needsDates(win);
    let day = null;
    return ticksUs.map((us) => {
      const time = fmtTime(us, { seconds: false });
      if (!dated || siteDay(us) === day) return time;
      day = siteDay(us);
      return `${time}\n${day}`;
    });
  }

  // --- live values ----------------------------------------------------------------------

  function renderUpdated(id) {
    const el = updatedEls.get(id);
    const ts = lastTs.get(id);
    if (!el || !ts) return;
    const tag = tags.get(id);
    const age = clock.now_us - ts;
    // Stale: no new sample for many sample intervals (and longer than the stream's own step).
    const stale = age > Math.max(10 * tag.sample_interval_s * US, 3 * clock.step_us);
    el.textContent = fmtTime(ts) + (stale ? ` (${fmtDuration(age)} ago)` : "");
    el.toggleAttribute("data-stale", stale);
  }

  function applyValues(msg) {
    for (const v of msg.values || []) {
      const tag = tags.get(v.tag_id);
      if (!tag) continue;
      for (const el of valueEls.get(v.tag_id) || []) renderValue(el, tag, v);
      if (v.ts_us) {
        lastTs.set(v.tag_id, v.ts_us);
        renderUpdated(v.tag_id);
      }
      const panel = panels.get(v.tag_id);
      if (panel && v.ts_us && v.value !== null) appendPoint(panel, v.ts_us, v.value);
    }
  }

  // --- trend charts: one small chart per tag, sharing the time axis and the cursor ----------

  const trendEl = document.getElementById("trend");
  const noteEl = document.getElementById("trend-note");
  const panels = new Map(); // tag id -> {tag, el, plot, data}
  const css = (name) => getComputedStyle(document.body).getPropertyValue(name).trim();

  function emptyData() { return { x: [], y: [], min: [], max: [], n: [] }; }

  /** Raw points with a null wherever samples are missing for long, so gaps show as gaps. */
  function rawData(tag, ts, values) {
    const d = emptyData();
    const gap = gapUs(tag);
    for (let i = 0; i < ts.length; i++) {
      if (i > 0 && ts[i] - ts[i - 1] > gap) { d.x.push((ts[i - 1] + 1) / US); d.y.push(null); }
      d.x.push(ts[i] / US);
      d.y.push(values[i]);
    }
    return d;
  }
  // Missing samples for five intervals make a gap: the line is not drawn across it.
  const gapUs = (tag) => 5 * tag.sample_interval_s * US;

  function aggData(a) {
    // Each bucket is drawn at its middle; empty buckets carry nulls, which uPlot draws as gaps.
    const half = a.bucket_us / 2;
    return { x: a.start.map((s) => (s + half) / US), y: a.twa, min: a.min, max: a.max, n: a.count };
  }

  function appendPoint(p, tsUs, value) {
    const d = p.data;
    if (p.agg) {
      // Fold the live value into the current one-minute bucket (a plain mean of the live
      // samples until the next reload brings the exact time-weighted average).
      const bucket = BUCKET_S * US;
      const x = (Math.floor(tsUs / bucket) * bucket + bucket / 2) / US;
      const i = d.x.length - 1;
      if (i >= 0 && d.x[i] === x && d.y[i] !== null) {
        d.n[i] = (d.n[i] || 1) + 1;
        d.y[i] += (value - d.y[i]) / d.n[i];
        d.min[i] = Math.min(d.min[i] ?? value, value);
        d.max[i] = Math.max(d.max[i] ?? value, value);
      } else if (i < 0 || x > d.x[i]) {
        d.x.push(x); d.y.push(value); d.min.push(value); d.max.push(value); d.n.push(1);
      }
    } else {
      const last = lastRawUs(p);
      if (last !== null && tsUs <= last) return;
      // The stream carries only the latest sample of each tag; when samples were skipped
      // (a demo running faster than real time, a slow connection) fetch them, so the live
      // end of the chart has the same resolution as its history.
      if (last !== null && tsUs - last > 1.5 * p.tag.sample_interval_s * US) {
        fetchTail(p);
        return;
      }
      pushRaw(p, tsUs, value);
    }
    redraw(p);
  }

  function lastRawUs(p) {
    const x = p.data.x;
    return x.length ? Math.round(x[x.length - 1] * US) : null;
  }

  function pushRaw(p, tsUs, value) {
    const last = lastRawUs(p);
    if (last !== null && tsUs <= last) return;
    if (last !== null && tsUs - last > gapUs(p.tag)) { p.data.x.push((last + 1) / US); p.data.y.push(null); }
    p.data.x.push(tsUs / US);
    p.data.y.push(value);
  }

  async function fetchTail(p) {
    if (p.tailLoading || p.agg !== false) return;
    p.tailLoading = true;
    const seq = p.seq;
    try {
      const start = lastRawUs(p) + 1;
      const r = await getJSON(`/api/history/raw?tag_id=${p.tag.id}&start_us=${start}` +
        `&end_us=${Math.floor(clock.now_us) + 1}&limit=50000`);
      // A full reload that started meanwhile has the same points: keep its result.
      if (seq === p.seq && !p.agg) {
        for (let i = 0; i < r.ts.length; i++) if (r.values[i] !== null) pushRaw(p, r.ts[i], r.values[i]);
        redraw(p);
      }
    } catch (e) {
      console.warn(e);
    } finally {
      p.tailLoading = false;
    }
  }

  function trim(p) {
    // Keep only what the window shows (plus one point so the line enters from the left edge).
    const lo = windowUs()[0] / US;
    let k = 0;
    while (k < p.data.x.length - 1 && p.data.x[k + 1] < lo) k++;
    if (k > 0) for (const key of Object.keys(p.data)) p.data[key].splice(0, k);
  }

  function uplotData(p) {
    const d = p.data;
    return p.agg ? [d.x, d.y, d.max, d.min] : [d.x, d.y];
  }

  function redraw(p) {
    if (!p.plot) return;
    trim(p);
    p.plot.setData(uplotData(p), true);
    if (!p.hovering) showLatest(p);
  }

  function showCursor(p, idx) {
    p.hovering = idx !== null && idx !== undefined && p.data.y[idx] !== null && p.data.y[idx] !== undefined;
    if (!p.hovering) { showLatest(p); return; }
    const d = p.data;
    let text = `${fmtTime(d.x[idx] * US, { date: needsDates(windowUs()) })}: ${fmtNumber(d.y[idx], p.tag.data_type)}`;
    if (p.agg && d.min[idx] !== null) text += ` (${fmtNumber(d.min[idx], "float")} – ${fmtNumber(d.max[idx], "float")})`;
    p.latest.textContent = `${text}${p.tag.unit ? " " + p.tag.unit : ""}`;
    p.latest.dataset.cursor = "";
  }

  function showLatest(p) {
    const y = p.data.y;
    let last = null;
    for (let i = y.length - 1; i >= 0; i--) if (y[i] !== null) { last = y[i]; break; }
    p.latest.textContent = last === null ? "" : `${fmtNumber(last, p.tag.data_type)}${p.tag.unit ? " " + p.tag.unit : ""}`;
    delete p.latest.dataset.cursor;
  }

  /** Tick labels with one number of decimals for the whole axis, as fine as the tick step. */
  function axisLabels(vals) {
    const step = vals.length > 1 ? Math.abs(vals[1] - vals[0]) : 1;
    const decimals = step >= 1 || !step ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
    return vals.map((v) => (v === null ? "" : v.toLocaleString("en-GB",
      { minimumFractionDigits: decimals, maximumFractionDigits: decimals })));
  }

  function limitLines(tag) {
    const l = tag.limits || {};
    return [["alarm_high", l.alarm_high], ["alarm_low", l.alarm_low]].filter(([, v]) => v !== null && v !== undefined);
  }

  function makePlot(p) {
    const tag = p.tag;
    const lines = limitLines(tag);
    const line = css("--chart-line") || "#0969da";
    const series = [
      { value: (u, v) => (v === null ? "–" : fmtTime(v * US, { date: needsDates(windowUs()) })) },
      {
        label: p.agg ? `${tag.label} (1-min time-weighted avg)` : tag.label,
        stroke: line, width: 2, spanGaps: false,
        value: (u, v) => (v === null ? "–" : `${fmtNumber(v, "float")} ${tag.unit}`),
      },
    ];
    if (p.agg) {
      for (const name of ["max", "min"]) {
        series.push({ label: name, stroke: "transparent", width: 0, points: { show: false }, spanGaps: false,
          value: (u, v) => (v === null ? "–" : fmtNumber(v, "float")) });
      }
    }
    const opts = {
      width: Math.max(300, trendEl.clientWidth - 2),
      height: 150,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), IF.tz),
      cursor: { sync: { key: "trend" }, drag: { x: false, y: false } },
      // The caption shows the value under the cursor instead of uPlot's legend table.
      legend: { show: false },
      scales: {
        x: { time: true, range: () => windowUs().map((v) => v / US) },
        y: {
          range: (u, lo, hi) => {
            // Keep the alarm limits in view: how far a value is from its limit is the point.
            for (const [, v] of lines) { lo = lo === null ? v : Math.min(lo, v); hi = hi === null ? v : Math.max(hi, v); }
            if (lo === null || hi === null) return [0, 1];
            const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
            // Padding never reaches past the engineering range (no negative speeds).
            const l = tag.limits || {};
            const bottom = l.low !== null && l.low !== undefined && lo >= l.low ? Math.max(lo - pad, l.low) : lo - pad;
            const top = l.high !== null && l.high !== undefined && hi <= l.high ? Math.min(hi + pad, l.high) : hi + pad;
            return bottom < top ? [bottom, top] : [lo - pad, hi + pad];
          },
        },
      },
      axes: [
        { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid") },
          // 24-hour site time, dated as the timeline's ticks are (two lines: room for them, and
          // ticks far enough apart that a date fits under each).
          space: () => (needsDates(windowUs()) ? 80 : 50),
          size: () => (needsDates(windowUs()) ? 56 : 40),
          values: (u, splits) => {
            const labels = tickLabels(splits.map((v) => v * US), windowUs());
            p.chartEl.dataset.timeTicks = labels.join(" | ").replaceAll("\n", " ");
            return labels;
          } },
        { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid") },
          size: 64, values: (u, vals) => axisLabels(vals) },
      ],
      series,
      bands: p.agg ? [{ series: [2, 3], fill: css("--chart-band") || "rgba(9,105,218,0.15)" }] : [],
      hooks: {
        setCursor: [(u) => showCursor(p, u.cursor.idx)],
        draw: [(u) => {
          // Alarm limits as dashed lines, labelled, so an excursion is obvious at a glance.
          const ctx = u.ctx;
          const plate = css("--surface") || "#fff";
          ctx.save();
          ctx.strokeStyle = css("--alarm") || "#cf222e";
          ctx.fillStyle = ctx.strokeStyle;
          ctx.setLineDash([6, 4]);
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.font = `600 ${12 * devicePixelRatio}px system-ui, sans-serif`;
          for (const [name, v] of lines) {
            const y = Math.round(u.valToPos(v, "y", true));
            ctx.beginPath();
            ctx.moveTo(u.bbox.left, y);
            ctx.lineTo(u.bbox.left + u.bbox.width, y);
            ctx.stroke();
            // Label at the right end, on a plate so it stays readable over the data line.
            const text = `alarm ${name === "alarm_high" ? ">" : "<"} ${v}`;
            const w = ctx.measureText(text).width;
            const x = u.bbox.left + u.bbox.width - w - 6 * devicePixelRatio;
            const ty = y + (name === "alarm_high" ? -7 : 16) * devicePixelRatio;
            ctx.fillStyle = plate;
            ctx.fillRect(x - 3 * devicePixelRatio, ty - 12 * devicePixelRatio, w + 6 * devicePixelRatio, 15 * devicePixelRatio);
            ctx.fillStyle = ctx.strokeStyle;
            ctx.fillText(text, x, ty);
          }
          ctx.restore();
        }],
      },
    };
    p.plot = new uPlot(opts, uplotData(p), p.chartEl);
  }

  async function loadPanel(p) {
    const [start, end] = windowUs();
    const agg = aggregated();
    const seq = (p.seq = (p.seq || 0) + 1);
    const q = `tag_id=${p.tag.id}&start_us=${Math.floor(start)}&end_us=${Math.floor(end) + 1}`;
    let data;
    try {
      if (agg) {
        data = aggData(await getJSON(`/api/history/aggregate?${q}&bucket_s=${BUCKET_S}`));
      } else {
        const r = await getJSON(`/api/history/raw?${q}&limit=50000`);
        data = rawData(p.tag, r.ts, r.values);
      }
      p.error.textContent = "";
    } catch (e) {
      p.error.textContent = "History could not be loaded; showing live values only.";
      data = emptyData();
    }
    // A newer load (another range chosen meanwhile) wins over this one.
    if (seq !== p.seq || !panels.has(p.tag.id)) return;
    p.data = data;
    if (p.plot && p.agg === agg) {
      redraw(p);
      return;
    }
    p.agg = agg;
    if (p.plot) p.plot.destroy();
    makePlot(p);
    redraw(p);
  }

  function syncPanels() {
    const want = selected();
    for (const [id, p] of panels) {
      if (!want.includes(id)) { if (p.plot) p.plot.destroy(); p.el.remove(); panels.delete(id); }
    }
    for (const id of want) {
      if (panels.has(id)) continue;
      const tag = tags.get(id);
      const latest = h("span", { class: "trend-latest" });
      const error = h("p", { class: "trend-error", role: "status" });
      const chartEl = h("div", { class: "trend-chart" });
      const el = h("figure", { class: "trend-panel", dataset: { tagId: id } },
        h("figcaption", {}, h("span", { class: "trend-label" }, tag.label),
          tag.unit ? h("span", { class: "u" }, ` ${tag.unit}`) : null, latest),
        error, chartEl);
      const p = { tag, el, chartEl, latest, error, plot: null, data: emptyData(), agg: null, seq: 0 };
      panels.set(id, p);
      loadPanel(p);
    }
    // Keep the panels in the order of the checkbox list.
    for (const id of want) trendEl.append(panels.get(id).el);
    noteEl.textContent = want.length === 0 ? "Choose tags above to draw them." :
      aggregated() ? "Line: 1-minute time-weighted average; band: minimum to maximum in each minute; gaps: no data." :
      "Raw samples; gaps: no data. Dashed red lines: alarm limits.";
  }

  for (const b of boxes) b.addEventListener("change", () => { syncPanels(); saveView(); });
  new ResizeObserver(() => {
    const w = Math.max(300, trendEl.clientWidth - 2);
    for (const p of panels.values()) if (p.plot && p.plot.width !== w) p.plot.setSize({ width: w, height: 150 });
  }).observe(trendEl);

  // --- state timeline ----------------------------------------------------------------------

  const timelineEl = document.getElementById("timeline");
  const axisEl = document.getElementById("timeline-axis");
  const rangeEl = document.getElementById("timeline-range");
  const summaryBody = document.querySelector("#state-summary tbody");
  let intervals = [];

  let statesSeq = 0;
  async function loadStates() {
    const [start, end] = windowUs();
    const now = clock.now_us;
    const seq = ++statesSeq;
    try {
      const r = await getJSON(`/api/machines/${keyPath}/states?start_us=${Math.floor(start)}&end_us=${Math.floor(end)}`);
      if (seq !== statesSeq) return; // a newer load (another range) is on its way
      intervals = r.intervals.map((i) => ({ ...i }));
      // The last interval is still open when it runs up to "now": it grows with the clock. Only
      // a window reaching the present (live, or fixed and ending later) can show that; the server
      // cuts every interval at the window's end, so ending there is not enough.
      const last = intervals[intervals.length - 1];
      if (last && end >= now && last.end_us >= now - clock.step_us && last.state === head.dataset.state) last.open = true;
      renderSummary(r.summary);
    } catch (e) {
      summaryBody.replaceChildren(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "State history could not be loaded.")));
    }
    renderTimeline();
    scheduleStates(statesRefreshMs());
  }

  /** Reload the totals once the window has slid by 1 % of its width (2-30 s of wall time). */
  function statesRefreshMs() {
    return Math.min(30000, Math.max(2000, (1000 * 0.01 * spanS() * US) / Math.max(clock.step_us, 1)));
  }

  /**
   * "14:05:12 – 14:07:40" within the site's today; a segment not within it is dated by the same
   * rule as the window (needsDates), the end only when it falls on another day than the start.
   */
  function segmentTimes(iv, openEnd) {
    const dated = needsDates([iv.start_us, iv.open ? openEnd : iv.end_us]);
    const startText = fmtTime(iv.start_us, { date: dated });
    if (iv.open) return `${startText} – now`;
    return `${startText} – ${fmtTime(iv.end_us, { date: dated && siteDay(iv.end_us) !== siteDay(iv.start_us) })}`;
  }

  // Steps between the timeline's ticks, finest first; past the last, whole numbers of days.
  const TICK_STEPS_S = [120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const measureCtx = document.createElement("canvas").getContext("2d");

  function* tickSteps(finest) {
    for (const s of TICK_STEPS_S) if (s * US >= finest) yield s * US;
    // Endless, but a step longer than the window has one tick or none, which always fits.
    for (let days = 2; ; days *= 2) yield days * 86400 * US;
  }

  /**
   * The timeline's ticks and their labels: as close as the span asks for (every 2 min in 15 min,
   * every hour in 8 h), further apart where the axis is too narrow for their labels (a phone).
   */
  function timelineTicks(start, end) {
    const span = end - start;
    const s = span / US;
    const finest = (s <= 900 ? 120 : s <= 3600 ? 600 : s <= 28800 ? 3600 : s <= 172800 ? 21600 : 86400) * US;
    const widthPx = axisEl.clientWidth;
    const style = getComputedStyle(axisEl);
    measureCtx.font = style.font;
    const gapPx = parseFloat(style.fontSize) / 2;
    const labelPx = (label) => Math.max(...label.split("\n").map((line) => measureCtx.measureText(line).width));
    for (const step of tickSteps(finest)) {
      const at = [];
      for (let t = Math.ceil(start / step) * step; t <= end; t += step) at.push(t);
      const labels = tickLabels(at, [start, end]);
      // A label is centred on its tick, but near an end it runs inward from it: neighbours need
      // the wider one's width and half the other's between their ticks, plus a gap.
      const apartPx = (step / span) * widthPx;
      const widths = labels.map(labelPx);
      const fit = widths.every((w, i) => i === 0 || apartPx >= Math.max(w, widths[i - 1]) + Math.min(w, widths[i - 1]) / 2 + gapPx);
      if (fit || !widthPx) return { at, labels }; // not laid out: nothing to measure against
    }
  }

  function renderTimeline() {
    const [start, end] = windowUs();
    const span = end - start;
    // An open segment runs up to now; a fixed window may reach past it, into the future.
    const openEnd = Math.min(end, clock.now_us);
    const segs = [];
    for (const iv of intervals) {
      const a = Math.max(iv.start_us, start);
      const b = Math.min(iv.open ? openEnd : iv.end_us, end);
      if (b <= a) continue;
      const label = STATE_LABELS[iv.state] || iv.state;
      const width = ((b - a) / span) * 100;
      segs.push(h("div", {
        class: "seg", dataset: { state: iv.state },
        style: `left:${((a - start) / span) * 100}%;width:${width}%`,
        title: `${label}: ${segmentTimes(iv, openEnd)} (${fmtDuration((iv.open ? openEnd : iv.end_us) - iv.start_us)})`,
      }, width > 9 ? h("span", {}, label) : null));
    }
    timelineEl.replaceChildren(...segs);
    const rangeText = fmtWindow([start, end]);
    timelineEl.setAttribute("aria-label", `Machine states, ${rangeText}`);
    rangeEl.textContent = rangeText;
    // Ticks on round times of the site clock.
    const { at, labels } = timelineTicks(start, end);
    axisEl.classList.toggle("dated", labels.some((l) => l.includes("\n")));
    axisEl.replaceChildren(...at.map((t, i) => {
      const pos = ((t - start) / span) * 100;
      // Labels near an end run inward from their tick, so a dated one stays inside the panel.
      const edge = pos < 8 ? "start" : pos > 92 ? "end" : null;
      return h("span", { style: `left:${pos}%`, dataset: edge ? { edge } : {} }, labels[i]);
    }));
  }

  function renderSummary(summary) {
    const secs = summary.seconds || {};
    const total = Object.values(secs).reduce((a, b) => a + b, 0);
    const rows = STATE_ORDER.filter((s) => secs[s] > 0).map((s) => h("tr", {},
      h("th", { scope: "row" }, h("span", { class: "state-badge", dataset: { state: s } }, STATE_LABELS[s])),
      h("td", { class: "num" }, fmtDuration(secs[s] * US)),
      h("td", { class: "num" }, total ? `${((100 * secs[s]) / total).toFixed(1)} %` : "–"),
      h("td", { class: "num" }, fmtDuration((summary.planned_seconds?.[s] || 0) * US)),
      h("td", { class: "num" }, String(summary.counts?.[s] ?? "–"))));
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No state recorded in this range.")));
    summaryBody.replaceChildren(...rows);
  }

  // The ticks follow the axis's width (a phone turned sideways), also when no clock tick comes.
  // Watched on the bar above it, as wide, whose height does not change with its content.
  new ResizeObserver(() => renderTimeline()).observe(timelineEl);

  function applyState(change) {
    if (change.machine_id !== machine.id) return;
    renderState(head, change.state, change.at_us, change.planned);
    const last = intervals[intervals.length - 1];
    if (last) { last.end_us = change.at_us; last.open = false; }
    intervals.push({ state: change.state, start_us: change.at_us, end_us: change.at_us, open: true });
    renderTimeline();
    scheduleStates(1000);
  }

  let statesTimer = null;
  function scheduleStates(ms) {
    clearTimeout(statesTimer);
    statesTimer = setTimeout(loadStates, ms);
  }

  // --- range, clock and refresh --------------------------------------------------------------

  const rangeButtons = [...document.querySelectorAll(".range-picker button")];
  const fixedNote = document.getElementById("fixed-window");
  const fixedRange = document.getElementById("fixed-window-range");
  function renderFixedNote() {
    if (!fixedNote) return;
    fixedNote.hidden = !fixed;
    // Re-rendered with the clock: "today" moves on, and a window of today becomes yesterday's.
    if (fixed && fixedRange) fixedRange.textContent = fmtWindow(fixed);
  }

  function setRange(s) {
    rangeS = s;
    for (const b of rangeButtons) b.setAttribute("aria-pressed", String(!fixed && Number(b.dataset.range) === s));
    renderFixedNote();
    for (const p of panels.values()) loadPanel(p);
    syncPanels();
    loadStates();
  }
  for (const b of rangeButtons) {
    b.addEventListener("click", () => { fixed = null; setRange(Number(b.dataset.range)); saveView(); });
  }

  clock.onTick(() => {
    renderSince(head);
    renderFixedNote();
    renderTimeline();
    for (const p of panels.values()) redraw(p);
    for (const id of lastTs.keys()) renderUpdated(id);
  });

  // Live values arrive about once a second, which in a fast demo is one sample in many: reload
  // history now and then so the chart gets its full resolution back.
  // Aggregates fold live values into a plain mean; a reload now and then brings back the
  // exact time-weighted averages (and any point a lost connection missed).
  setInterval(() => { for (const p of panels.values()) loadPanel(p); }, 30000);

  async function refreshStatus() {
    try {
      const rows = await getJSON("/api/machines");
      const row = rows.find((r) => r.id === machine.id);
      if (row) renderState(head, row.state, row.since_us, row.planned);
    } catch (e) { console.warn(e); }
  }

  setRange(rangeS);
  renderSince(head);
  live(`/api/events?node=${encodeURIComponent(machine.key)}`, {
    values: applyValues, state: applyState,
    resync: () => { refreshStatus(); loadStates(); },
  });
})();
