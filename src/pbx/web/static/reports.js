// The reports page: a period, an interval and a report (queues, agents, calls by trunk /
// DID / direction, IVR, campaigns, or one of the configured custom reports), run against
// /api/reports/*; the answer as a table (every figure a cell with data-field, data-key,
// data-start and its raw data-value; the totals rows data-total), a chart, a CSV of the
// same query and a printable page.
import { api, start, Unauthorized } from "./live.js";
import { t, translate } from "./i18n.js";
import {
  cell, clearChart, COLOURS, download, drawChart, figure, isoWithOffset, localInput,
  showError, when,
} from "./figures.js";

const $ = (selector) => document.querySelector(selector);
let session = null;
let custom = []; // the configured custom reports: [{name, title, params}]

const QUEUE_COLUMNS = [
  ["offered", "int"], ["answered", "int"], ["abandoned", "int"], ["short_abandoned", "int"],
  ["answered_within", "int"], ["abandoned_within", "int"], ["service_level", "pct"],
  ["asa", "sec"], ["aht", "sec"], ["talk", "sec"], ["hold", "sec"], ["wrap", "sec"],
  ["wait_answered", "sec"], ["wait_abandoned", "sec"], ["longest_wait", "sec"],
  ["handled", "int"], ["transferred_in", "int"],
  ["transferred_out", "int"], ["overflow_in", "int"], ["overflow_out", "int"],
  ["callbacks_requested", "int"], ["callbacks_completed", "int"], ["exited", "int"],
];
const CALL_COLUMNS = [
  ["calls", "int"], ["answered", "int"], ["unanswered", "int"], ["talk", "sec"],
  ["average_talk", "sec"], ["answer_rate", "pct"],
];

// How each report is asked for and shown. key: the field naming a row's subject;
// filter: the query parameter the filter input sets; chart(result, pick) → Chart config;
// pick: the chart shows one subject's intervals, chosen in #chart-key.
const REPORTS = {
  queues: {
    path: "/api/reports/queues", key: "queue", filter: "queue", treatment: true,
    columns: QUEUE_COLUMNS, pick: true, chart: queueChart,
  },
  agents: {
    path: "/api/reports/agents", key: "agent", filter: "agent",
    columns: [
      ["login", "sec"], ["ready", "sec"], ["talk", "sec"], ["hold", "sec"], ["wrap", "sec"],
      ["paused", "sec"], ["pause_reasons", "reasons"], ["handled", "int"],
      ["occupancy", "pct"], ["utilisation", "pct"],
    ],
    chart: agentChart,
  },
  "calls-trunk": { path: "/api/reports/calls", by: "trunk", key: "key", columns: CALL_COLUMNS, chart: callChart },
  "calls-did": { path: "/api/reports/calls", by: "did", key: "key", columns: CALL_COLUMNS, chart: callChart },
  "calls-direction": { path: "/api/reports/calls", by: "direction", key: "key", columns: CALL_COLUMNS, chart: callChart },
  ivr: {
    path: "/api/reports/ivr", key: "node", interval: false,
    columns: [["visits", "int"], ["dropped", "int"], ["contained", "int"], ["routed", "int"]],
    chart: ivrChart,
  },
  campaigns: {
    path: "/api/reports/campaigns", key: "campaign", filter: "campaign",
    columns: [
      ["attempts", "int"], ["contacts", "int"], ["machines", "int"], ["abandoned", "int"],
      ["answer_rate", "pct"], ["contact_rate", "pct"], ["abandon_rate", "pct"],
      ["talk", "sec"], ["amd", "counts"], ["outcomes", "counts"], ["dispositions", "counts"],
      ["confirmations", "counts"],
    ],
    pick: true, chart: campaignChart,
  },
  custom: { interval: false, custom: true },
};

// Fields whose word differs from the one the other pages use for them.
const HEADINGS = {
  queue: "queue", key: "key", login: "login_time", ready: "ready_time", talk: "talk_time",
  hold: "hold_time", wrap: "wrap_time", paused: "paused_time", start: "start",
  node: "node", by_trunk: "trunk", by_did: "did", by_direction: "direction",
};
const heading = (field) => t(HEADINGS[field] || field);

function spec() {
  return REPORTS[$("#report").value];
}

