// How numbers, times and durations read on the pages.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const number = new Intl.NumberFormat();

export function formatNumber(value) {
  return typeof value === "number" && Number.isFinite(value) ? number.format(value) : "—";
}

/** An ISO-8601 time in the reader's locale and time zone; "—" when absent. */
export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : dateTime.format(date);
}

/** Milliseconds as the seed showed them: seconds with 2 decimals under 10 s, 1 above. */
export function formatDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A compact one-line rendering of any JSON value for a table cell. */
export function formatValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** USD with cents, small amounts with more digits; "unknown" when there is no price. */
export function formatUsd(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "unknown";
  if (value === 0 || value >= 1) return `$${value.toFixed(2)}`;
  return `$${Number(value.toPrecision(3))}`;
}

/**
 * What a job's tokens cost at the price it was created with; null when it has no price or its
 * tokens were estimated from sizes (the gateway reported no usage).
 */
export function jobCostUsd(job) {
  const price = job?.price;
  const tokens = job?.tokens;
  if (!price || !tokens || tokens.estimated) return null;
  return ((tokens.prompt ?? 0) * price.inputPerMTok + (tokens.completion ?? 0) * price.outputPerMTok) / 1e6;
}
