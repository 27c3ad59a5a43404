// Account administration (admins only; the server sends others to /).

import { api } from "./api.js";
import { byId, el, fill, hideNotice, showNotice, table, whileBusy } from "./dom.js";
import { formatTime } from "./format.js";
import { startPage } from "./layout.js";

function run({ me }) {
  if (me.role !== "admin") {
    location.replace("/");
    return;
  }
  const notice = byId("accounts-notice");

  async function remove(account) {
    if (!confirm(`Delete the account "${account.username}"? It can no longer sign in anywhere.`)) return;
    hideNotice(notice);
    try {
      await api("/api/admin/accounts", { method: "DELETE", body: { username: account.username } });
      showNotice(notice, `Account "${account.username}" deleted.`, "ok");
      await load();
    } catch (error) {
      showNotice(notice, error);
    }
  }

  function actions(account) {
    const self = account.username === me.username;
    const button = el("button", {
      type: "button",
      class: "button small danger",
      disabled: self,
      title: self ? "Current session" : null,
      dataset: { username: account.username },
      text: "Delete",
    });
    button.addEventListener("click", () => whileBusy(button, () => remove(account)));
    return el("div", { class: "actions" }, button, self ? el("span", { class: "muted small", text: "Current session" }) : null);
  }

  async function load() {
    try {
      const answer = await api("/api/admin/accounts");
      fill(
        byId("accounts"),
        table(
          [{ label: "Username" }, { label: "Role" }, { label: "Email" }, { label: "Country" }, { label: "Created" }, { label: "Actions" }],
          answer.accounts.map((a) => [a.username, a.role, a.email ?? "—", a.country ?? "—", formatTime(a.createdAt), actions(a)]),
          { empty: "No accounts." },
        ),
      );
    } catch (error) {
      showNotice(notice, error);
    }
  }

  const refresh = byId("refresh-accounts");
  refresh.addEventListener("click", () => whileBusy(refresh, load));
  load();
}

const page = await startPage().catch(() => null);
if (page) run(page);
