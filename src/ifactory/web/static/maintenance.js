/* Maintenance pages: forms post JSON to /api/maintenance; the board follows work order events.
 *
 * A form with `data-api` is sent as JSON to that URL (method `data-method`, default POST);
 * fields typed by `data-type` (int, float, bool, time, nullable, int-nullable); empty fields
 * are left out. The clicked submit button's name/value is part of the body. On success the
 * page reloads (so every figure comes from the server) or, for the work request form, says
 * which work order was created. An error shows the API's message, never swallowed.
 */
"use strict";

(() => {
  const { page, h, live } = window.IF;

  function message(form, text, kind) {
    const box = (form && form.querySelector("[data-role=message]")) ||
      document.getElementById("wo-message") || document.getElementById("board-message");
    if (!box) return;
    box.textContent = text;
    box.dataset.kind = kind;
  }

  function typed(el, raw) {
    const value = String(raw).trim();
    const type = el ? el.dataset.type : undefined;
    if (type === "bool") return true;
    if (value === "") return (type === "nullable" || type === "int-nullable") ? null : undefined;
    if (type === "int" || type === "int-nullable") return parseInt(value, 10);
    if (type === "float") return Number(value);
    if (type === "time") return new Date(value).getTime() * 1000; // local browser time -> µs
    return value;
  }

  function body(form, submitter) {
    const out = {};
    const data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    for (const [key, raw] of data.entries()) {
      const el = form.elements.namedItem(key);
      const value = typed(el instanceof RadioNodeList ? el[0] : el, raw);
      if (value !== undefined) out[key] = value;
    }
    return out;
  }

  async function send(url, method, payload) {
    const r = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: method === "DELETE" ? undefined : JSON.stringify(payload || {}),
    });
    let data = null;
    try { data = await r.json(); } catch (_) { /* 204 or not JSON */ }
    if (!r.ok) {
      let text = `HTTP ${r.status}`;
      if (data && Array.isArray(data.detail)) text = data.detail.map((d) => d.msg).join("; ");
      if (r.status === 401) text = "Log in first.";
      throw new Error(text);
    }
    return data;
  }

  async function submit(form, event) {
    event.preventDefault();
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const data = await send(form.dataset.api, form.dataset.method || "POST", body(form, event.submitter));
      if (form.dataset.after === "request") {
        form.reset();
        message(form, "", "ok");
        const box = form.querySelector("[data-role=message]");
        box.replaceChildren("Sent: ", h("a", { href: `/maintenance/work-orders/${data.id}` }, data.number),
          ` — ${data.title}. Maintenance will approve and schedule it.`);
        return;
      }
      if (form.dataset.after === "asset") {
        window.location.assign(`/maintenance/assets/${data.id}`);
        return;
      }
      window.location.reload();
    } catch (err) {
      message(form, err.message, "error");
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  for (const form of document.querySelectorAll("form.mnt-form")) {
    form.addEventListener("submit", (event) => submit(form, event));
  }
  for (const button of document.querySelectorAll("button[data-api]")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const payload = button.dataset.body ? JSON.parse(button.dataset.body) : {};
        await send(button.dataset.api, button.dataset.method || "POST", payload);
        window.location.reload();
      } catch (err) {
        message(null, err.message, "error");
        button.disabled = false;
      }
    });
  }

  // --- evidence: the machine's measurements around the triggering event -----------------

  async function evidenceCharts(ev, el) {
    const span = ev.end_us - ev.start_us;
    const bucket = Math.max(1, Math.round(span / 1e6 / 300));
    for (const tag of ev.tags) {
      const q = `tag_id=${tag.id}&start_us=${ev.start_us}&end_us=${ev.end_us}&bucket_s=${bucket}`;
      let agg;
      try { agg = await window.IF.getJSON(`/api/history/aggregate?${q}`); } catch (_) { continue; }
      const box = h("figure", { class: "evidence-chart" }, h("figcaption", {}, `${tag.name}${tag.unit ? ` (${tag.unit})` : ""}`));
      el.append(box);
      const xs = agg.start.map((s) => (s + agg.bucket_us / 2) / 1e6);
      const mark = (t) => (t === null || t === undefined ? null : t / 1e6);
      const a = mark(ev.event_start_us), b = mark(ev.event_end_us);
      new uPlot({
        width: Math.min(520, el.clientWidth || 520), height: 140, legend: { show: false },
        scales: { x: { time: true } },
        series: [{}, { label: tag.name, stroke: "#0969da", width: 1.5, spanGaps: false }],
        hooks: { draw: [(u) => {
          if (a === null) return;
          const ctx = u.ctx, x0 = u.valToPos(a, "x", true), x1 = u.valToPos(b === null ? a : b, "x", true);
          ctx.save(); ctx.fillStyle = "rgba(207, 34, 46, 0.15)";
          ctx.fillRect(x0, u.bbox.top, Math.max(2, x1 - x0), u.bbox.height); ctx.restore();
        }] },
      }, [xs, agg.twa], box);
    }
    if (!el.children.length) el.append(h("p", { class: "muted small" }, "No measurements stored for this window."));
  }
  const evEl = document.getElementById("evidence-charts");
  if (evEl && page.evidence && page.evidence.tags && window.uPlot) {
    evidenceCharts(page.evidence, evEl).catch(() => {});
  }

  // --- a work order page: say when somebody else moved it ---------------------------------

  if (page.work_order) {
    const es = live(`/api/maintenance/events?machine_id=${page.work_order.machine_id}`, {});
    es.addEventListener("workorder", (e) => {
      const ev = JSON.parse(e.data);
      if (ev.work_order_id !== page.work_order.id || ev.state === page.work_order.state) return;
      const box = document.getElementById("wo-message");
      box.dataset.kind = "info";
      box.replaceChildren(`${ev.username} moved ${ev.number} to ${ev.state.replace("_", " ")}. `,
        h("a", { href: window.location.pathname }, "Reload"));
    });
  }

  // --- the board: live ------------------------------------------------------------------

  const boardEl = document.getElementById("board");
  if (!boardEl || !page.board) return;
  const labels = page.state_labels || {};
  const machines = page.machines || {};

  function card(wo) {
    const move = wo.allowed_transitions.filter((s) => s !== "cancelled" && s !== "on_hold");
    return h("li", { class: "card", dataset: { id: wo.id } },
      h("a", { class: "card-title", href: `/maintenance/work-orders/${wo.id}` },
        h("span", { class: "mono" }, wo.number), ` ${wo.title}`),
      h("div", { class: "card-meta" }, `${machines[wo.machine_id] || "#" + wo.machine_id} · `,
        `${wo.type[0].toUpperCase()}${wo.type.slice(1)} · `,
        h("span", { class: "wo-priority", dataset: { priority: wo.priority } },
          wo.priority[0].toUpperCase() + wo.priority.slice(1))),
      move.length ? h("div", { class: "card-actions" }, move.map((s) => h("button", {
        type: "button", class: "small", "data-to": s,
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            await send(`/api/maintenance/work-orders/${wo.id}/transitions`, "POST", { state: s });
            refresh();
          } catch (err) {
            message(null, `${wo.number}: ${err.message}`, "error");
            e.target.disabled = false;
          }
        },
      }, `→ ${labels[s] || s}`))) : null);
  }

  let pending = null;
  async function refresh() {
    const q = new URLSearchParams();
    if (page.board.machine_id) q.set("machine_id", page.board.machine_id);
    const data = await window.IF.getJSON(`/api/maintenance/board?${q}`);
    for (const state of page.board.states) {
      const col = boardEl.querySelector(`.board-col[data-state="${state}"]`);
      if (!col) continue;
      const cards = data.columns[state] || [];
      col.querySelector("[data-role=count]").textContent = String(data.counts[state] || 0);
      col.querySelector("[data-role=cards]").replaceChildren(
        ...(cards.length ? cards.map(card) : [h("li", { class: "empty muted" }, "None")]));
    }
  }
  function soon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh().catch(() => {}); }, 300);
  }
  refresh().catch(() => {});
  const q = page.board.machine_id ? `?machine_id=${page.board.machine_id}` : "";
  const es = live(`/api/maintenance/events${q}`, { resync: soon });
  es.addEventListener("workorder", soon);
})();
