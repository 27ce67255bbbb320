/* Inventory part page: the receipt, stocktake and issue forms post to /api/inventory.
 *
 * The page is reloaded after a booking, so every figure shown comes from the ledger. An error
 * (a missing role, not enough stock) is shown as the API's message, never swallowed.
 */
"use strict";

(() => {
  const { page } = window.IF;
  const errorBox = document.getElementById("inv-error");
  const NUMBERS = new Set(["quantity", "counted_quantity", "unit_cost", "location_id", "work_order_id", "requisition_id"]);

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  async function submit(form, event) {
    event.preventDefault();
    errorBox.hidden = true;
    const body = {};
    for (const [key, raw] of new FormData(form).entries()) {
      const value = String(raw).trim();
      if (value === "") continue;
      body[key] = NUMBERS.has(key) ? Number(value) : value;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const r = await fetch(`/api/inventory/parts/${page.part_id}/${form.dataset.kind}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      if (r.ok) {
        window.location.reload();
        return;
      }
      let message = `HTTP ${r.status}`;
      try {
        const data = await r.json();
        if (Array.isArray(data.detail)) message = data.detail.map((d) => d.msg).join("; ");
      } catch (_) { /* not JSON: keep the status */ }
      if (r.status === 401) message = "Log in to book movements.";
      showError(message);
    } catch (err) {
      showError(`The booking did not reach the server: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  for (const form of document.querySelectorAll("form.inv-form")) {
    form.addEventListener("submit", (event) => submit(form, event));
  }
})();
