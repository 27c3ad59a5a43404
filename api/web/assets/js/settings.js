// Settings: API tokens (the secret shown once), inference profiles, and the password.

import { api } from "./api.js";
import { byId, el, fill, hideNotice, showNotice, table, whileBusy } from "./dom.js";
import { formatTime } from "./format.js";
import { statusBadge } from "./jobs_view.js";
import { startPage } from "./layout.js";

function smallButton(label, handler, { kind = "", disabled = false, dataset } = {}) {
  const button = el("button", { type: "button", class: `button small ${kind}`.trim(), disabled, dataset, text: label });
  button.addEventListener("click", () => whileBusy(button, handler));
  return button;
}

function setUpTokens() {
  const form = byId("token-form");
  const created = byId("token-created");
  const error = byId("tokens-error");

  async function load() {
    try {
      const answer = await api("/api/auth/tokens");
      fill(
        byId("tokens"),
        table(
          [{ label: "Name" }, { label: "Created" }, { label: "Id" }, { label: "" }],
          answer.tokens.map((t) => [
            t.name,
            formatTime(t.createdAt),
            el("span", { class: "mono", text: t.id }),
            smallButton("Revoke", () => revoke(t), { kind: "danger", dataset: { tokenId: t.id } }),
          ]),
          { empty: "No API tokens yet." },
        ),
      );
    } catch (problem) {
      showNotice(error, problem);
    }
  }

  async function revoke(token) {
    if (!confirm(`Revoke the token "${token.name}"? Scripts using it stop working at once.`)) return;
    hideNotice(error);
    try {
      await api(`/api/auth/tokens/${encodeURIComponent(token.id)}`, { method: "DELETE" });
      await load();
    } catch (problem) {
      showNotice(error, problem);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    hideNotice(error);
    hideNotice(created);
    const button = byId("create-token");
    await whileBusy(button, async () => {
      try {
        const answer = await api("/api/auth/tokens", { method: "POST", body: { name: form.elements.name.value.trim() } });
        const secret = el("code", { id: "new-token", text: answer.token });
        const copy = el("button", { type: "button", class: "button small", text: "Copy" });
        copy.addEventListener("click", async () => {
          try {
            await navigator.clipboard.writeText(answer.token);
            copy.textContent = "Copied";
          } catch {
            getSelection().selectAllChildren(secret);
            copy.textContent = "Selected: press Ctrl+C";
          }
        });
        showNotice(
          created,
          [el("p", { text: `Token "${answer.name}" created. Copy it now: it is not shown again.` }), el("div", { class: "secret" }, secret, copy)],
          "info",
        );
        form.reset();
        await load();
      } catch (problem) {
        showNotice(error, problem);
      }
    });
  });
  load();
}

function setUpPassword() {
  const form = byId("password-form");
  const result = byId("password-result");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    hideNotice(result);
    const { currentPassword, newPassword, confirmPassword } = form.elements;
    if (newPassword.value !== confirmPassword.value) {
      showNotice(result, "The new password and its repetition differ");
      return;
    }
    await whileBusy(byId("change-password"), async () => {
      try {
        await api("/api/auth/password", {
          method: "POST",
          body: { currentPassword: currentPassword.value, newPassword: newPassword.value },
          signInOn401: false,
        });
        form.reset();
        showNotice(result, "Password changed. Your other sessions were signed out; API tokens keep working.", "ok");
      } catch (problem) {
        showNotice(result, problem);
      }
    });
  });
}

