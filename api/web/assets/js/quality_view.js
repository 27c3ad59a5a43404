// A job's quality report (GET /api/jobs/{id}/quality) as small SVG bar charts: rejections by
// gate, judge scores, and each field's distribution. Text goes in as text nodes only.

import { el } from "./dom.js";
import { formatNumber } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const BAR_HEIGHT = 18;
const LABEL_WIDTH = 130;
const CHART_WIDTH = 420;

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = String(text);
  return node;
}

/** Horizontal bars: `rows` is [[label, value, secondValue?]]; the second is drawn as a tick. */
export function barChart(title, rows, { ticks = null } = {}) {
  const max = Math.max(1, ...rows.map(([, value]) => value));
  const height = rows.length * (BAR_HEIGHT + 4) + 4;
  const chart = svg("svg", {
    viewBox: `0 0 ${CHART_WIDTH} ${height}`,
    preserveAspectRatio: "xMinYMin meet",
    role: "img",
    "aria-label": title,
    class: "quality-chart",
  });
  const room = CHART_WIDTH - LABEL_WIDTH - 60;
  rows.forEach(([label, value], i) => {
    const y = 4 + i * (BAR_HEIGHT + 4);
    chart.append(svg("text", { x: 0, y: y + 13, "font-size": 12 }, String(label).slice(0, 18)));
    chart.append(
      svg("rect", {
        x: LABEL_WIDTH,
        y,
        width: Math.max(1, (value / max) * room),
        height: BAR_HEIGHT,
        fill: "currentColor",
        opacity: 0.55,
      }),
    );
    chart.append(
      svg("text", { x: LABEL_WIDTH + (value / max) * room + 4, y: y + 13, "font-size": 12 }, formatNumber(value)),
    );
    const share = ticks?.[label];
    if (share !== undefined) {
      const total = rows.reduce((sum, [, v]) => sum + v, 0);
      const x = LABEL_WIDTH + ((share * total) / max) * room;
      chart.append(svg("line", { x1: x, x2: x, y1: y - 1, y2: y + BAR_HEIGHT + 1, stroke: "currentColor", "stroke-width": 2 }));
    }
  });
  return el("figure", { class: "quality-figure" }, el("figcaption", { text: title }), chart);
}

function fieldChart(name, entry) {
  if (entry.kind === "enum") {
    return barChart(`${name}: values (ticks: shares the variations asked for)`, Object.entries(entry.counts), {
      ticks: entry.asked ?? null,
    });
  }
  if (entry.kind === "number") {
    const { edges, counts } = entry.histogram;
    const rows = counts.map((count, i) => [`${round(edges[i])}–${round(edges[i + 1])}`, count]);
    return barChart(`${name}: min ${round(entry.min)}, median ${round(entry.median)}, max ${round(entry.max)}`, rows);
  }
  if (entry.kind === "boolean") return barChart(`${name}`, [["true", entry.true], ["false", entry.false]]);
  if (entry.kind === "string") {
    const caption = `${name}: ${formatNumber(entry.distinct)} distinct, length ${entry.length.min}–${entry.length.max} (mean ${entry.length.mean})`;
    return barChart(caption, entry.top.map(([value, count]) => [value, count]));
  }
  return el("p", { text: `${name}: ${formatNumber(entry.distinct ?? 0)} distinct values` });
}

function round(value) {
  return Number.isInteger(value) ? value : Number(value).toFixed(2);
}

/** The report's summary line, charts and rejection examples. */
export function qualityView(report) {
  const rejected = Object.entries(report.rejected ?? {});
  const parts = [
    el("p", {
      text:
        `${formatNumber(report.candidates)} candidates, ${formatNumber(report.accepted)} accepted of ` +
        `${formatNumber(report.totalRecords)}` +
        (report.distinct2?.overall != null ? `; distinct-2 of text fields ${report.distinct2.overall}` : ""),
    }),
  ];
  if (rejected.length) {
    parts.push(barChart("Rejected candidates by gate", rejected.map(([gate, info]) => [gate, info.count])));
    for (const [gate, info] of rejected) {
      const examples = (info.examples ?? []).map((example) => el("li", { text: example.reason }));
      if (examples.length) parts.push(el("details", {}, el("summary", { text: `${gate}: examples` }), el("ul", {}, examples)));
    }
  }
  const scores = Object.entries(report.judgeScores ?? {});
  if (scores.length) parts.push(barChart("Judge scores", scores));
  for (const [name, entry] of Object.entries(report.fields ?? {})) {
    if (report.sampled) parts.push(fieldChart(name, entry));
  }
  return parts;
}
