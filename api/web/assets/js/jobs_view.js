// How a job's status and progress look wherever a job is shown.

import { el } from "./dom.js";
import { formatNumber } from "./format.js";

export const ACTIVE_STATUSES = new Set(["queued", "running"]);

export function isActive(job) {
  return ACTIVE_STATUSES.has(job.status);
}

export function statusBadge(status) {
  const known = ["queued", "running", "succeeded", "failed", "cancelled", "active", "paused"];
  const name = known.includes(status) ? status : "other";
  return el("span", { class: `status status-${name}`, text: status || "unknown" });
}

/** A bar of ok (green) and failed (red) records out of the total, with its label. */
export function progressBar(job, { showFailures = true } = {}) {
  const total = Math.max(Number(job.totalRecords) || 0, 0);
  const ok = Math.max(Number(job.totalOk) || 0, 0);
  const failed = Math.max(Number(job.totalFailed) || 0, 0);
  const share = (n) => (total > 0 ? Math.min(100, (n / total) * 100) : 0);
  const okPart = el("span", { class: "progress-ok" });
  okPart.style.width = `${share(ok)}%`;
  const failedPart = el("span", { class: "progress-failed" });
  failedPart.style.width = `${Math.min(share(failed), 100 - share(ok))}%`;
  const label = showFailures
    ? `${formatNumber(ok)} ok · ${formatNumber(failed)} failed of ${formatNumber(total)}`
    : `${formatNumber(ok)} of ${formatNumber(total)}`;
  return el(
    "div",
    { class: "progress-block" },
    el(
      "div",
      {
        class: "progress",
        role: "progressbar",
        "aria-valuemin": 0,
        "aria-valuemax": total,
        "aria-valuenow": ok, // N counts accepted records; rejected ones are replaced
        "aria-label": label,
      },
      okPart,
      showFailures ? failedPart : null,
    ),
    el("div", { class: "progress-label", text: label }),
  );
}

export function jobUrl(id) {
  return `/jobs/${encodeURIComponent(id)}`;
}
