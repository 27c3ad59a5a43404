// Recurring builds: list, create (from a drafted definition), pause/resume, delete, versions.

import { api } from "./api.js";
import { byId, el, fill, hideNotice, showNotice, table, whileBusy } from "./dom.js";
import { definitionForm } from "./definition_form.js";
import { formatNumber, formatTime } from "./format.js";
import { jobUrl, statusBadge } from "./jobs_view.js";
import { startPage } from "./layout.js";

function run({ config, me }) {
  const isAdmin = me.role === "admin";
  const list = byId("schedule-list");
  const notice = byId("schedules-notice");
  const everyone = byId("all-schedules");
  byId("all-schedules-toggle").hidden = !isAdmin;

  function button(label, handler, kind = "") {
    const node = el("button", { type: "button", class: `button small ${kind}`.trim(), text: label });
    node.addEventListener("click", () => whileBusy(node, handler));
    return node;
  }

  async function showVersions(schedule, target) {
    if (!target.hidden) {
      target.hidden = true;
      return;
    }
    try {
      const answer = await api(`/api/schedules/${encodeURIComponent(schedule.id)}/jobs`);
      fill(
        target,
        table(
          [{ label: "Version", num: true }, { label: "Job" }, { label: "Status" }, { label: "Records", num: true }, { label: "Created" }],
          answer.jobs.map((job) => [
            formatNumber(job.version),
            el("a", { href: jobUrl(job.id), text: job.id }),
            statusBadge(job.status),
            `${formatNumber(job.totalOk)} / ${formatNumber(job.totalRecords)}`,
            formatTime(job.createdAt),
          ]),
          { empty: "No version built yet." },
        ),
      );
      target.hidden = false;
    } catch (error) {
      showNotice(notice, error);
    }
  }

  async function setActive(schedule, active) {
    hideNotice(notice);
    try {
      await api(`/api/schedules/${encodeURIComponent(schedule.id)}`, { method: "PATCH", body: { active } });
      showNotice(notice, `"${schedule.title}" ${active ? "resumed" : "paused"}.`, "ok");
      await refresh();
    } catch (error) {
      showNotice(notice, error);
    }
  }

  async function remove(schedule) {
    if (!confirm(`Delete the schedule "${schedule.title}"? The versions it built stay as jobs.`)) return;
    hideNotice(notice);
    try {
      await api(`/api/schedules/${encodeURIComponent(schedule.id)}`, { method: "DELETE" });
      showNotice(notice, `"${schedule.title}" deleted.`, "ok");
      await refresh();
    } catch (error) {
      showNotice(notice, error);
    }
  }

  function row(schedule) {
    const versions = el("div", { class: "versions", hidden: true });
    const meta = [
      el("span", { class: "mono", text: `${schedule.cron} (${schedule.timezone})` }),
      el("span", { text: schedule.active ? `next ${formatTime(schedule.nextRunAt)}` : "paused" }),
      el("span", { text: `${formatNumber(schedule.totalRecords)} records` }),
      el("span", { text: schedule.latestVersion ? `latest version ${schedule.latestVersion}` : "no version yet" }),
      isAdmin && everyone.checked ? el("span", { text: `owner ${schedule.owner}` }) : null,
    ];
    return el(
      "li",
      { class: "job-row", dataset: { scheduleId: schedule.id } },
      el("div", { class: "job-title" }, el("strong", { text: schedule.title })),
      el("div", { class: "job-status" }, statusBadge(schedule.active ? "active" : "paused")),
      el(
        "div",
        { class: "job-progress actions" },
        button(schedule.active ? "Pause" : "Resume", () => setActive(schedule, !schedule.active)),
        button("Versions", () => showVersions(schedule, versions)),
        button("Delete", () => remove(schedule), "danger"),
      ),
      el("div", { class: "job-meta" }, meta),
      el("div", { class: "job-versions" }, versions),
    );
  }

  async function refresh() {
    try {
      const answer = await api(`/api/schedules${isAdmin && everyone.checked ? "?all=true" : ""}`);
      fill(list, answer.schedules.length ? answer.schedules.map(row) : el("li", { class: "empty", text: "No schedules yet." }));
    } catch (error) {
      showNotice(notice, error);
    }
  }

  byId("refresh-schedules").addEventListener("click", refresh);
  everyone.addEventListener("change", refresh);
  refresh();
  return refresh;
}

async function setUpForm(config, refresh) {
  const form = byId("new-schedule-form");
  const notice = byId("new-schedule-notice");
  const createButton = byId("create-schedule");
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone) byId("timezone").value = zone;
  let settings = null;
  try {
    settings = await api("/api/user/settings");
  } catch (error) {
    showNotice(notice, `Your inference profiles could not be loaded: ${error.message}`);
  }
  const definition = definitionForm(byId("definition-fields"), {
    config,
    settings,
    notice,
    onChange: () => {
      createButton.disabled = !definition.hasDraft();
    },
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    hideNotice(notice);
    let body;
    try {
      body = {
        ...definition.body(),
        cron: byId("cron").value.trim(),
        timezone: byId("timezone").value.trim(),
        active: byId("schedule-active").checked,
      };
    } catch (error) {
      showNotice(notice, error);
      return;
    }
    await whileBusy(createButton, async () => {
      try {
        const answer = await api("/api/schedules", { method: "POST", body });
        definition.reset();
        const next = answer.schedule.nextRunAt ? ` Next build: ${formatTime(answer.schedule.nextRunAt)}.` : "";
        showNotice(notice, `Schedule "${answer.schedule.title}" created.${next}`, "ok");
        refresh();
      } catch (error) {
        showNotice(notice, error);
      }
    });
    createButton.disabled = !definition.hasDraft();
  });
}

const page = await startPage().catch(() => null);
if (page) {
  const refresh = run(page);
  await setUpForm(page.config, refresh);
}