// Show the inputs the chosen report takes.
function arrange() {
  const s = spec();
  const show = {
    interval: s.interval !== false,
    filter: Boolean(s.filter),
    treatment: Boolean(s.treatment),
    custom: Boolean(s.custom),
  };
  for (const el of document.querySelectorAll("#query [data-for]")) el.hidden = !show[el.dataset.for];
  if (s.filter) {
    $("#filter-label").dataset.t = s.filter;
    $("#filter-label").textContent = t(s.filter);
  }
  if (s.custom) customParams();
}

// A custom report's parameters: [{name, type}] with type time, number or text (a plain
// name is text). Time parameters take the period's inputs when they are named from / to.
function paramsOf(report) {
  return (report?.params || []).map((p) => (typeof p === "string" ? { name: p, type: "text" } : p));
}

function customParams() {
  const chosen = custom.find((r) => r.name === $("#custom").value);
  const box = $("#custom-params");
  box.replaceChildren(
    ...paramsOf(chosen)
      .filter((p) => !(p.type === "time" && ["from", "to"].includes(p.name)))
      .map((p) => {
        const label = document.createElement("label");
        const span = document.createElement("span");
        span.textContent = p.name;
        const input = document.createElement("input");
        input.dataset.param = p.name;
        input.dataset.type = p.type;
        input.type = { time: "datetime-local", number: "number" }[p.type] || "text";
        if (p.type === "number") input.step = "any";
        if (p.name === "interval") input.value = $("#interval").value;
        label.append(span, " ", input);
        return label;
      }),
  );
}

// The report's path and query for what the form says.
function query() {
  const s = spec();
  const params = new URLSearchParams({
    from: isoWithOffset($("#from").value),
    to: isoWithOffset($("#to").value),
  });
  if (s.custom) {
    const name = $("#custom").value;
    if (!name) throw new Error(t("no_custom"));
    const names = paramsOf(custom.find((r) => r.name === name)).map((p) => p.name);
    for (const p of ["from", "to"]) if (!names.includes(p)) params.delete(p);
    for (const input of document.querySelectorAll("#custom-params input")) {
      if (!input.value) continue;
      const value = input.dataset.type === "time" ? isoWithOffset(input.value) : input.value;
      params.set(input.dataset.param, value);
    }
    return { path: `/api/reports/custom/${encodeURIComponent(name)}`, params };
  }
  if (s.interval !== false) params.set("interval", $("#interval").value);
  if (s.by) params.set("by", s.by);
  if (s.filter && $("#filter").value.trim()) params.set(s.filter, $("#filter").value.trim());
  if (s.treatment) params.set("treatment", $("#treatment").value);
  return { path: s.path, params };
}

function headerRow(cells) {
  const tr = document.createElement("tr");
  for (const text of cells) {
    const th = document.createElement("th");
    th.textContent = text;
    tr.append(th);
  }
  return tr;
}

function render(s, result, interval) {
  const table = $("#table");
  const [thead, tbody, tfoot] = [table.tHead, table.tBodies[0], table.tFoot];
  const oneDay = $("#from").value.slice(0, 10) === $("#to").value.slice(0, 10);
  $("#summary").replaceChildren();
  if (s.custom) {
    thead.replaceChildren(headerRow(result.columns));
    tbody.replaceChildren(
      ...result.rows.map((row, i) => {
        const tr = document.createElement("tr");
        tr.dataset.row = String(i);
        row.forEach((value, j) => {
          const kind = typeof value === "number" ? "int" : "text";
          tr.append(figure(result.columns[j], kind, value, { key: String(row[0]), row: String(i) }));
        });
        return tr;
      }),
    );
    tfoot.replaceChildren();
    return;
  }
  const key = s.key;
  const timed = s.interval !== false;
  thead.replaceChildren(
    headerRow([
      heading(s.by ? `by_${s.by}` : key),
      ...(timed ? [heading("start")] : []),
      ...s.columns.map(([field]) => heading(field)),
    ]),
  );
  tbody.replaceChildren(
    ...result.rows.map((row) => {
      const tr = document.createElement("tr");
      const data = { key: String(row[key]), start: timed ? row.start : undefined };
      Object.assign(tr.dataset, Object.fromEntries(Object.entries(data).filter(([, v]) => v)));
      tr.append(cell(String(row[key]), { field: key, ...data }));
      if (timed) {
        const td = cell(when(row.start, interval, oneDay), { field: "start", ...data });
        td.title = `${row.start} – ${row.end}`;
        tr.append(td);
      }
      for (const [field, kind] of s.columns) tr.append(figure(field, kind, row[field], data));
      return tr;
    }),
  );
  tfoot.replaceChildren(
    ...(result.totals || []).map((row) => {
      const tr = document.createElement("tr");
      const data = { total: String(row[key]) };
      tr.dataset.total = data.total;
      tr.append(cell(String(row[key]), { field: key, ...data }));
      if (timed) tr.append(cell(t("total"), { field: "start", ...data }));
      for (const [field, kind] of s.columns) tr.append(figure(field, kind, row[field], data));
      return tr;
    }),
  );
  if ("containment" in result) {
    const parts = [
      ["calls", "int", result.calls], ["contained", "int", result.contained],
      ["routed", "int", result.routed], ["dropped", "int", result.dropped],
      ["containment", "pct", result.containment],
    ].map(([field, kind, value]) => {
      const span = document.createElement("span");
      span.append(`${t(field)}: `);
      const b = document.createElement("strong");
      const td = figure(field, kind, value);
      b.textContent = td.textContent;
      Object.assign(b.dataset, td.dataset);
      span.append(b, " ");
      return span;
    });
    $("#summary").replaceChildren(...parts);
  } else if (result.treatment) {
    $("#summary").textContent = `${t("treatment")}: ${t(`treatment_${result.treatment}`)}`;
  }
}

