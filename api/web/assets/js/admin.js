// Account administration (admins only; the server sends others to /).

import { api } from "./api.js";
import { byId, el, fill, hideNotice, showNotice, table, whileBusy } from "./dom.js";
import { formatTime } from "./format.js";
import { startPage } from "./layout.js";
import { quotaLines } from "./usage_view.js";

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
  setUpQuotas();
}

function setUpQuotas() {
  const notice = byId("quotas-notice");
  const choice = byId("quota-user");
  const inputs = { tokens: byId("quota-tokens"), costUsd: byId("quota-cost"), records: byId("quota-records") };
  let statuses = [];

  function showLimits(username) {
    const status = statuses.find((s) => s.user === username);
    for (const [key, input] of Object.entries(inputs)) input.value = status?.quota[key] ?? "";
  }

  function row(status) {
    const cells = quotaLines(status).map(([key, , text]) => el("td", { dataset: { quota: key } }, text));
    const source = status.quota.isDefault ? "default" : "set by an admin";
    return [status.user, ...cells, source];
  }

  async function load() {
    try {
      const answer = await api("/api/admin/quotas");
      statuses = answer.quotas;
      byId("quotas-month").textContent = `${answer.month} (UTC)`;
      fill(
        byId("quotas"),
        table(
          [{ label: "Username" }, { label: "Tokens" }, { label: "Cost" }, { label: "Accepted records" }, { label: "Quota" }],
          statuses.map(row),
          { empty: "No accounts." },
        ),
      );
      byId("quotas").querySelectorAll("tbody tr").forEach((tr, i) => {
        tr.dataset.username = statuses[i].user;
      });
      const chosen = choice.value;
      fill(choice, statuses.map((s) => el("option", { value: s.user, text: s.user })));
      if (statuses.some((s) => s.user === chosen)) choice.value = chosen;
      showLimits(choice.value);
    } catch (error) {
      showNotice(notice, error);
    }
  }

  async function save(body) {
    hideNotice(notice);
    const username = choice.value;
    try {
      await api(`/api/admin/users/${encodeURIComponent(username)}/quota`, { method: "PUT", body });
      showNotice(notice, `Quota of "${username}" saved.`, "ok");
      await load();
    } catch (error) {
      showNotice(notice, error);
    }
  }

  function limits() {
    const number = (input) => (input.value.trim() === "" ? null : Number(input.value));
    return { tokens: number(inputs.tokens), costUsd: number(inputs.costUsd), records: number(inputs.records) };
  }

  choice.addEventListener("change", () => showLimits(choice.value));
  byId("quota-form").addEventListener("submit", (event) => {
    event.preventDefault();
    whileBusy(byId("save-quota"), () => save(limits()));
  });
  const reset = byId("reset-quota");
  reset.addEventListener("click", () => whileBusy(reset, () => save({ reset: true })));
  const refresh = byId("refresh-quotas");
  refresh.addEventListener("click", () => whileBusy(refresh, load));
  load();
}

const page = await startPage().catch(() => null);
if (page) run(page);
