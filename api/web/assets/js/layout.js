// What every page shares: the server's page config, the top bar, the footer and page errors.

import { api, ApiError } from "./api.js";
import { el, fill } from "./dom.js";

let configPromise = null;

/** /web/config.json: poll intervals, record limit, version (nothing secret). */
export function loadConfig() {
  configPromise ??= fetch("/web/config.json", { credentials: "same-origin" }).then((r) => {
    if (!r.ok) throw new ApiError(r.status, `Cannot load the page settings (${r.status})`, null);
    return r.json();
  });
  return configPromise;
}

const NAV = [
  { href: "/", label: "Dashboard" },
  { href: "/schedules", label: "Schedules" },
  { href: "/settings", label: "Settings" },
  { href: "/admin", label: "Admin", admin: true },
];

function brand() {
  return el(
    "a",
    { class: "brand", href: "/" },
    el("img", { src: "/assets/datagems.svg", alt: "" }),
    el("span", { class: "brand-name", text: "DataGems" }),
    el("span", { class: "brand-tagline", text: "Synthetic dataset generator" }),
  );
}

function current(href) {
  const path = location.pathname;
  return href === "/" ? path === "/" || path.startsWith("/jobs/") : path.startsWith(href);
}

async function signOut(button) {
  button.disabled = true;
  try {
    await api("/api/auth/logout", { method: "POST", signInOn401: false });
    location.assign("/login");
  } catch (error) {
    button.disabled = false;
    showPageError(error);
  }
}

function renderTopBar(me) {
  const inner = el("div", { class: "topbar-inner" }, brand());
  if (me) {
    const links = NAV.filter((item) => !item.admin || me.role === "admin").map((item) =>
      el("a", { href: item.href, "aria-current": current(item.href) ? "page" : null, text: item.label }),
    );
    const signOutButton = el("button", { class: "button small", type: "button", id: "sign-out", text: "Sign out" });
    signOutButton.addEventListener("click", () => signOut(signOutButton));
    inner.append(
      el("nav", { class: "nav", "aria-label": "Main" }, links),
      el(
        "div",
        { class: "session" },
        el("span", { id: "signed-in-as" }, "Signed in as ", el("strong", { text: me.username })),
        signOutButton,
      ),
    );
  }
  fill(document.querySelector("header.topbar"), inner);
}

function renderFooter(config) {
  const footer = document.querySelector("footer.footer");
  if (!footer) return;
  fill(
    footer,
    el(
      "div",
      { class: "footer-inner" },
      el("span", { text: `DataGems ${config ? `version ${config.version}` : ""}`.trim() }),
      el("span", {}, "Open source by ", el("a", { href: "https://smartclover.ro", rel: "noopener", text: "SmartClover SRL" })),
      el("a", { href: "/docs", text: "API reference" }),
    ),
  );
}

/** Show an error above the page content (for failures outside any form). */
export function showPageError(error) {
  let banner = document.getElementById("page-error");
  if (!banner) {
    banner = el("div", { id: "page-error", class: "notice error", role: "alert" });
    const main = document.querySelector("main");
    main.prepend(banner);
  }
  banner.textContent = error instanceof Error ? error.message : String(error);
  banner.hidden = false;
}

export function clearPageError() {
  const banner = document.getElementById("page-error");
  if (banner) banner.hidden = true;
}

/**
 * Draw the top bar and footer; for a signed-in page also read who is signed in.
 * Resolves to {config, me}; on failure shows the error and rejects.
 */
export async function startPage({ signedIn = true } = {}) {
  try {
    const [config, me] = await Promise.all([loadConfig(), signedIn ? api("/api/auth/me") : null]);
    renderTopBar(me);
    renderFooter(config);
    return { config, me };
  } catch (error) {
    renderTopBar(null);
    renderFooter(null);
    showPageError(error);
    throw error;
  }
}
