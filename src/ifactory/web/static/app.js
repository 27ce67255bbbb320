/* iFactory pages: shared helpers (formatting, DOM building, the plant clock, the live stream).
 *
 * Plain browser JavaScript, no build step. Everything put into the DOM goes through
 * textContent or setAttribute (via `h`), never innerHTML, so tag names, texts and dead-letter
 * payloads cannot inject markup.
 */
"use strict";

window.IF = (() => {
  const US = 1e6;
  const body = document.body;
  const tz = body.dataset.tz || "UTC";
  const dataEl = document.getElementById("page-data");
  const page = dataEl ? JSON.parse(dataEl.textContent || "{}") : {};

  const STATE_LABELS = {
    executing: "Executing", setup: "Setup", idle: "Idle", down: "Down",
    maintenance: "Maintenance", unknown: "Unknown",
  };
  // Worst first, as a control-room summary reads.
  const STATE_ORDER = ["down", "maintenance", "setup", "idle", "executing", "unknown"];

  /** Create an element: h("td", {class: "num"}, "text", childNode). Strings become text nodes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "dataset") Object.assign(el.dataset, v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  async function getJSON(url, options) {
    const r = await fetch(url, { headers: { Accept: "application/json" }, ...options });
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  }

  // --- formatting ---------------------------------------------------------------------

  const fmtCache = new Map();
  function dtf(opts) {
    const key = JSON.stringify(opts);
    if (!fmtCache.has(key)) {
      fmtCache.set(key, new Intl.DateTimeFormat("en-GB", { timeZone: tz, hourCycle: "h23", ...opts }));
    }
    return fmtCache.get(key);
  }

  /** Plant time of a UTC-µs timestamp in the site's time zone: "14:05:09", "2026-11-24 14:05". */
  function fmtTime(us, { date = false, seconds = true } = {}) {
    if (us === null || us === undefined) return "–";
    const opts = { hour: "2-digit", minute: "2-digit" };
    if (seconds) opts.second = "2-digit";
    if (date) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
    const p = {};
    for (const part of dtf(opts).formatToParts(new Date(us / 1000))) p[part.type] = part.value;
    // ISO order for dates: unambiguous for every reader, whatever their locale.
    const time = seconds ? `${p.hour}:${p.minute}:${p.second}` : `${p.hour}:${p.minute}`;
    return date ? `${p.year}-${p.month}-${p.day} ${time}` : time;
  }

  function fmtClock(us) {
    return dtf({ weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
      second: "2-digit" }).format(new Date(us / 1000));
  }

  /** "45 s", "12 min", "3 h 05 min", "14 h", "2 d 4 h": finer the shorter it is. */
  function fmtDuration(us) {
    if (us === null || us === undefined || !isFinite(us) || us < 0) return "–";
    const s = Math.floor(us / US);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const hrs = Math.floor(m / 60);
    if (hrs < 10) return `${hrs} h ${String(m % 60).padStart(2, "0")} min`;
    if (hrs < 48) return `${hrs} h`;
    return `${Math.floor(hrs / 24)} d ${hrs % 24} h`;
  }

  const intFmt = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });
  /** A number with precision that fits its size (3-4 significant digits, integers grouped). */
  function fmtNumber(v, dataType) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    if (dataType === "int") return intFmt.format(v);
    const a = Math.abs(v);
    const digits = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 1 ? 2 : a === 0 ? 1 : 3;
    return v.toLocaleString("en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  /** The display text of a value for a tag's data type (enum labels, on/off, text). */
  function fmtValue(tag, value, text) {
    if (tag.data_type === "string") return text ?? "–";
    if (value === null || value === undefined) return "–";
    if (tag.data_type === "enum") return (tag.enum && tag.enum[String(Math.round(value))]) ?? String(value);
    if (tag.data_type === "bool") return value ? "on" : "off";
    return fmtNumber(value, tag.data_type);
  }

  /** "high"/"low" when beyond the alarm limits, "over"/"under" when outside the range, else "". */
  function limitState(tag, value) {
    const l = tag.limits;
    if (!l || value === null || value === undefined || !isFinite(value)) return "";
    if (l.alarm_high !== null && l.alarm_high !== undefined && value > l.alarm_high) return "high";
    if (l.alarm_low !== null && l.alarm_low !== undefined && value < l.alarm_low) return "low";
    if (l.high !== null && l.high !== undefined && value > l.high) return "over";
    if (l.low !== null && l.low !== undefined && value < l.low) return "under";
    return "";
  }
  const LIMIT_FLAGS = { high: "▲ HIGH", low: "▼ LOW", over: "▲ over range", under: "▼ under range" };

  /** OPC UA status code severity: "good", "uncertain" or "bad". */
  function quality(q) {
    if (q === null || q === undefined) return "good";
    const sev = Number(q) >>> 30;
    return sev === 0 ? "good" : sev === 1 ? "uncertain" : "bad";
  }

  /** Write a value into a `.value[data-tag-id]` element, with alarm and quality markers. */
  function renderValue(el, tag, v) {
    const text = fmtValue(tag, v.value, v.text);
    const alarm = tag.data_type === "float" || tag.data_type === "int" ? limitState(tag, v.value) : "";
    const q = quality(v.quality);
    // No "just changed" animation: at one update a second every value would flicker,
    // and control-room practice keeps motion for what needs attention.
    el.querySelector(".v").textContent = text;
    if (alarm) el.dataset.alarm = alarm; else delete el.dataset.alarm;
    if (q !== "good") el.dataset.quality = q; else delete el.dataset.quality;
    const flag = el.querySelector(".flag");
    if (flag) flag.textContent = alarm ? ` ${LIMIT_FLAGS[alarm]}` : q !== "good" ? ` (${q})` : "";
    el.title = `${tag.label}: ${text}${tag.unit ? " " + tag.unit : ""}` +
      (v.ts_us ? ` at ${fmtTime(v.ts_us, { date: true })}` : "") + (q !== "good" ? ` – quality ${q}` : "");
  }

  // --- machine state ------------------------------------------------------------------

  /** Update an element carrying data-state / data-since-us and its badge, since and planned parts. */
  function renderState(el, state, sinceUs, planned) {
    el.dataset.state = state;
    if (sinceUs !== undefined) el.dataset.sinceUs = String(sinceUs);
    const badge = el.querySelector("[data-role=state]");
    if (badge) {
      badge.dataset.state = state;
      badge.textContent = STATE_LABELS[state] || state;
    }
    if (planned !== undefined) {
      const p = el.querySelector("[data-role=planned]");
      if (p) {
        p.dataset.planned = planned === null ? "unknown" : planned ? "yes" : "no";
        p.textContent = planned === null ? "No calendar" : planned ? "Planned" : "Not planned";
      }
    }
    renderSince(el);
  }

  function renderSince(el) {
    const since = Number(el.dataset.sinceUs || 0);
    const out = el.querySelector("[data-role=since]");
    if (out) out.textContent = since > 0 && clock.now_us ? fmtDuration(clock.now_us - since) : "–";
  }

  // --- the plant clock ------------------------------------------------------------------

  /** Plant time comes from the server (the demo runs simulated time), never from the browser. */
  const clock = {
    now_us: Number(body.dataset.nowUs || 0) || page.now_us || 0,
    // Plant time that passes between two stream messages (about 1 s of wall time): 60 s when
    // the demo runs at 60x. Gap and staleness checks scale with it.
    step_us: US,
    measured: false,
    listeners: [],
    set(us) {
      // Equal times come twice a tick (clock and values); a jump back means the server's
      // clock was reset (a restarted demo): follow it rather than freeze.
      if (!us || us === this.now_us) return;
      const step = us - this.now_us;
      if (step < 0) this.measured = false;
      else if (this.now_us && step < 3600 * US) {
        this.step_us = this.measured ? 0.7 * this.step_us + 0.3 * step : step;
        this.measured = true;
      }
      this.now_us = us;
      const el = document.getElementById("plant-clock");
      if (el) {
        el.textContent = fmtClock(us);
        el.dateTime = new Date(us / 1000).toISOString();
      }
      for (const fn of this.listeners) fn(us);
    },
    onTick(fn) { this.listeners.push(fn); },
  };
  if (clock.now_us) {
    const el = document.getElementById("plant-clock");
    if (el) el.textContent = fmtClock(clock.now_us);
  }

  // --- the live stream ------------------------------------------------------------------

  /**
   * Follow /api/events: handlers.values({now_us, values}), handlers.state(change),
   * handlers.resync() after every (re)connection, to fetch what was missed while away.
   * EventSource reconnects by itself; this shows the connection state in the top bar.
   */
  function live(url, handlers) {
    const status = document.getElementById("live-status");
    let lastMessage = Date.now();
    const show = (mode, text) => {
      if (!status) return;
      status.dataset.live = mode;
      status.textContent = text;
    };
    const es = new EventSource(url);
    const touch = () => {
      lastMessage = Date.now();
      if (status && status.dataset.live !== "live") show("live", "Live");
    };
    es.addEventListener("open", () => {
      touch();
      if (handlers.resync) handlers.resync();
    });
    es.addEventListener("error", () => show("down", es.readyState === EventSource.CLOSED ? "Offline" : "Reconnecting…"));
    es.addEventListener("clock", (e) => { touch(); clock.set(JSON.parse(e.data).now_us); });
    es.addEventListener("values", (e) => {
      touch();
      const msg = JSON.parse(e.data);
      clock.set(msg.now_us);
      if (handlers.values) handlers.values(msg);
    });
    es.addEventListener("state", (e) => { touch(); if (handlers.state) handlers.state(JSON.parse(e.data)); });
    // A stream that is open but silent (a stalled proxy) is not live: say so.
    setInterval(() => {
      if (es.readyState === EventSource.OPEN && Date.now() - lastMessage > 10000) show("stale", "No updates");
    }, 2000);
    window.addEventListener("pagehide", () => es.close());
    return es;
  }

  return {
    US, tz, page, h, getJSON, STATE_LABELS, STATE_ORDER, intFmt,
    fmtTime, fmtClock, fmtDuration, fmtNumber, fmtValue, limitState, quality,
    renderValue, renderState, renderSince, clock, live,
  };
})();
