// The dashboard: metric cards, the job list (polled), and the "New dataset" form.

import { api } from "./api.js";
import { byId, el, fill, hideNotice, showNotice, whileBusy } from "./dom.js";
import { definitionForm } from "./definition_form.js";
import { formatDuration, formatNumber, formatTime, formatUsd, jobCostUsd } from "./format.js";
import { isActive, jobUrl, progressBar, statusBadge } from "./jobs_view.js";
import { startPage } from "./layout.js";
import { quotaCards } from "./usage_view.js";

const PAGE_SIZE = 20;

function metricCards(metrics, showFailures) {
  const cards = [
    ["totalJobs", "Total jobs", formatNumber(metrics.totalJobs)],
    ["totalRecordsRequested", "Records requested", formatNumber(metrics.totalRecordsRequested)],
    ["totalRecordsGenerated", "Records generated", formatNumber(metrics.totalRecordsGenerated)],
    showFailures ? ["recordsFailed", "Records failed", formatNumber(metrics.recordsFailed)] : null,
    ["activeJobs", "Active jobs", formatNumber(metrics.activeJobs)],
    ["failedJobs", "Failed jobs", formatNumber(metrics.failedJobs)],
    ["tokensUsed", "Tokens used", formatNumber(metrics.tokensUsed)],
    ["lastJobAt", "Last job", metrics.lastJobAt ? formatTime(metrics.lastJobAt) : "None yet"],
  ];
  return cards.filter(Boolean).map(([key, label, value]) =>
    el(
      "div",
      { class: "metric", dataset: { metric: key } },
      el("div", { class: "metric-label", text: label }),
      el("div", { class: key === "lastJobAt" ? "metric-value small-value" : "metric-value", text: value }),
    ),
  );
}

function jobRow(job, { everyone, showFailures }) {
  const meta = [
    el("span", { class: "mono", text: job.id }),
    el("span", { text: `created ${formatTime(job.createdAt)}` }),
    everyone ? el("span", { text: `owner ${job.owner}` }) : null,
    job.version ? el("span", { text: `version ${job.version}` }) : null,
    el("span", { class: "job-cost", text: `cost ${formatUsd(jobCostUsd(job))}` }),
  ];
  return el(
    "li",
    { class: "job-row", dataset: { jobId: job.id, status: job.status } },
    el("div", { class: "job-title" }, el("a", { href: jobUrl(job.id), text: job.title })),
    el("div", { class: "job-status" }, statusBadge(job.status)),
    el("div", { class: "job-progress" }, progressBar(job, { showFailures })),
    el("div", { class: "job-meta" }, meta),
  );
}

function run({ config, me }) {
  const isAdmin = me.role === "admin";
  const jobList = byId("job-list");
  const jobsError = byId("jobs-error");
  const pager = byId("jobs-pager");
  const allJobs = byId("all-jobs");
  let offset = 0;
  let timer = null;

  byId("metrics-scope").textContent = isAdmin ? "Metrics across all users" : "";
  byId("all-jobs-toggle").hidden = !isAdmin;

  function renderPager(answer) {
    const shown = answer.jobs.length;
    const previous = el("button", { type: "button", class: "button small", text: "Previous", disabled: offset === 0 });
    const next = el("button", { type: "button", class: "button small", text: "Next", disabled: offset + shown >= answer.count });
    previous.addEventListener("click", () => {
      offset = Math.max(0, offset - PAGE_SIZE);
      refresh();
    });
    next.addEventListener("click", () => {
      offset += PAGE_SIZE;
      refresh();
    });
    const range = answer.count ? `${offset + 1}–${offset + shown} of ${answer.count}` : "";
    fill(pager, el("span", { text: range }), answer.count > PAGE_SIZE ? el("div", { class: "actions" }, previous, next) : null);
  }

  async function refresh() {
    clearTimeout(timer);
    let active = false;
    try {
      const everyone = isAdmin && allJobs.checked;
      const query = `offset=${offset}&limit=${PAGE_SIZE}${everyone ? "&all=true" : ""}`;
      const [jobs, metrics, usage] = await Promise.all([
        api(`/api/jobs?${query}`),
        api("/api/metrics"),
        api("/api/usage"),
      ]);
      if (!jobs.jobs.length && offset > 0) {
        offset = Math.max(0, offset - PAGE_SIZE);
        return refresh();
      }
      fill(byId("metrics"), metricCards(metrics.metrics, config.showFailures));
      if (usage.quota) fill(byId("my-usage"), quotaCards(usage.quota));
      byId("usage-month").textContent = `${usage.month} (UTC)`;
      fill(
        jobList,
        jobs.jobs.length
          ? jobs.jobs.map((job) => jobRow(job, { everyone, showFailures: config.showFailures }))
          : el("li", { class: "empty", text: "No jobs yet: create your first dataset with the form." }),
      );
      renderPager(jobs);
      hideNotice(jobsError);
      active = metrics.metrics.activeJobs > 0 || jobs.jobs.some(isActive);
    } catch (error) {
      showNotice(jobsError, error);
    }
    const seconds = active ? config.activePollSeconds : config.idlePollSeconds;
    clearTimeout(timer); // a click may have refreshed meanwhile: keep a single polling chain
    timer = setTimeout(refresh, seconds * 1000);
  }

  byId("refresh-jobs").addEventListener("click", refresh);
  allJobs.addEventListener("change", () => {
    offset = 0;
    refresh();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });
  refresh();
  return refresh;
}

