// A month's usage against a quota, as the dashboard and the admin page show it.

import { el } from "./dom.js";
import { formatNumber, formatUsd } from "./format.js";

/** "1,234 of 10,000" or "1,234 (no limit)"; cost reads "unknown" when no price covered it. */
export function usedOf(used, limit, format = formatNumber) {
  return limit == null ? `${format(used)} (no limit)` : `${format(used)} of ${format(limit)}`;
}

/** The three limits of a QuotaStatus as [key, label, text] rows. */
export function quotaLines(status) {
  const quota = status.quota;
  return [
    ["tokens", "Tokens", usedOf(status.usedTokens, quota.tokens)],
    ["cost", "Cost", usedOf(status.usedCostUsd ?? (status.usedTokens ? null : 0), quota.costUsd, formatUsd)],
    ["records", "Accepted records", usedOf(status.usedRecords, quota.records)],
  ];
}

/** Metric cards for the signed-in user's month (the dashboard's "Your usage"). */
export function quotaCards(status) {
  return quotaLines(status).map(([key, label, text]) =>
    el(
      "div",
      { class: "metric", dataset: { usage: key } },
      el("div", { class: "metric-label", text: `${label} this month` }),
      el("div", { class: "metric-value small-value", text }),
    ),
  );
}
