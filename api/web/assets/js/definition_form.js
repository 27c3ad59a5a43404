// The dataset definition form shared by "New dataset" and "New schedule": the fields, schema
// drafting (POST /api/jobs/schema), regenerating with previousDraftToken, and the edited schema.

import { api } from "./api.js";
import { el, hideNotice, showNotice, whileBusy } from "./dom.js";
import { formatDuration, formatNumber, formatTime } from "./format.js";

export const DEFAULT_RECORDS = 10;

function field(label, control, hint) {
  return el("label", { class: "field" }, el("span", {}, label, hint ? el("span", { class: "hint", text: ` ${hint}` }) : null), control);
}

function profileLabel(profile) {
  const name = profile.name || profile.baseUrl || profile.id;
  return profile.model ? `${name} (${profile.model})` : name;
}

/**
 * Build the definition fields and schema panel inside `container` (a <form>'s child).
 *
 * @param {HTMLElement} container
 * @param {{config: object, settings: object|null, notice: HTMLElement, onChange?: () => void}} options
 *   `settings` is GET /api/user/settings (its profiles fill the inference choice).
 */
export function definitionForm(container, { config, settings, notice, onChange = () => {} }) {
  const inputs = {
    title: el("input", { type: "text", name: "title", required: true, maxlength: 200, autocomplete: "off" }),
    description: el("textarea", { name: "description", maxlength: 2000, rows: 2 }),
    instructions: el("textarea", { name: "instructions", required: true, maxlength: 8000, rows: 4 }),
    records: el("input", {
      type: "number",
      name: "totalRecords",
      required: true,
      min: 1,
      max: config.maxRecordsPerJob,
      step: 1,
      value: DEFAULT_RECORDS,
    }),
    datasetMode: el("input", { type: "checkbox", name: "datasetMode", checked: false }),
    profile: el("select", { name: "profileId" }),
    model: el("input", { type: "text", name: "model", maxlength: 200, autocomplete: "off", placeholder: "the profile's or server's default" }),
    parameters: el("textarea", { name: "parameters", class: "code short", rows: 3, placeholder: '{"temperature": 0.7}' }),
    schema: el("textarea", { name: "schema", class: "code", spellcheck: "false", "aria-label": "Record schema (JSON)" }),
  };
  inputs.profile.append(el("option", { value: "", text: "This server's inference" }));
  for (const profile of settings?.profiles ?? []) {
    inputs.profile.append(
      el("option", { value: profile.id, selected: profile.id === settings.activeProfileId, text: profileLabel(profile) }),
    );
  }

  const draftButton = el("button", { type: "button", class: "button", id: "draft-schema", text: "Draft schema" });
  const regenerateButton = el("button", { type: "button", class: "button", id: "regenerate-schema", text: "Regenerate", hidden: true });
  const draftMeta = el("p", { class: "muted small", id: "draft-meta" });
  const draftWarnings = el("div", { class: "notice info", hidden: true });
  const schemaPanel = el(
    "div",
    { class: "field", id: "schema-panel", hidden: true },
    el("span", { class: "field-label" }, "Record schema", el("span", { class: "hint", text: " JSON Schema; edit it freely before creating" })),
    draftMeta,
    draftWarnings,
    inputs.schema,
  );

  container.append(
    field("Title", inputs.title),
    field("Description", inputs.description, "shown to people, never sent to the model"),
    field("Instructions", inputs.instructions, "what each record should be"),
    el(
      "div",
      { class: "field-row" },
      field("Records", inputs.records, `1 to ${formatNumber(config.maxRecordsPerJob)}`),
      el("label", { class: "check" }, inputs.datasetMode, "Dataset mode (labelled records with a record_id)"),
    ),
    el(
      "details",
      { class: "inference" },
      el("summary", { text: "Inference" }),
      el(
        "div",
        { class: "form" },
        el("p", { class: "muted small" }, "Use one of your saved gateways or this server's. ", el("a", { href: "/settings", text: "Manage profiles" })),
        el("div", { class: "field-row" }, field("Profile", inputs.profile), field("Model", inputs.model)),
        field("Parameters", inputs.parameters, "JSON object merged into each model request"),
      ),
    ),
    el("div", { class: "actions" }, draftButton, regenerateButton),
    schemaPanel,
  );

  let draft = null; // the last POST /api/jobs/schema answer
  let draftedText = "";

  function parameters() {
    const text = inputs.parameters.value.trim();
    if (!text) return undefined;
    let value;
    try {
      value = JSON.parse(text);
    } catch {
      throw new Error("Inference parameters must be valid JSON");
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new Error("Inference parameters must be a JSON object, like {\"temperature\": 0.7}");
    }
    return value;
  }

  function inference() {
    const choice = {};
    if (inputs.profile.value) choice.profileId = inputs.profile.value;
    if (inputs.model.value.trim()) choice.model = inputs.model.value.trim();
    const params = parameters();
    if (params) choice.parameters = params;
    return Object.keys(choice).length ? choice : undefined;
  }

  function texts() {
    return {
      title: inputs.title.value.trim(),
      description: inputs.description.value,
      instructions: inputs.instructions.value.trim(),
      datasetMode: inputs.datasetMode.checked,
    };
  }

  function showDraft(answer) {
    draft = answer;
    draftedText = JSON.stringify(answer.schema, null, 2);
    inputs.schema.value = draftedText;
    draftMeta.textContent =
      `Drafted ${formatTime(answer.schemaGeneratedAt)} in ${formatDuration(answer.schemaDurationMs)}` +
      ` · refreshes: ${answer.schemaRefreshes}`;
    if (answer.warnings?.length) {
      draftWarnings.textContent = `Repaired: ${answer.warnings.join("; ")}`;
      draftWarnings.hidden = false;
    } else {
      draftWarnings.hidden = true;
    }
    schemaPanel.hidden = false;
    regenerateButton.hidden = false;
    onChange();
  }

  async function requestDraft(button, previous) {
    for (const input of [inputs.title, inputs.instructions]) {
      if (!input.reportValidity()) return;
    }
    hideNotice(notice);
    await whileBusy(button, async () => {
      try {
        const body = { ...texts(), inference: inference() };
        if (previous && draft) body.previousDraftToken = draft.draftToken;
        showDraft(await api("/api/jobs/schema", { method: "POST", body }));
      } catch (error) {
        showNotice(notice, error);
      }
    });
  }

  draftButton.addEventListener("click", () => requestDraft(draftButton, false));
  regenerateButton.addEventListener("click", () => requestDraft(regenerateButton, true));

  return {
    inputs,
    hasDraft: () => draft !== null,

    /** Fill the fields from an object such as NEXT_PUBLIC_DATAGEN_UI_TEST_PRESET. */
    preset(values) {
      if (!values) return;
      for (const name of ["title", "description", "instructions"]) {
        if (typeof values[name] === "string") inputs[name].value = values[name];
      }
      if (Number.isInteger(values.totalRecords)) inputs.records.value = values.totalRecords;
      if (typeof values.datasetMode === "boolean") inputs.datasetMode.checked = values.datasetMode;
    },

    /**
     * The definition for POST /api/jobs or /api/schedules: the draft token with the fields as
     * they are now, plus the schema when the user edited it. Throws an Error saying what to fix.
     */
    body() {
      if (!draft) throw new Error("Draft a schema first");
      if (!inputs.records.reportValidity()) throw new Error("Check the number of records");
      const body = { draftToken: draft.draftToken, totalRecords: Number(inputs.records.value), ...texts() };
      const choice = inference();
      if (choice) body.inference = choice;
      const text = inputs.schema.value;
      if (text.trim() !== draftedText.trim()) {
        try {
          body.schema = JSON.parse(text);
        } catch (error) {
          throw new Error(`The schema is not valid JSON: ${error.message}`);
        }
      }
      return body;
    },

    reset() {
      for (const name of ["title", "description", "instructions", "schema", "model", "parameters"]) {
        inputs[name].value = "";
      }
      inputs.records.value = DEFAULT_RECORDS;
      draft = null;
      draftedText = "";
      schemaPanel.hidden = true;
      regenerateButton.hidden = true;
      onChange();
    },
  };
}
