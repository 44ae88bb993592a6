/**
 * `simulate`'s HTML report: one self-contained page (uPlot and the run's data inline, no external URL, a
 * Content-Security-Policy that forbids any fetch) charting a run's timeline over virtual time, with its disruptions
 * marked on every chart and listed, and a searchable event table. The page is a function of the run alone: the same
 * scenario gives the same bytes.
 */
import { createRequire } from "node:module"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type * as Simulation from "../cluster/Simulation.ts"

/** uPlot's script and stylesheet, read from the installed package (beside src/ or dist/, and in the image). */
const uplotFile = (file: string) => createRequire(import.meta.url).resolve(`uplot/dist/${file}`)

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[char]!)

/** Code that cannot close the element it is inlined in: `</script` as `<\/script` (the same text in JS strings). */
const inlineSafe = (text: string, element: "script" | "style") =>
  text.replace(new RegExp(`</(${element})`, "gi"), "<\\/$1")

/** JSON inlined in a script element: every `<` escaped, so no text in the data can end the element. */
const inlineJson = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c")

/** The page's own script: builds the charts, the disruption list and the event filter from the inlined data. */
const pageScript = String.raw`"use strict";
const data = JSON.parse(document.getElementById("report-data").textContent);
const timeline = data.timeline;
const times = timeline.map((point) => point.time);
const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
const reasonColours = { Empty: "#6b6b6b", Underutilized: "#d62728", Drifted: "#9467bd", Expired: "#8c564b" };
const reasonMarks = { Empty: "E", Underutilized: "U", Drifted: "D", Expired: "X" };
const pad = (n) => String(n).padStart(2, "0");
const clock = (seconds) => {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return h + ":" + pad(m) + (s === 0 ? "" : ":" + pad(s));
};
const keysOf = (field) => [...new Set(timeline.flatMap((point) => Object.keys(point[field])))].sort();
const gib = 1024 * 1024 * 1024;

// Each disruption as a dashed line at its time, labelled with its reason's letter; what was drawn is kept on the
// chart (drawnMarkers) for whoever checks the page.
const disruptionMarkers = (u) => {
  const { ctx, bbox } = u;
  const drawn = [];
  ctx.save();
  ctx.setLineDash([5, 4]);
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.font = 11 * devicePixelRatio + "px sans-serif";
  for (const disruption of data.disruptions) {
    const x = Math.round(u.valToPos(disruption.time, "x", true));
    if (x < bbox.left || x > bbox.left + bbox.width) continue;
    const colour = reasonColours[disruption.reason] || "#000";
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
    ctx.fillText(reasonMarks[disruption.reason] || "?", x + 3 * devicePixelRatio, bbox.top + 12 * devicePixelRatio);
    drawn.push({ time: disruption.time, reason: disruption.reason, candidates: disruption.candidates, replacements: disruption.replacements });
  }
  ctx.restore();
  u.drawnMarkers = drawn;
};

const charts = [];
const chart = (id, title, unit, lines, axes) => {
  const element = document.getElementById(id);
  const options = {
    title,
    width: element.clientWidth,
    height: 260,
    scales: { x: { time: false } },
    series: [
      { label: "time", value: (u, v) => (v == null ? "" : clock(v)) },
      ...lines.map((line, i) => ({
        label: line.label,
        scale: line.scale || unit,
        stroke: line.colour || palette[i % palette.length],
        width: 1.5,
        paths: line.stepped === false ? undefined : uPlot.paths.stepped({ align: 1 }),
        value: (u, v) => (v == null ? "" : line.format ? line.format(v) : String(v))
      }))
    ],
    axes: [
      { values: (u, splits) => splits.map(clock), incrs: [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800] },
      ...(axes || [{ scale: unit, label: unit }])
    ],
    hooks: { draw: [disruptionMarkers] }
  };
  const plot = new uPlot(options, [times, ...lines.map((line) => timeline.map(line.value))], element);
  charts.push({ id, title, plot });
};

const nodesBy = (field) => keysOf(field).map((key) => ({ label: key || "(none)", value: (point) => point[field][key] || 0 }));
chart("chart-instance-types", "Nodes by instance type", "nodes", nodesBy("instanceTypes"));
chart("chart-capacity-types", "Nodes by capacity type", "nodes", nodesBy("capacityTypes"));
chart("chart-pods", "Pods", "pods", [
  { label: "bound", value: (point) => point.boundPods, colour: "#2ca02c" },
  { label: "pending", value: (point) => point.pendingPods, colour: "#d62728" }
]);
const dollars = (v) => "$" + v.toFixed(4);
chart("chart-cost", "Cost", "$/h", [
  { label: "rate ($/h)", value: (point) => point.costPerHour, format: dollars },
  { label: "cumulative ($)", value: (point) => point.costUSD, scale: "$", stepped: false, format: dollars }
], [{ scale: "$/h", label: "$/h" }, { scale: "$", label: "$ so far", side: 1, grid: { show: false } }]);
const cores = (v) => v.toFixed(2);
chart("chart-cpu", "CPU (cores)", "cores", [
  { label: "requested", value: (point) => point.cpu.requested, format: cores },
  { label: "allocatable", value: (point) => point.cpu.allocatable, format: cores }
]);
chart("chart-memory", "Memory (GiB)", "GiB", [
  { label: "requested", value: (point) => point.memory.requested / gib, format: cores },
  { label: "allocatable", value: (point) => point.memory.allocatable / gib, format: cores }
]);
window.addEventListener("resize", () => {
  for (const { id, plot } of charts) plot.setSize({ width: document.getElementById(id).clientWidth, height: 260 });
});

const cell = (row, text) => { row.insertCell().textContent = text; };
const disruptionRows = document.getElementById("disruptions").tBodies[0];
for (const disruption of data.disruptions) {
  const row = disruptionRows.insertRow();
  cell(row, clock(disruption.time));
  cell(row, disruption.reason);
  cell(row, disruption.candidates.join(", "));
  cell(row, disruption.replacements.join(", ") || "none");
  row.cells[1].style.color = reasonColours[disruption.reason] || "";
}

const eventRows = document.getElementById("events").tBodies[0];
const rows = data.events.map((event) => {
  const row = eventRows.insertRow();
  for (const text of [clock(event.time), event.reason, event.kind, event.name, event.message]) cell(row, text);
  return { row, text: row.textContent.toLowerCase() };
});
const filter = document.getElementById("event-filter");
const shown = document.getElementById("event-count");
const applyFilter = () => {
  const words = filter.value.toLowerCase().split(/\s+/).filter((word) => word !== "");
  let count = 0;
  for (const { row, text } of rows) {
    row.hidden = !words.every((word) => text.includes(word));
    if (!row.hidden) count++;
  }
  shown.textContent = count + " of " + rows.length + " events";
};
filter.addEventListener("input", applyFilter);
applyFilter();
window.simulationReport = { charts };
`

