/* Lot trace page: the genealogy tree backward or forward, with process conditions per lot. */
"use strict";

(() => {
  const { page, h, getJSON, fmtTime, fmtDuration } = IF;
  const buttons = [...document.querySelectorAll("[data-direction]")];
  const tree = document.getElementById("trace-tree");
  const summary = document.getElementById("trace-summary");
  let direction = page.direction;

  const num = (v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(4).replace(/\.?0+$/, ""));

  function nodeEl(node) {
    const lot = node.lot;
    const meta = [lot.material, `${lot.quantity} ${lot.unit}`.trim(), lot.status.replace("_", " ")];
    if (lot.order_id !== null) meta.push(`order ${lot.order_id}`);
    if (node.machine) meta.push(node.machine);
    if (lot.operator) meta.push(`operator ${lot.operator}`);
    if (lot.start_us !== null && lot.end_us !== null) meta.push(`${fmtTime(lot.start_us, { date: true, seconds: false })} for ${fmtDuration(lot.end_us - lot.start_us)}`);
    const head = h("div", { class: "trace-node" },
      h("a", { class: "code", href: `/quality/lots/${encodeURIComponent(lot.code)}?direction=${direction}` }, lot.code),
      h("span", { class: "lot-status", "data-status": lot.status }, lot.kind),
      h("span", { class: "meta" }, meta.join(" · ")),
      node.repeated ? h("span", { class: "trace-repeated" }, "(shown above)") : null);
    const cond = node.conditions.length
      ? h("div", { class: "trace-conditions", title: "time-weighted averages over the production window" },
        ...node.conditions.map((c) => h("span", {}, `${c.name} ⌀ ${num(c.twa)} ${c.unit}`)))
      : null;
    const kids = node.children.length ? h("ul", {}, ...node.children.map((c) => h("li", {}, nodeEl(c)))) : null;
    return h("div", {}, head, cond, kids);
  }

  async function load() {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.direction === direction));
    history.replaceState(null, "", `${location.pathname}?direction=${direction}`);
    summary.textContent = "Loading…";
    try {
      const t = await getJSON(`/api/quality/lots/${encodeURIComponent(page.lot)}/trace?direction=${direction}`);
      tree.replaceChildren(h("ul", {}, h("li", {}, nodeEl(t.root))));
      const others = t.lots - 1;
      summary.textContent = others
        ? `${others} lot${others === 1 ? "" : "s"} ${direction === "backward" ? "went into" : "were made from"} this lot, over ${t.max_depth_reached} level${t.max_depth_reached === 1 ? "" : "s"}.`
        : direction === "backward" ? "Nothing recorded went into this lot (received material)." : "This lot has not been used yet.";
    } catch (err) {
      summary.textContent = "";
      tree.replaceChildren(h("p", { class: "load-error" }, `Could not load the trace: ${err.message}`));
    }
  }

  for (const b of buttons) b.addEventListener("click", () => { direction = b.dataset.direction; load(); });
  load();
})();
