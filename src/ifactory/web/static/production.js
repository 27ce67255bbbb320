/* Production pages: live OEE per line, six-loss waterfall and trend, downtime Pareto with reason
 * assignment, orders list and detail. Everything goes into the DOM through IF.h (textContent /
 * setAttribute), never innerHTML.
 */
"use strict";

(() => {
  const { h, getJSON, page, fmtTime, fmtDuration, US } = window.IF;
  const SVG = "http://www.w3.org/2000/svg";
  const LOSS_LABELS = {
    breakdown: "Breakdowns", setup: "Setup & adjustment", minor_stop: "Minor stops",
    reduced_speed: "Reduced speed", process_defect: "Process defects", startup_reject: "Start-up rejects",
  };
  const LOSS_ORDER = Object.keys(LOSS_LABELS);
  const params = new URLSearchParams(location.search);

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }

  const pct = (r) => (r && r.value !== null && r.value !== undefined ? `${(r.value * 100).toFixed(1)} %` : "n/a");
  const level = (r) => (!r || r.value === null ? "" : r.value >= 0.85 ? "good" : r.value >= 0.6 ? "warn" : "bad");
  const hours = (sec) => fmtDuration(Math.abs(sec) * US) + (sec < 0 ? " (faster than ideal)" : "");
  const ratioTitle = (r) => (r && r.value === null ? r.reason : r && r.flag ? r.flag : "");

  async function fetchOr(url, fallback) {
    const r = await fetch(url, { headers: { Accept: "application/json" } });
    if (r.status === 401) throw new Error("Log in to see production data.");
    if (!r.ok) {
      if (fallback) return fallback();
      throw new Error(`${url}: HTTP ${r.status}`);
    }
    return r.json();
  }

  function status(id, text, isError) {
    const el = document.getElementById(id);
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("error-text", !!isError);
  }

  // --- OEE --------------------------------------------------------------------------------

  function apq(res) {
    return h("div", { class: "apq" },
      h("span", { title: ratioTitle(res.availability) }, h("b", {}, "Availability"), pct(res.availability)),
      h("span", { title: ratioTitle(res.effectiveness) }, h("b", {}, "Performance"), pct(res.effectiveness), res.effectiveness.flag ? " ⚠" : ""),
      h("span", { title: ratioTitle(res.quality_ratio) }, h("b", {}, "Quality"), pct(res.quality_ratio)));
  }

  function lineCard(line) {
    const res = line.result;
    const rows = line.machines.map((m) => h("tr", {},
      h("td", {}, h("a", { href: `/production/oee?node=${encodeURIComponent(m.key)}` }, m.key.split("/").pop())),
      h("td", { class: "num", title: ratioTitle(m.result.oee) }, pct(m.result.oee)),
      h("td", { class: "num" }, pct(m.result.availability)),
      h("td", { class: "num" }, pct(m.result.effectiveness)),
      h("td", { class: "num" }, pct(m.result.quality_ratio))));
    return h("section", { class: "panel oee-card" },
      h("h2", {}, h("a", { href: `/production/oee?node=${encodeURIComponent(line.key)}` }, line.key.split("/").pop().replace(/_/g, " "))),
      h("div", { class: "muted" }, `${line.label} · target ${(line.target * 100).toFixed(0)} %`),
      h("div", { class: "oee-big", dataset: { level: level(res.oee) }, title: ratioTitle(res.oee) }, pct(res.oee)),
      apq(res),
      h("table", { class: "data" },
        h("thead", {}, h("tr", {}, h("th", {}, "Machine"), h("th", { class: "num" }, "OEE"), h("th", { class: "num" }, "A"), h("th", { class: "num" }, "P"), h("th", { class: "num" }, "Q"))),
        h("tbody", {}, rows)));
  }

  async function loadLines() {
    const box = document.getElementById("oee-lines");
    try {
      const lines = await fetchOr("/api/production/oee/live", async () => {
        // Live OEE not running in this process: compute this shift from the history.
        return Promise.all((page.lines || []).map((l) => getJSON(`/api/production/oee/${l.key}`).then((x) => ({ ...x, label: "this shift" }))));
      });
      box.replaceChildren(...lines.map(lineCard));
      status("oee-status", `Updated ${fmtTime(window.IF.clock.now_us || page.now_us)} (plant time); refreshes every 10 s.`);
    } catch (e) {
      status("oee-status", e.message, true);
    }
  }

  function waterfall(res) {
    const pbt = res.time_s.pbt;
    const steps = [{ label: "Planned busy time", value: pbt, kind: "base" }];
    for (const k of LOSS_ORDER) steps.push({ label: LOSS_LABELS[k], value: -res.losses_s[k], kind: res.losses_s[k] < 0 ? "neg" : "loss" });
    if (res.time_s.no_data > 0) steps.push({ label: "No data", value: -res.time_s.no_data, kind: "loss" });
    steps.push({ label: "Fully productive", value: res.fully_productive_s, kind: "good", total: true });
    const W = 640, rowH = 26, left = 170, right = 120;
    const max = Math.max(pbt, 1, ...steps.map((x) => Math.abs(x.value)));
    const scale = (v) => (v / max) * (W - left - right);
    const svg = s("svg", { class: "bars", viewBox: `0 0 ${W} ${steps.length * rowH + 8}`, width: "100%", role: "img", "aria-label": "Six big losses waterfall" });
    let acc = 0;
    steps.forEach((st, i) => {
      const y = i * rowH + 4;
      let x0, x1;
      if (st.kind === "base" || st.total) { x0 = 0; x1 = st.value; acc = st.kind === "base" ? st.value : acc; }
      else { x0 = acc + st.value; x1 = acc; acc += st.value; }
      const a = Math.min(x0, x1), b = Math.max(x0, x1);
      svg.append(s("text", { x: left - 6, y: y + 16, "text-anchor": "end" }, st.label));
      svg.append(s("rect", { x: left + scale(a), y, width: Math.max(1, scale(b - a)), height: rowH - 6, class: st.kind },
        s("title", {}, `${st.label}: ${hours(st.value)}`)));
      svg.append(s("text", { x: left + scale(b) + 6, y: y + 16 }, st.kind === "base" || st.total || st.value === 0 ? hours(st.value) : `−${hours(-st.value)}`));
    });
    return svg;
  }

  function trend(series) {
    const W = 640, H = 200, pad = 28;
    const svg = s("svg", { class: "bars", viewBox: `0 0 ${W} ${H + 20}`, width: "100%", role: "img", "aria-label": "OEE trend" });
    const n = Math.max(series.length, 1);
    const bw = (W - pad) / n;
    const y = (v) => H - Math.min(v, 1.2) / 1.2 * (H - 10);
    svg.append(s("line", { x1: pad, x2: W, y1: y(0), y2: y(0), class: "axis" }));
    for (const v of [0.5, 1]) svg.append(s("text", { x: 0, y: y(v) + 4 }, `${v * 100}%`));
    series.forEach((w, i) => {
      const v = w.result.oee.value;
      const x = pad + i * bw + 1;
      if (v === null) {
        svg.append(s("text", { x: x + bw / 2 - 6, y: H - 4 }, "–"));
      } else {
        svg.append(s("rect", { x, y: y(v), width: Math.max(1, bw - 2), height: y(0) - y(v), class: v >= 0.85 ? "good" : "base" },
          s("title", {}, `${fmtTime(w.start_us, { date: true, seconds: false })}: OEE ${pct(w.result.oee)}, good ${w.actual_output ?? "–"} / target ${w.target_output === null ? "n/a" : Math.round(w.target_output)}`)));
      }
      if (i % Math.ceil(n / 8) === 0) svg.append(s("text", { x, y: H + 16 }, fmtTime(w.start_us, { seconds: false })));
    });
    svg.append(s("line", { x1: pad, x2: W, y1: y(0.85), y2: y(0.85), class: "target" }));
    return svg;
  }

  function kpis(res, target) {
    const items = [
      ["OEE", res.oee], ["Availability", res.availability], ["Performance", res.effectiveness],
      ["Quality ratio", res.quality_ratio], ["NEE", res.nee], ["Technical efficiency", res.technical_efficiency],
      ["Setup rate", res.setup_rate], ["Scrap ratio", res.scrap_ratio], ["Rework ratio", res.rework_ratio],
    ];
    const tiles = items.map(([name, r]) => h("div", { class: "kpi", dataset: r.flag ? { flag: "1" } : {}, title: ratioTitle(r) },
      h("b", {}, name), h("span", {}, pct(r)), r.value === null ? h("small", {}, r.reason) : r.flag ? h("small", {}, r.flag) : null));
    const q = res.quantities;
    if (target !== undefined) tiles.push(h("div", { class: "kpi" }, h("b", {}, "Good output / target"), h("span", {}, `${q.gq} / ${target === null ? "n/a" : Math.round(target)}`), h("small", {}, "target = ideal output × 85 %")));
    tiles.push(h("div", { class: "kpi" }, h("b", {}, "Made / good / scrap"), h("span", {}, `${q.pq} / ${q.gq} / ${q.sq}`)));
    tiles.push(h("div", { class: "kpi" }, h("b", {}, "Run / planned busy"), h("span", {}, `${fmtDuration(res.time_s.apt * US)} / ${fmtDuration(res.time_s.pbt * US)}`)));
    return tiles;
  }

  async function loadDetail(node) {
    document.getElementById("oee-detail").hidden = false;
    try {
      const [now, series] = await Promise.all([
        getJSON(`/api/production/oee/${node}`),
        getJSON(`/api/production/oee-series/${node}?by=hour`),
      ]);
      document.getElementById("oee-title").textContent = `OEE · ${node.split("/").pop().replace(/_/g, " ")}`;
      document.getElementById("oee-range").textContent = `${fmtTime(now.start_us, { date: true, seconds: false })} – ${fmtTime(now.end_us, { seconds: false })} · ${now.scope}`;
      document.getElementById("oee-kpis").replaceChildren(...kpis(now.result, now.target_output));
      document.getElementById("oee-waterfall").replaceChildren(waterfall(now.result));
      document.getElementById("oee-trend").replaceChildren(trend(series));
      if (now.machines.length) {
        const table = h("table", { class: "data" },
          h("thead", {}, h("tr", {}, ...["Machine", "OEE", "Availability", "Performance", "Quality", "Made", "Good"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, now.machines.map((m) => h("tr", {},
            h("td", {}, h("a", { href: `/production/oee?node=${encodeURIComponent(m.key)}` }, m.key.split("/").pop())),
            h("td", { class: "num" }, pct(m.result.oee)), h("td", { class: "num" }, pct(m.result.availability)),
            h("td", { class: "num" }, pct(m.result.effectiveness)), h("td", { class: "num" }, pct(m.result.quality_ratio)),
            h("td", { class: "num" }, m.result.quantities.pq), h("td", { class: "num" }, m.result.quantities.gq)))));
        document.getElementById("oee-machines").replaceChildren(table);
      }
      status("oee-status", "Refreshes every 30 s.");
    } catch (e) {
      status("oee-status", e.message, true);
    }
  }

  // --- downtime ---------------------------------------------------------------------------

  function pareto(rows, key) {
    const W = 640, rowH = 24, left = 200;
    const top = rows.slice(0, 12);
    const max = Math.max(1, ...top.map((r) => (key === "seconds" ? r.seconds : r.count)));
    const svg = s("svg", { class: "bars", viewBox: `0 0 ${W} ${top.length * rowH + 8}`, width: "100%", role: "img", "aria-label": `Pareto by ${key}` });
    top.forEach((r, i) => {
      const v = key === "seconds" ? r.seconds : r.count;
      const y = i * rowH + 4;
      svg.append(s("text", { x: left - 6, y: y + 15, "text-anchor": "end" }, r.reason_name));
      svg.append(s("rect", { x: left, y, width: Math.max(1, (v / max) * (W - left - 150)), height: rowH - 6, class: r.reason_code ? "base" : "loss" }));
      svg.append(s("text", { x: left + (v / max) * (W - left - 150) + 6, y: y + 15 },
        `${key === "seconds" ? fmtDuration(v * US) : v} · ${r.cumulative_pct.toFixed(0)} %`));
    });
    if (!top.length) svg.append(s("text", { x: 10, y: 20 }, "No stops in the range."));
    return svg;
  }

  function reasonSelect(reasons, current) {
    const sel = h("select", { "aria-label": "Reason" }, h("option", { value: "" }, "— no reason —"));
    const byParent = new Map();
    for (const r of reasons) {
      const k = r.parent || "";
      if (!byParent.has(k)) byParent.set(k, []);
      byParent.get(k).push(r);
    }
    for (const root of byParent.get("") || []) {
      const kids = byParent.get(root.code) || [];
      if (!kids.length) {
        sel.append(h("option", { value: root.code, selected: root.code === current }, `${root.name} (${root.loss || "–"})`));
      } else {
        sel.append(h("optgroup", { label: `${root.name} (${root.loss || "–"})` },
          h("option", { value: root.code, selected: root.code === current }, `${root.name} (general)`),
          kids.map((k) => h("option", { value: k.code, selected: k.code === current }, k.name))));
      }
    }
    return sel;
  }

  async function loadDowntime() {
    const node = params.get("node");
    const q = new URLSearchParams();
    if (node) { q.set("node", node); document.getElementById("dt-node").value = node; }
    if (params.get("unassigned")) { q.set("unassigned", "true"); document.getElementById("dt-unassigned").checked = true; }
    try {
      const [reasons, par, list] = await Promise.all([
        fetchOr("/api/production/reasons"),
        fetchOr(`/api/production/downtime/pareto?${node ? `node=${encodeURIComponent(node)}` : ""}`),
        fetchOr(`/api/production/downtime?${q}&limit=200`),
      ]);
      document.getElementById("dt-pareto-time").replaceChildren(pareto(par.by_time, "seconds"));
      document.getElementById("dt-pareto-count").replaceChildren(pareto(par.by_count, "count"));
      const rows = list.items.map((e) => {
        const sel = reasonSelect(reasons, e.reason_code);
        const msg = h("span", { class: "muted", role: "status" });
        const save = h("button", { type: "submit" }, "Save");
        const form = h("form", { class: "reason-form", onsubmit: async (ev) => {
          ev.preventDefault();
          save.disabled = true;
          const r = await fetch(`/api/production/downtime/${e.id}/reason`, {
            method: "PUT", headers: { "Content-Type": "application/json", Accept: "application/json" },
            body: JSON.stringify({ reason_code: sel.value || null }),
          });
          save.disabled = false;
          if (r.ok) { msg.textContent = "saved"; msg.classList.remove("error-text"); setTimeout(loadDowntime, 600); }
          else {
            const body = await r.json().catch(() => ({}));
            msg.textContent = r.status === 401 || r.status === 403 ? "log in as an operator" : (body.detail?.[0]?.msg || `HTTP ${r.status}`);
            msg.classList.add("error-text");
          }
        } }, sel, save, msg);
        return h("tr", {},
          h("td", {}, e.machine.split("/").pop()),
          h("td", { class: "nowrap" }, fmtTime(e.start_us, { date: true })),
          h("td", { class: "num" }, fmtDuration(e.duration_s * US) + (e.end_us === null ? " (ongoing)" : "")),
          h("td", {}, e.states),
          h("td", {}, e.order_id ? h("a", { href: `/production/orders/${e.order_id}` }, `#${e.order_id}`) : "–"),
          h("td", {}, form),
          h("td", {}, e.reason_code ? `${e.updated_by || ""} (${e.reason_source})` : ""));
      });
      document.getElementById("dt-rows").replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No stops."))]));
      status("dt-status", `${list.total} stops`);
    } catch (e) {
      status("dt-status", e.message, true);
    }
  }

  // --- orders -----------------------------------------------------------------------------

  function progressBar(good, qty) {
    const p = good === null || good === undefined ? 0 : Math.min(1, good / qty);
    return h("div", {}, h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": qty, "aria-valuenow": good || 0 },
      h("div", { style: `width:${(p * 100).toFixed(1)}%` })), h("span", { class: "progress-label" }, `${good ?? 0} / ${qty} good (${(p * 100).toFixed(0)} %)`));
  }

  async function loadOrders() {
    try {
      const data = await fetchOr("/api/production/orders?limit=200");
      const rows = data.items.map((o) => h("tr", {},
        h("td", {}, h("a", { href: `/production/orders/${o.id}` }, o.number)),
        h("td", {}, o.product_code), h("td", { class: "num" }, o.quantity),
        h("td", { class: "nowrap" }, o.due_at ? new Date(o.due_at).toLocaleString("en-GB", { timeZone: window.IF.tz }) : "–"),
        h("td", { class: "num" }, o.priority),
        h("td", {}, h("span", { class: "order-state", dataset: { state: o.state } }, o.state)),
        h("td", {}, progressBar(o.good, o.quantity)),
        h("td", { class: "num" }, o.scrap ?? "–")));
      document.getElementById("ord-rows").replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No orders yet. Planners create them through the API (POST /api/production/orders)."))]));
    } catch (e) {
      document.getElementById("ord-rows").replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "error-text" }, e.message)));
    }
  }

  async function loadOrder() {
    try {
      const o = await fetchOr(`/api/production/orders/${page.order_id}`);
      document.getElementById("od-title").replaceChildren(`Order ${o.number} `, h("span", { class: "order-state", dataset: { state: o.state } }, o.state));
      document.getElementById("od-sub").textContent = `${o.product_code} · ${o.quantity} pcs · priority ${o.priority}` + (o.due_at ? ` · due ${new Date(o.due_at).toLocaleString("en-GB", { timeZone: window.IF.tz })}` : "");
      document.getElementById("od-progress").replaceChildren(progressBar(o.good, o.quantity), h("p", {}, `Scrap: ${o.scrap ?? 0}`));
      document.getElementById("od-actions").replaceChildren(...o.allowed.map((st) => h("button", { type: "button", onclick: async () => {
        const r = await fetch(`/api/production/orders/${o.id}/transitions`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ state: st }) });
        if (r.ok) loadOrder();
        else {
          const body = await r.json().catch(() => ({}));
          status("od-status", r.status === 401 || r.status === 403 ? "Log in as an operator or planner." : (body.detail?.[0]?.msg || `HTTP ${r.status}`), true);
        }
      } }, `→ ${st}`)));
      document.getElementById("od-ops").replaceChildren(...o.operations.map((op) => h("tr", {},
        h("td", {}, op.seq), h("td", {}, op.name),
        h("td", {}, op.machine ? op.machine.split("/").pop() : `(any of ${op.machine_group})`),
        h("td", { class: "num" }, op.ideal_cycle_s ? `${op.ideal_cycle_s} s` : "machine's"),
        h("td", { class: "num" }, op.total ?? "–"), h("td", { class: "num" }, op.good ?? "–"),
        h("td", { class: "num" }, op.scrap ?? "–"), h("td", { class: "num" }, op.rework ?? "–"),
        h("td", { class: "num" }, fmtDuration(op.run_s * US)),
        h("td", { class: "num", title: op.oee ? ratioTitle(op.oee.oee) : "" }, op.oee ? pct(op.oee.oee) : "–"))));
      document.getElementById("od-history").replaceChildren(...o.transitions.map((t) => h("tr", {},
        h("td", { class: "nowrap" }, new Date(t.at).toLocaleString("en-GB", { timeZone: window.IF.tz })),
        h("td", {}, t.from_state), h("td", {}, t.to_state), h("td", {}, t.username), h("td", {}, t.comment))));
    } catch (e) {
      status("od-status", e.message, true);
    }
  }

  // --- wiring -----------------------------------------------------------------------------

  if (document.getElementById("oee-lines")) {
    const node = page.node;
    if (node) {
      document.getElementById("oee-node").value = node;
      loadDetail(node);
      setInterval(() => loadDetail(node), 30000);
    } else {
      loadLines();
      setInterval(loadLines, 10000);
    }
  } else if (document.getElementById("dt-rows")) {
    loadDowntime();
  } else if (document.getElementById("ord-rows")) {
    loadOrders();
    setInterval(loadOrders, 15000);
  } else if (document.getElementById("od-ops")) {
    loadOrder();
  }
})();
