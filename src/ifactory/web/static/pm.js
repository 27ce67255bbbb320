/* PM plans page: "Generate due work now" posts to the API (which checks the roles) and reloads. */
"use strict";

(() => {
  const button = document.getElementById("pm-generate");
  const status = document.getElementById("pm-status");
  if (!button || !status) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "Generating…";
    try {
      const r = await fetch("/api/maintenance/pm/generate", {
        method: "POST",
        headers: { Accept: "application/json" },
      });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) {
        const detail = body.detail && body.detail[0] ? body.detail[0].msg : `HTTP ${r.status}`;
        status.textContent = r.status === 401 ? "Log in as a planner to generate work." : detail;
        return;
      }
      status.textContent = `${body.generated} work order(s) raised, ${body.skipped} skipped by rule.`;
      setTimeout(() => location.reload(), 800);
    } catch (err) {
      status.textContent = String(err);
    } finally {
      button.disabled = false;
    }
  });
})();
