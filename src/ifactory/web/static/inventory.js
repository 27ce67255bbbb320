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

  /** The API's own message (its `detail` entries), or the HTTP status when it sent none. */
  async function errorMessage(r) {
    if (r.status === 401) return "Log in to book movements.";
    try {
      const data = await r.json();
      if (Array.isArray(data.detail)) return data.detail.map((d) => d.msg).join("; ");
    } catch (_) { /* not JSON: keep the status */ }
    return `HTTP ${r.status}`;
  }

  /** Send `body` for `form`, then reload (every figure comes from the ledger) or show why not. */
  async function send(form, method, url, body) {
    errorBox.hidden = true;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const r = await fetch(url, {
        method,
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      if (r.ok) {
        window.location.reload();
        return;
      }
      showError(await errorMessage(r));
    } catch (err) {
      showError(`The request did not reach the server: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // Bookings: receipt, stocktake, issue.
  for (const form of document.querySelectorAll("form.inv-form")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = {};
      for (const [key, raw] of new FormData(form).entries()) {
        const value = String(raw).trim();
        if (value === "") continue;
        body[key] = NUMBERS.has(key) ? Number(value) : value;
      }
      send(form, "POST", `/api/inventory/parts/${page.part_id}/${form.dataset.kind}`, body);
    });
  }

  // Requisition actions: mark ordered (with the ERP purchase order) or cancel; received is
  // booked by a goods receipt against the requisition.
  for (const form of document.querySelectorAll("form.req-form")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = { state: form.dataset.state };
      const ref = form.querySelector("input[name=erp_reference]");
      if (ref && ref.value.trim()) body.erp_reference = ref.value.trim();
      send(form, "PATCH", `/api/inventory/requisitions/${form.dataset.requisitionId}`, body);
    });
  }
})();
