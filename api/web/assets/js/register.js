// Public sign-up: the credentials come by email; a failed mail can be sent again.

import { api } from "./api.js";
import { byId, el, hideNotice, showNotice, whileBusy } from "./dom.js";
import { startPage } from "./layout.js";

const form = byId("register-form");
const result = byId("register-result");
const registerButton = byId("register");
const resendButton = byId("resend");
let registeredEmail = "";

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  hideNotice(result);
  resendButton.hidden = true;
  const body = {
    name: form.elements.name.value.trim(),
    email: form.elements.email.value.trim(),
    country: form.elements.country.value.trim(),
  };
  await whileBusy(registerButton, async () => {
    try {
      const answer = await api("/api/auth/register", { method: "POST", body, signInOn401: false });
      showNotice(
        result,
        [`Account created for ${body.name}: your username is `, el("strong", { text: answer.username }), `. ${answer.message} `, el("a", { href: "/login", text: "Sign in" })],
        "ok",
      );
      form.reset();
    } catch (error) {
      showNotice(result, error);
      if (error.body?.canResend) {
        registeredEmail = body.email;
        resendButton.hidden = false;
      }
    }
  });
});

resendButton.addEventListener("click", () =>
  whileBusy(resendButton, async () => {
    try {
      const answer = await api("/api/auth/register/resend", { method: "POST", body: { email: registeredEmail }, signInOn401: false });
      showNotice(result, answer.message, "ok");
      resendButton.hidden = true;
    } catch (error) {
      showNotice(result, error);
    }
  }),
);

await startPage({ signedIn: false }).catch(() => null);
