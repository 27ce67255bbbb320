/* Overview page: machine states, time in state, planned flags and key values, kept live. */
"use strict";

(() => {
  const { page, getJSON, renderValue, renderState, renderSince, clock, live } = IF;
  const tags = page.tags || {};

  const valueEls = new Map(); // tag id -> elements showing its value
  for (const el of document.querySelectorAll(".value[data-tag-id]")) {
    const id = Number(el.dataset.tagId);
    if (!valueEls.has(id)) valueEls.set(id, []);
    valueEls.get(id).push(el);
  }
  const cards = new Map(); // machine id -> card
  for (const el of document.querySelectorAll(".machine-card[data-machine-id]")) {
    cards.set(Number(el.dataset.machineId), el);
  }

  function applyValues(msg) {
    for (const v of msg.values || []) {
      const els = valueEls.get(v.tag_id);
      const tag = tags[v.tag_id];
      if (!els || !tag) continue;
      for (const el of els) renderValue(el, tag, v);
    }
  }

  function updateSummary() {
    const counts = {};
    for (const card of cards.values()) counts[card.dataset.state] = (counts[card.dataset.state] || 0) + 1;
    for (const li of document.querySelectorAll(".state-summary li[data-state]")) {
      const n = counts[li.dataset.state] || 0;
      li.querySelector(".n").textContent = String(n);
      li.toggleAttribute("data-zero", n === 0);
    }
  }

  function applyState(change) {
    const card = cards.get(change.machine_id);
    if (!card) return;
    renderState(card, change.state, change.at_us, change.planned);
    updateSummary();
  }

  function applyMachines(rows) {
    for (const row of rows) {
      const card = cards.get(row.id);
      if (card) renderState(card, row.state, row.since_us, row.planned);
    }
    updateSummary();
  }

  const refreshMachines = () => getJSON("/api/machines").then(applyMachines).catch((e) => console.warn(e));

  clock.onTick(() => { for (const card of cards.values()) renderSince(card); });
  for (const card of cards.values()) renderSince(card);

  // The stream's first message carries every value; after a reconnection the states are
  // fetched again, since state changes sent while away are not replayed.
  live("/api/events", { values: applyValues, state: applyState, resync: refreshMachines });
  // The calendar moves on without any state change (a break starts, a shift ends), so the
  // planned flags are refreshed now and then.
  setInterval(refreshMachines, 15000);
})();
