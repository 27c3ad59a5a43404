// Sign in with username and password, then go where the visitor was heading (or /).

import { api } from "./api.js";
import { byId, hideNotice, showNotice, whileBusy } from "./dom.js";
import { startPage } from "./layout.js";

/** `next` from the address if it is a path on this site; "/" otherwise (no open redirect). */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

function setUpPasswordToggle() {
  const password = byId("password");
  const toggle = byId("show-password");
  toggle.addEventListener("click", () => {
    const shown = password.type === "text";
    password.type = shown ? "password" : "text";
    toggle.textContent = shown ? "Show" : "Hide";
    toggle.setAttribute("aria-pressed", String(!shown));
  });
}

function setUpForm() {
  const form = byId("login-form");
  const error = byId("login-error");
  const button = byId("sign-in");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    hideNotice(error);
    const body = { username: form.elements.username.value.trim(), password: form.elements.password.value };
    await whileBusy(button, async () => {
      try {
        await api("/api/auth/login", { method: "POST", body, signInOn401: false });
        location.assign(nextPath());
      } catch (problem) {
        showNotice(error, problem);
        form.elements.password.select();
      }
    });
  });
}

setUpPasswordToggle();
setUpForm();
await startPage({ signedIn: false }).catch(() => null);