// ---- charts ---------------------------------------------------------------------------

const bar = (label, data, i, extra = {}) => ({
  type: "bar", label, data, backgroundColor: COLOURS[i], yAxisID: "y", ...extra,
});
const line = (label, data, i, extra = {}) => ({
  type: "line", label, data, borderColor: COLOURS[i], backgroundColor: COLOURS[i],
  yAxisID: "y1", spanGaps: true, ...extra,
});
const pct = (x) => (x === null || x === undefined ? null : Math.round(x * 1000) / 10);
const PERCENT_AXIS = { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
  ticks: { callback: (v) => `${v}%` } };

function intervals(result, keyField, pick, interval) {
  const rows = result.rows.filter((r) => String(r[keyField]) === pick);
  const oneDay = $("#from").value.slice(0, 10) === $("#to").value.slice(0, 10);
  return { rows, labels: rows.map((r) => when(r.start, interval, oneDay)) };
}

function queueChart(result, pick, interval) {
  const { rows, labels } = intervals(result, "queue", pick, interval);
  return {
    data: {
      labels,
      datasets: [
        bar(t("offered"), rows.map((r) => r.offered), 0),
        bar(t("answered"), rows.map((r) => r.answered), 1),
        bar(t("abandoned"), rows.map((r) => r.abandoned), 2),
        line(t("service_level"), rows.map((r) => pct(r.service_level)), 3),
      ],
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, y1: PERCENT_AXIS } },
  };
}

function campaignChart(result, pick, interval) {
  const { rows, labels } = intervals(result, "campaign", pick, interval);
  return {
    data: {
      labels,
      datasets: [
        bar(t("attempts"), rows.map((r) => r.attempts), 0),
        bar(t("contacts"), rows.map((r) => r.contacts), 1),
        bar(t("abandoned"), rows.map((r) => r.abandoned), 2),
        bar(t("machines"), rows.map((r) => r.machines), 6),
        line(t("answer_rate"), rows.map((r) => pct(r.answer_rate)), 3),
      ],
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, y1: PERCENT_AXIS } },
  };
}

function agentChart(result) {
  const rows = result.totals || [];
  const minutes = (x) => (x ? Math.round((x / 60) * 10) / 10 : 0);
  const states = ["ready", "talk", "hold", "wrap", "paused"];
  return {
    data: {
      labels: rows.map((r) => r.agent),
      datasets: states.map((s, i) => bar(heading(s), rows.map((r) => minutes(r[s])), i, { stack: "time" })),
    },
    options: {
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: t("minutes") } },
      },
    },
  };
}

function callChart(result) {
  const rows = result.totals || [];
  return {
    data: {
      labels: rows.map((r) => String(r.key)),
      datasets: [
        bar(t("answered"), rows.map((r) => r.answered), 1, { stack: "calls" }),
        bar(t("unanswered"), rows.map((r) => r.unanswered), 2, { stack: "calls" }),
        line(t("answer_rate"), rows.map((r) => pct(r.answer_rate)), 3),
      ],
    },
    options: {
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
        y1: PERCENT_AXIS,
      },
    },
  };
}

function ivrChart(result) {
  const rows = result.rows;
  return {
    data: {
      labels: rows.map((r) => r.node),
      datasets: [
        bar(t("contained"), rows.map((r) => r.contained), 1, { stack: "visits" }),
        bar(t("routed"), rows.map((r) => r.routed), 0, { stack: "visits" }),
        bar(t("dropped"), rows.map((r) => r.dropped), 2, { stack: "visits" }),
      ],
    },
    options: {
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
    },
  };
}