/** The estimate as a short paragraph: what N accepted records should take, with its range. */
function showEstimate(panel, estimate) {
  const span = (range, format) =>
    range.expected == null ? `unknown (up to ${format(range.high)})` : `${format(range.expected)} (${format(range.low)} to ${format(range.high)})`;
  const pct = (value) => `${Math.round(value * 100)}%`;
  const unknown = estimate.tokensEstimated
    ? "unknown (the gateway reports no usage: tokens estimated from sizes)"
    : "unknown (no price for this gateway)";
  const cost = estimate.costUsd ? span(estimate.costUsd, formatUsd) : unknown;
  fill(
    panel,
    el("strong", { text: `Estimate for ${formatNumber(estimate.totalRecords)} records: ` }),
    el("span", { dataset: { estimate: "cost" }, text: `cost ${cost}; ` }),
    el("span", { text: `tokens ${span(estimate.tokens, formatNumber)}; ` }),
    el("span", { text: `about ${span(estimate.seconds, (s) => formatDuration(s == null ? s : s * 1000))}. ` }),
    el("span", {
      class: "muted",
      text: `From ${estimate.sample} sample candidates: ${pct(estimate.acceptanceRate)} accepted (95% interval ${pct(estimate.acceptanceLow)} to ${pct(estimate.acceptanceHigh)}), ${formatNumber(estimate.tokensPerCandidate)} tokens each. Create the job now, unchanged, and they become its first candidates.`,
    }),
  );
  panel.hidden = false;
}

async function setUpForm(config, refreshJobs) {
  const form = byId("new-job-form");
  const notice = byId("new-job-notice");
  const createButton = byId("create-job");
  const estimateButton = byId("estimate-job");
  const estimatePanel = byId("estimate");
  let settings = null;
  // The last estimate of this very form: creating the job then keeps its sample candidates.
  let estimated = null;
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
      estimateButton.disabled = !definition.hasDraft();
      estimatePanel.hidden = true;
      estimated = null;
    },
  });
  definition.preset(config.formPreset);
  if (config.formPresetProblem) showNotice(notice, config.formPresetProblem);

  estimateButton.addEventListener("click", async () => {
    hideNotice(notice);
    let body;
    try {
      body = definition.body();
    } catch (error) {
      showNotice(notice, error);
      return;
    }
    await whileBusy(estimateButton, async () => {
      try {
        const estimate = await api("/api/jobs/estimate", { method: "POST", body });
        showEstimate(estimatePanel, estimate);
        estimated = estimate.estimateId ? { id: estimate.estimateId, body: JSON.stringify(body) } : null;
        estimatePanel.dataset.estimateId = estimate.estimateId ?? "";
      } catch (error) {
        showNotice(notice, error);
      }
    });
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    hideNotice(notice);
    let body;
    try {
      body = definition.body();
    } catch (error) {
      showNotice(notice, error);
      return;
    }
    if (estimated && estimated.body === JSON.stringify(body)) body = { ...body, estimateId: estimated.id };
    estimated = null; // an estimate is used once
    await whileBusy(createButton, async () => {
      try {
        const answer = await api("/api/jobs", { method: "POST", body });
        definition.reset();
        const warnings = answer.warnings?.length ? ` (${answer.warnings.join("; ")})` : "";
        showNotice(notice, ["Job created: ", el("a", { href: jobUrl(answer.job.id), text: answer.job.title }), warnings], "ok");
        refreshJobs();
      } catch (error) {
        showNotice(notice, error);
      }
    });
    createButton.disabled = !definition.hasDraft();
  });
}

const page = await startPage().catch(() => null);
if (page) {
  const refreshJobs = run(page);
  await setUpForm(page.config, refreshJobs);
}
