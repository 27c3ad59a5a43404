// One job: status, counts, timings, failure reasons, tokens, shards, records, downloads and the
// actions its state allows. Polled while the job is queued or running.

import { api } from "./api.js";
import { byId, el, fill, hideNotice, showNotice, table, whileBusy } from "./dom.js";
import { formatDuration, formatNumber, formatTime, formatUsd, formatValue } from "./format.js";
import { isActive, progressBar, statusBadge } from "./jobs_view.js";
import { startPage } from "./layout.js";
import { qualityView } from "./quality_view.js";

const RECORDS_PAGE = 25;
const FORMATS = [
  ["json", "JSON"],
  ["jsonl", "JSONL"],
  ["csv", "CSV"],
  ["parquet", "Parquet"],
];

const jobId = decodeURIComponent(location.pathname.split("/")[2] || "");
const jobPath = `/api/jobs/${encodeURIComponent(jobId)}`;

function facts(node, pairs) {
  fill(
    node,
    pairs.filter(Boolean).map(([label, value, key, mono]) =>
      el("div", { dataset: key ? { fact: key } : {} }, el("dt", { text: label }), el("dd", { class: mono ? "mono" : null, text: value })),
    ),
  );
}

function isHttpUrl(value) {
  return typeof value === "string" && /^https?:\/\//i.test(value);
}

function cellOf(value, { json = false } = {}) {
  const text = formatValue(value);
  return el("td", { class: json || (value !== null && typeof value === "object") ? "cell json" : "cell", title: text, text });
}

function recordColumns(schema, records) {
  const names = Object.keys(schema?.properties ?? {});
  for (const record of records) {
    for (const name of Object.keys(record.data ?? {})) if (!names.includes(name)) names.push(name);
  }
  return names;
}