function customChart(result) {
  const j = result.columns.findIndex((_, i) => i > 0 && result.rows.some((r) => typeof r[i] === "number"));
  if (j < 0 || !result.rows.length) return null;
  return {
    data: {
      labels: result.rows.map((r) => String(r[0])),
      datasets: [bar(result.columns[j], result.rows.map((r) => r[j]), 0)],
    },
    options: { scales: { y: { beginAtZero: true } } },
  };
}

let last = null; // {spec, result, interval} of the report shown

function chart() {
  const canvas = $("#chart");
  if (!last) return;
  const { spec: s, result, interval } = last;
  const config = s.custom ? customChart(result) : s.chart(result, $("#chart-key").value, interval);
  $(".chart").hidden = !config;
  if (config) drawChart(canvas, config);
  else clearChart(canvas);
}

function pickList(s, result) {
  const pick = $("#chart-pick");
  pick.hidden = !s.pick;
  if (!s.pick) return;
  const keys = [...new Set(result.rows.map((r) => String(r[s.key])))];
  const select = $("#chart-key");
  const before = select.value;
  select.replaceChildren(
    ...keys.map((k) => {
      const o = document.createElement("option");
      o.value = o.textContent = k;
      return o;
    }),
  );
  const wanted = $("#filter").value.trim();
  select.value = keys.includes(wanted) ? wanted : keys.includes(before) ? before : keys[0] || "";
  $("#chart-pick-label").textContent = t(s.key);
}

async function run() {
  const result$ = $("#result");
  result$.dataset.state = "running";
  try {
    const s = spec();
    const { path, params } = query();
    const url = `${path}?${params}`;
    const result = await api(url);
    showError($("#error"), null);
    last = { spec: s, result, interval: params.get("interval") || "" };
    const option = $("#report").selectedOptions[0];
    $("#result-title").textContent = s.custom
      ? result.title || $("#custom").value
      : option.textContent;
    render(s, result, last.interval);
    pickList(s, result);
    result$.hidden = false;
    chart();
    result$.dataset.query = url;
    result$.dataset.report = $("#report").value;
    result$.dataset.state = "done";
  } catch (error) {
    if (error instanceof Unauthorized) return session?.signOut();
    showError($("#error"), error);
    result$.dataset.state = "failed";
  }
}

async function csv() {
  try {
    const { path, params } = query();
    params.set("format", "csv");
    const name = $("#report").value === "custom" ? $("#custom").value : $("#report").value;
    await download(`${path}?${params}`, `${name}-${$("#from").value.slice(0, 10)}.csv`);
    showError($("#error"), null);
  } catch (error) {
    if (error instanceof Unauthorized) return session?.signOut();
    showError($("#error"), error);
  }
}

async function loadCustom() {
  try {
    custom = (await api("/api/reports/custom")).reports || [];
  } catch (error) {
    if (error instanceof Unauthorized) return session?.signOut();
    custom = [];
  }
  $("#custom").replaceChildren(
    ...custom.map((r) => {
      const o = document.createElement("option");
      o.value = r.name;
      o.textContent = r.title || r.name;
      return o;
    }),
  );
  // Custom reports are configured in [reports.custom]; none configured, none to choose.
  $('#report option[value="custom"]').disabled = custom.length === 0;
  if (spec().custom) customParams();
}

function defaults() {
  const now = new Date();
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  // "Now" to the minute after, so that the calls of this minute are in the period.
  const soon = new Date(Math.ceil((now.getTime() + 1) / 60000) * 60000);
  $("#from").value = localInput(midnight);
  $("#to").value = localInput(soon);
  const asked = new URLSearchParams(location.search);
  for (const name of ["report", "interval", "treatment", "filter"]) {
    if (asked.get(name)) $(`#${name}`).value = asked.get(name);
  }
}

defaults();
arrange();
$("#report").addEventListener("change", arrange);
$("#custom").addEventListener("change", customParams);
$("#chart-key").addEventListener("change", chart);
$("#query").addEventListener("submit", (e) => {
  e.preventDefault();
  run();
});
$("#csv").addEventListener("click", csv);
$("#print").addEventListener("click", () => window.print());
session = start({
  main: "#reports",
  onEvent: () => {},
  onSync: () => {},
  onSignIn: () => {
    translate($("#reports"));
    arrange();
    loadCustom();
  },
});
