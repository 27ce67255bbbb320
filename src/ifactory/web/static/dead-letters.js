/* Dead letters page: counts by reason (click to filter) and a paged table, refreshed every 10 s. */
"use strict";

(() => {
  const { page, h, getJSON, fmtTime, intFmt } = IF;
  const PAGE_SIZE = page.page_size || 50;
  const countsEl = document.getElementById("dl-counts");
  const rowsEl = document.getElementById("dl-rows");
  const infoEl = document.getElementById("dl-page-info");
  const refreshedEl = document.getElementById("dl-refreshed");
  const prev = document.querySelector("[data-page=prev]");
  const next = document.querySelector("[data-page=next]");

  // The filter and page live in the URL, so a link to "unknown tags, page 3" can be shared.
  const params = new URLSearchParams(location.search);
  let reason = params.get("reason") || "";
  let offset = Math.max(0, Number(params.get("offset")) || 0);
  let total = 0;

  function saveView() {
    const q = new URLSearchParams();
    if (reason) q.set("reason", reason);
    if (offset) q.set("offset", String(offset));
    history.replaceState(null, "", q.toString() ? `${location.pathname}?${q}` : location.pathname);
  }

  const label = (r) => r.replace(/_/g, " ");

  function renderCounts(counts) {
    const all = Object.values(counts).reduce((a, b) => a + b, 0);
    const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
    const chip = (value, text, n) => h("button", {
      type: "button", class: "reason-chip", "aria-pressed": String(reason === value),
      onclick: () => { reason = value; offset = 0; saveView(); refresh(); },
    }, h("span", { class: "reason-name" }, text), h("span", { class: "n" }, intFmt.format(n)));
    countsEl.replaceChildren(chip("", "All reasons", all), ...entries.map(([r, n]) => chip(r, label(r), n)));
    if (!entries.length) countsEl.append(h("p", { class: "muted" }, "No telemetry has been rejected."));
  }

  const cell = (text, cls) => h("td", { class: cls }, text === null || text === undefined || text === "" ? "–" : String(text));

  function renderRows(items) {
    if (!items.length) {
      rowsEl.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" },
        reason ? `No dead letters with reason “${label(reason)}”.` : "No dead letters.")));
      return;
    }
    rowsEl.replaceChildren(...items.map((d) => h("tr", {},
      cell(fmtTime(d.received_us, { date: true }), "nowrap"),
      h("td", {}, h("span", { class: "reason-tag" }, label(d.reason))),
      cell(d.tag, "mono wrap"),
      cell(d.ts_us === null || d.ts_us === undefined ? null : fmtTime(d.ts_us, { date: true }), "nowrap"),
      cell(d.value, "mono wrap"),
      cell(d.detail, "wrap"),
      cell(d.source, "mono"))));
  }

  function renderPager() {
    const first = total ? offset + 1 : 0;
    const last = Math.min(offset + PAGE_SIZE, total);
    infoEl.textContent = total ? `${intFmt.format(first)}–${intFmt.format(last)} of ${intFmt.format(total)}` : "none";
    prev.disabled = offset === 0;
    next.disabled = offset + PAGE_SIZE >= total;
  }

  // Counts and the list load independently: one failing does not blank the other.
  async function refreshCounts() {
    try {
      renderCounts(await getJSON("/api/dead-letters/counts"));
      return true;
    } catch (e) {
      countsEl.replaceChildren(h("p", { class: "load-error" }, "The counts could not be loaded; retrying every 10 s."));
      return false;
    }
  }

  async function refreshRows() {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
    if (reason) q.set("reason", reason);
    try {
      const pageData = await getJSON(`/api/dead-letters?${q}`);
      total = pageData.total;
      if (offset && offset >= total) {
        // The list shrank (retention): go to its last page.
        offset = Math.max(0, Math.floor((total - 1) / PAGE_SIZE) * PAGE_SIZE);
        saveView();
        return refreshRows();
      }
      renderRows(pageData.items);
      renderPager();
      return true;
    } catch (e) {
      rowsEl.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "load-error" },
        "The dead letters could not be loaded; retrying every 10 s.")));
      return false;
    }
  }

  async function refresh() {
    const ok = await Promise.all([refreshCounts(), refreshRows()]);
    refreshedEl.textContent = ok.every(Boolean) ? "Refreshed every 10 s" : "";
  }

  prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE_SIZE); saveView(); refresh(); });
  next.addEventListener("click", () => { offset += PAGE_SIZE; saveView(); refresh(); });
  refresh();
  // New rejections show up without a reload. The list is newest first, so only the first
  // page is refreshed: an older page someone is reading would otherwise shift under them.
  setInterval(() => {
    if (offset === 0) refresh();
    else refreshCounts();
  }, 10000);
})();