function setUpProfiles() {
  const form = byId("profile-form");
  const notice = byId("profiles-notice");
  const fields = form.elements;
  let editing = null; // the profile being edited, or null for a new one
  let current = null; // GET /api/user/settings

  function render(settings) {
    current = settings;
    byId("profiles-count").textContent = `${settings.profiles.length} of ${settings.maxProfiles} saved`;
    fill(
      byId("profiles"),
      table(
        [{ label: "Name" }, { label: "Base URL" }, { label: "Path" }, { label: "Model" }, { label: "Key" }, { label: "" }, { label: "" }],
        settings.profiles.map((p) => [
          p.name ?? "—",
          p.baseUrl ?? "—",
          p.path ?? "—",
          p.model ?? "—",
          p.hasApiKey ? "saved" : "none",
          p.id === settings.activeProfileId ? statusBadge("active") : "",
          el(
            "div",
            { class: "actions" },
            smallButton("Edit", async () => edit(p), { dataset: { profileId: p.id } }),
            p.id === settings.activeProfileId ? null : smallButton("Activate", () => activate(p)),
            smallButton("Delete", () => remove(p), { kind: "danger" }),
          ),
        ]),
        { empty: "No profiles: jobs use this server's inference." },
      ),
    );
  }

  async function change(work, message) {
    hideNotice(notice);
    try {
      render(await work());
      if (message) showNotice(notice, message, "ok");
    } catch (problem) {
      showNotice(notice, problem);
    }
  }

  const activate = (p) =>
    change(() => api("/api/user/settings", { method: "POST", body: { mode: "activate", id: p.id } }), `"${p.name}" is now active.`);

  const remove = (p) => {
    if (!confirm(`Delete the profile "${p.name}"? Its saved key is deleted too.`)) return undefined;
    if (editing?.id === p.id) stopEditing();
    return change(() => api("/api/user/settings", { method: "DELETE", body: { id: p.id } }), `"${p.name}" deleted.`);
  };

  function edit(p) {
    editing = p;
    byId("profile-form-title").textContent = `Edit "${p.name}"`;
    fields.name.value = p.name ?? "";
    fields.baseUrl.value = p.baseUrl ?? "";
    fields.path.value = p.path ?? "";
    fields.model.value = p.model ?? "";
    fields.apiKey.value = "";
    fields.apiKey.placeholder = p.hasApiKey ? "a key is saved: leave empty to keep it" : "";
    fields.clearKey.checked = false;
    byId("clear-key-row").hidden = !p.hasApiKey;
    fields.setActive.checked = p.id === current?.activeProfileId;
    byId("cancel-edit").hidden = false;
    fields.name.focus();
  }

  function stopEditing() {
    editing = null;
    form.reset();
    byId("profile-form-title").textContent = "New profile";
    fields.apiKey.placeholder = "";
    byId("clear-key-row").hidden = true;
    byId("cancel-edit").hidden = true;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      mode: "upsert",
      name: fields.name.value.trim(),
      baseUrl: fields.baseUrl.value.trim(),
      path: fields.path.value.trim(),
      model: fields.model.value.trim(),
      setActive: fields.setActive.checked,
    };
    if (editing) body.id = editing.id;
    if (fields.apiKey.value) body.apiKey = fields.apiKey.value;
    else if (fields.clearKey.checked) body.apiKey = "";
    const name = body.name || "The profile";
    await whileBusy(byId("save-profile"), async () => {
      hideNotice(notice);
      try {
        render(await api("/api/user/settings", { method: "POST", body }));
        showNotice(notice, `${name} saved.`, "ok");
        stopEditing();
      } catch (problem) {
        showNotice(notice, problem);
      }
    });
  });

  byId("cancel-edit").addEventListener("click", stopEditing);

  const listButton = byId("list-models");
  listButton.addEventListener("click", () =>
    whileBusy(listButton, async () => {
      hideNotice(notice);
      const body = {};
      if (editing) body.profileId = editing.id;
      if (fields.baseUrl.value.trim()) body.baseUrl = fields.baseUrl.value.trim();
      if (fields.apiKey.value) body.apiKey = fields.apiKey.value;
      try {
        const answer = await api("/api/user/models", { method: "POST", body });
        const names = answer.models.map((m) => (typeof m === "string" ? m : m?.id)).filter(Boolean);
        fill(byId("model-options"), names.map((name) => el("option", { value: name })));
        showNotice(notice, names.length ? `${names.length} models: ${names.slice(0, 12).join(", ")}${names.length > 12 ? ", …" : ""}` : "The gateway lists no models.", "info");
      } catch (problem) {
        showNotice(notice, problem);
      }
    }),
  );

  change(() => api("/api/user/settings"));
}

const page = await startPage().catch(() => null);
if (page) {
  setUpTokens();
  setUpPassword();
  setUpProfiles();
}