function run({ config }) {
  const notice = byId("job-notice");
  let view = null;
  let recordsOffset = 0;
  let timer = null;

  function renderActions(job) {
    const actions = [];
    if (isHttpUrl(view.prefectUrl)) {
      actions.push(el("a", { class: "button", href: view.prefectUrl, target: "_blank", rel: "noopener", id: "open-prefect", text: "Open in Prefect UI" }));
    }
    if (isActive(job)) actions.push(actionButton("cancel-job", "Cancel", "danger", cancelJob));
    if (!isActive(job) && job.status !== "succeeded") actions.push(actionButton("retry-job", "Continue", "", retryJob));
    if (job.status !== "running") actions.push(actionButton("delete-job", "Delete", "danger", deleteJob));
    fill(byId("job-actions"), actions);
  }

  function actionButton(id, label, kind, handler) {
    const button = el("button", { type: "button", class: `button ${kind}`.trim(), id, text: label });
    button.addEventListener("click", () => whileBusy(button, handler));
    return button;
  }

  async function cancelJob() {
    try {
      const answer = await api(`${jobPath}/cancel`, { method: "POST" });
      const warnings = answer.warnings?.length ? `: ${answer.warnings.join("; ")}` : "";
      showNotice(notice, `Cancel requested${warnings}. What was made so far is kept.`, "info");
      await refresh();
    } catch (error) {
      showNotice(notice, error);
    }
  }

  async function retryJob() {
    const job = view.job;
    let body = undefined;
    if ((job.error ?? "").startsWith("candidate budget spent")) {
      const current = job.maxCandidates ?? job.totalOk + job.totalFailed;
      const answer = prompt("The job spent its candidate budget. New budget (candidates):", String(current * 2));
      if (answer === null) return;
      body = { maxCandidates: Number(answer) };
    }
    try {
      await api(`${jobPath}/retry`, { method: "POST", body });
      showNotice(notice, "Continuing the job in a new run.", "info");
      await refresh();
    } catch (error) {
      showNotice(notice, error);
    }
  }

  async function deleteJob() {
    if (!confirm(`Delete the job "${view.job.title}" and all its records? This cannot be undone.`)) return;
    try {
      await api(jobPath, { method: "DELETE" });
      location.assign("/");
    } catch (error) {
      showNotice(notice, error);
    }
  }

  function renderJob() {
    const { job, timings, tokens } = view;
    const details = view.details ?? {};
    document.title = `${job.title} · DataGems`;
    byId("job-title").textContent = job.title;
    fill(byId("job-status"), statusBadge(job.status));
    renderActions(job);

    const error = byId("job-error");
    if (job.error) showNotice(error, `This job stopped: ${job.error}`);
    else hideNotice(error);

    fill(byId("job-progress"), progressBar(job, { showFailures: config.showFailures }));
    facts(byId("job-facts"), [
      ["Records ok", formatNumber(job.totalOk), "ok"],
      config.showFailures ? ["Records failed", formatNumber(job.totalFailed), "failed"] : null,
      ["Records requested", formatNumber(job.totalRecords), "total"],
      ["Created", formatTime(timings?.createdAt ?? job.createdAt)],
      ["Started", formatTime(timings?.startedAt ?? job.startedAt)],
      ["Finished", formatTime(timings?.finishedAt ?? job.finishedAt)],
      ["Waited in queue", formatDuration(timings?.queuedMs)],
      ["Generation time", formatDuration(timings?.recordsDurationMs ?? job.recordsDurationMs)],
      ["Tokens", `${formatNumber(tokens?.total)} (${formatNumber(tokens?.prompt)} prompt, ${formatNumber(tokens?.completion)} completion)${tokens?.estimated ? ", estimated from sizes: the gateway reports no usage" : ""}`, "tokens"],
      ["Cost", formatUsd(view.cost?.usd), "cost"],
      view.cost?.known ? ["Cost per accepted record", formatUsd(view.cost?.perAcceptedRecordUsd), "cost-per-record"] : null,
      view.cost?.projectedUsd != null ? ["Projected cost", formatUsd(view.cost.projectedUsd), "cost-projected"] : null,
      job.retryPass ? ["Retry pass", formatNumber(job.retryPass)] : null,
      job.structuredOutput ? ["Structured output", job.structuredOutput, "structured-output"] : null,
    ]);

    const reasons = Object.entries(view.failureReasons ?? job.failureReasons ?? {});
    byId("failures-panel").hidden = !config.showFailures || reasons.length === 0;
    fill(
      byId("job-failures"),
      table([{ label: "Reason" }, { label: "Records", num: true }], reasons.sort((a, b) => b[1] - a[1]).map(([reason, count]) => [el("td", { class: "wrap", text: reason }), formatNumber(count)])),
    );

    renderDownloads(job);
    renderShards(view.shards ?? []);

    facts(byId("job-definition"), [
      ["Job id", job.id, "id", true],
      ["Owner", job.owner],
      ["Dataset mode", job.datasetMode ? "yes" : "no"],
      ["Seed", details.seed ?? "—"],
      ["Workers", formatNumber(job.peerCount ?? (view.shards ?? []).length)],
      details.inference?.model ? ["Model", details.inference.model] : null,
      job.scheduleId ? ["Schedule version", `${job.version ?? "?"} of ${job.scheduleId}`] : null,
      ["Prefect flow run", view.flowRunId ?? "—", "flowRun", true],
    ]);
    byId("job-description").textContent = details.description || job.description || "—";
    byId("job-instructions").textContent = details.instructions || "—";
    byId("job-schema").textContent = details.schema ? JSON.stringify(details.schema, null, 2) : "—";
  }

  function renderDownloads(job) {
    const target = byId("job-downloads");
    if (!["succeeded", "failed", "cancelled"].includes(job.status)) {
      fill(target, el("p", { class: "muted", text: "Downloads appear here when the job has finished (or is cancelled)." }));
      return;
    }
    const links = FORMATS.map(([format, label]) =>
      el("a", { class: "button", href: `${jobPath}/export?format=${format}`, download: true, dataset: { format }, text: label }),
    );
    const partial =
      job.status === "succeeded"
        ? null
        : el("p", { class: "muted small", text: `Partial: the ${formatNumber(job.totalOk)} valid records made before the job ${job.status === "failed" ? "failed" : "was cancelled"}.` });
    fill(target, el("div", { class: "downloads", id: "downloads" }, links), partial);
  }

  function renderShards(shards) {
    fill(
      byId("job-shards"),
      table(
        [
          { label: "Shard" },
          { label: "Peer" },
          { label: "Status" },
          { label: "Range" },
          { label: "Ok", num: true },
          { label: "Failed", num: true },
          { label: "Attempts", num: true },
          { label: "Lease held by" },
          { label: "Takeovers", num: true },
          { label: "Started" },
          { label: "Finished" },
          { label: "Error" },
        ],
        shards.map((s) => [
          s.shardKey,
          s.peerId ?? "—",
          statusBadge(s.status),
          s.range ? `${s.range.start}–${s.range.end}` : "—",
          `${formatNumber(s.generatedOk)} / ${formatNumber(s.assigned)}`,
          formatNumber(s.generatedFailed),
          formatNumber(s.attempts),
          el("td", { class: "wrap", text: s.leaseOwner ?? "—" }),
          el("td", {
            class: "num",
            text: formatNumber(s.takeovers ?? 0),
            title: s.takenOverFrom ? `last taken over from ${s.takenOverFrom}` : null,
          }),
          formatTime(s.startedAt),
          formatTime(s.finishedAt),
          el("td", { class: "wrap", text: s.error ?? "" }),
        ]),
        { empty: "No shard has started yet." },
      ),
    );
  }

  async function loadRecords() {
    const errorNode = byId("records-error");
    try {
      const page = await api(`${jobPath}/records?offset=${recordsOffset}&limit=${RECORDS_PAGE}`);
      hideNotice(errorNode);
      const fields = recordColumns(view?.details?.schema, page.records);
      const columns = [
        { label: "#", num: true },
        { label: "OK" },
        ...fields.map((name) => ({ label: name })),
        { label: "Error" },
        { label: "Attempts", num: true },
        { label: "Variation" },
        { label: "Tokens", num: true },
        { label: "Time", num: true },
      ];
      const rows = page.records.map((r) => [
        String(r.index),
        r.ok ? "yes" : "no",
        ...fields.map((name) => cellOf(r.data ? r.data[name] : null)),
        cellOf(r.error),
        formatNumber(r.attempts),
        cellOf(r.variation, { json: true }),
        formatNumber(r.tokens?.total),
        formatDuration(r.durationMs),
      ]);
      fill(
        byId("job-records"),
        table(columns, rows, {
          empty: "No records yet.",
          rowClass: (i) => (page.records[i].ok ? null : "row-failed"),
        }),
      );
      renderRecordsPager(page);
    } catch (error) {
      showNotice(errorNode, error);
    }
  }

  function renderRecordsPager(page) {
    const shown = page.records.length;
    const previous = el("button", { type: "button", class: "button small", text: "Previous", disabled: recordsOffset === 0 });
    const next = el("button", { type: "button", class: "button small", text: "Next", disabled: recordsOffset + shown >= page.count });
    previous.addEventListener("click", () => {
      recordsOffset = Math.max(0, recordsOffset - RECORDS_PAGE);
      loadRecords();
    });
    next.addEventListener("click", () => {
      recordsOffset += RECORDS_PAGE;
      loadRecords();
    });
    const range = page.count ? `Records ${recordsOffset + 1}–${recordsOffset + shown} of ${formatNumber(page.count)}` : "";
    fill(byId("records-pager"), el("span", { text: range }), page.count > RECORDS_PAGE ? el("div", { class: "actions" }, previous, next) : null);
  }

  let qualityShownFor = null;

  async function loadQuality() {
    const job = view.job;
    const panel = byId("quality-panel");
    const key = `${job.status}:${job.updatedAt}`;
    if (isActive(job) || qualityShownFor === key) return; // the report reads every candidate
    try {
      const report = await api(`${jobPath}/quality`);
      fill(byId("job-quality"), qualityView(report));
      panel.hidden = false;
      qualityShownFor = key;
    } catch (error) {
      fill(byId("job-quality"), el("p", { class: "notice error", text: error.message }));
      panel.hidden = false;
    }
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      view = await api(jobPath);
    } catch (error) {
      if (error.status === 404) {
        byId("job-body").hidden = true;
        fill(byId("job-actions"));
        showNotice(notice, [`${error.message}. `, el("a", { href: "/", text: "Back to your jobs" })]);
        return;
      }
      showNotice(notice, error);
      clearTimeout(timer);
      timer = setTimeout(refresh, config.idlePollSeconds * 1000);
      return;
    }
    byId("job-body").hidden = false;
    renderJob();
    await loadRecords();
    await loadQuality();
    const seconds = isActive(view.job) ? config.activePollSeconds : config.idlePollSeconds;
    clearTimeout(timer); // an action may have refreshed meanwhile: keep a single polling chain
    timer = setTimeout(refresh, seconds * 1000);
  }

  refresh();
}

const page = await startPage().catch(() => null);
if (page) run(page);