const pageStyle = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dl.summary dt { color: #555; } dl.summary dd { margin: 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 1em; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .2em .5em; vertical-align: top; }
thead th { border-bottom: 1px solid #999; } tbody tr:nth-child(even) { background: #f4f4f4; }
td:first-child { font-variant-numeric: tabular-nums; white-space: nowrap; }
#event-filter { width: 24em; padding: .3em; }
`

const chartIds = [
  "chart-instance-types",
  "chart-capacity-types",
  "chart-pods",
  "chart-cost",
  "chart-cpu",
  "chart-memory"
]

const formatDollars = (value: number) => `$${value.toFixed(4)}`

const formatSeconds = (seconds: number) =>
  `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`

/** The page for a run that has a timeline; `uplot` is the library's script and stylesheet. */
export const render = (
  run: Simulation.Run,
  title: string,
  uplot: { readonly script: string; readonly style: string }
): string => {
  const { summary } = run
  const duration = run.snapshots.at(-1)?.time ?? 0
  // The snapshots are the JSON output's; the page charts the timeline, which is lighter and denser.
  const data = { timeline: run.timeline ?? [], disruptions: run.disruptions, events: run.events, summary }
  const facts: ReadonlyArray<readonly [string, string]> = [
    ["Virtual time", formatSeconds(duration)],
    ["Nodes launched", String(summary.nodesLaunched)],
    ["Nodes terminated", String(summary.nodesTerminated)],
    ["Peak nodes", String(summary.peakNodes)],
    ["Cost", formatDollars(summary.costUSD)],
    ["Disruptions", String(run.disruptions.length)]
  ]
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simulation report: ${escapeHtml(title)}</title>
<style>${inlineSafe(uplot.style, "style")}</style>
<style>${pageStyle}</style>
</head>
<body>
<h1>Simulation report: ${escapeHtml(title)}</h1>
<dl class="summary">
${facts.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join("\n")}
</dl>
<p>Times are virtual, hours:minutes since the scenario's start. Dashed lines mark disruptions (E: Empty, U: Underutilized, D: Drifted, X: Expired); drag on a chart to zoom, double-click to reset.</p>
<div class="charts">
${chartIds.map((id) => `<div id="${id}"></div>`).join("\n")}
</div>
<h2>Disruptions</h2>
<table id="disruptions"><thead><tr><th>Time</th><th>Reason</th><th>Nodes</th><th>Replacements</th></tr></thead><tbody></tbody></table>
<h2>Events</h2>
<p><input id="event-filter" type="search" placeholder="Filter events (all words must match)" aria-label="Filter events"> <span id="event-count"></span></p>
<table id="events"><thead><tr><th>Time</th><th>Reason</th><th>Kind</th><th>Name</th><th>Message</th></tr></thead><tbody></tbody></table>
<script type="application/json" id="report-data">${inlineJson(data)}</script>
<script>${inlineSafe(uplot.script, "script")}</script>
<script>${pageScript}</script>
</body>
</html>
`
}

/** The page for a run that has a timeline, with uPlot read from its package. */
export const make = Effect.fn("SimulationReport.make")(function* (run: Simulation.Run, title: string) {
  const fs = yield* FileSystem.FileSystem
  const script = yield* fs.readFileString(uplotFile("uPlot.iife.min.js"))
  const style = yield* fs.readFileString(uplotFile("uPlot.min.css"))
  return render(run, title, { script, style })
}, Effect.orDie)
