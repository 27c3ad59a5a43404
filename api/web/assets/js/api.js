// Calls to the DataGems JSON API with the browser's session cookie.
//
// Writes carry `X-Requested-With: datagems-web`, which the API's CSRF check accepts from our
// own pages. A 401 sends the browser to /login (and back here after signing in).

const CSRF_HEADER = "X-Requested-With";
const CSRF_VALUE = "datagems-web";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

/** The address of the sign-in page that comes back to `path` afterwards. */
export function loginUrl(path = location.pathname + location.search) {
  return path && path !== "/" ? `/login?next=${encodeURIComponent(path)}` : "/login";
}

/** "Try again in 15 minutes (at 10:42)." from a 429's Retry-After (seconds), or "". */
export function retryHint(retryAfter, now = new Date()) {
  const seconds = Number.parseInt(retryAfter ?? "", 10);
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  const at = new Date(now.getTime() + seconds * 1000);
  const clock = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return `Try again in ${waitText(seconds)} (at ${clock}).`;
}

function waitText(seconds) {
  if (seconds < 60) return seconds === 1 ? "1 second" : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 120) return minutes === 1 ? "1 minute" : `${minutes} minutes`;
  return `${Math.ceil(minutes / 60)} hours`;
}

function describe(response, data) {
  if (response.status === 429) {
    // The API's message says "later"; the Retry-After header says when.
    const hint = retryHint(response.headers.get("Retry-After"));
    const message = typeof data?.error === "string" ? data.error : "Too many requests.";
    if (hint) return `${message.replace(/\s*Try again (later|in [^.]*)\.?$/i, "")} ${hint}`.trim();
  }
  // A 400's message already names each field and what to fix.
  if (data && typeof data.error === "string") return data.error;
  return `The server answered ${response.status} ${response.statusText}`.trim();
}

/**
 * Call the API and return its parsed JSON body.
 *
 * @param {string} path - e.g. "/api/jobs?offset=0"
 * @param {{method?: string, body?: unknown, signInOn401?: boolean}} options
 * @throws {ApiError} with the API's own message (and status 0 when the server is unreachable)
 */
export async function api(path, { method = "GET", body, signInOn401 = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers[CSRF_HEADER] = CSRF_VALUE;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "Cannot reach the DataGems server: check that it is running and try again", null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.status === 401 && signInOn401) {
    location.assign(loginUrl());
    throw new ApiError(401, "Your session has ended: sign in again", data);
  }
  if (!response.ok) throw new ApiError(response.status, describe(response, data), data);
  return data;
}
