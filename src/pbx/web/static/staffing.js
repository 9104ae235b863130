// The staffing page: for one queue and day, per interval, the load measured (calls, AHT,
// the callers' patience), the agents staffed, and the agents needed for the target
// service level by Erlang A (callers give up) and by Erlang C (they never do), from
// /api/staffing; a table (cells with data-field, data-start, data-value) and a chart.
import { api, start, Unauthorized } from "./live.js";
import { t, translate } from "./i18n.js";
import { cell, COLOURS, drawChart, figure, localDate, percent, showError, when } from "./figures.js";

const $ = (selector) => document.querySelector(selector);
let session = null;

const COLUMNS = [
  ["calls", "int"], ["aht", "sec"], ["patience", "sec"], ["staffed", "dec"],
  ["needed_erlang_a", "int"], ["needed_erlang_c", "int"], ["service_level_staffed", "pct"],
];

function query() {
  const params = new URLSearchParams({
    date: $("#date").value,
    queue: $("#queue").value,
    interval: $("#interval").value,
  });
  for (const name of ["target", "threshold", "shrinkage"]) {
    if ($(`#${name}`).value !== "") params.set(name, $(`#${name}`).value);
  }
  return `/api/staffing?${params}`;
}

function render(result, interval) {
  $("#result-title").textContent = `${result.queue} · ${result.date}`;
  $("#summary").textContent = [
    `${t("target")}: ${percent(result.target)}`,
    `${t("threshold")}: ${result.threshold}`,
    `${t("shrinkage")}: ${percent(result.shrinkage)}`,
  ].join(" · ");
  $("#table tbody").replaceChildren(
    ...result.rows.map((row) => {
      const tr = document.createElement("tr");
      const data = { key: result.queue, start: row.start };
      tr.dataset.start = row.start;
      const td = cell(when(row.start, interval, true), { field: "start", ...data });
      td.title = `${row.start} – ${row.end}`;
      tr.append(td);
      for (const [field, kind] of COLUMNS) tr.append(figure(field, kind, row[field], data));
      return tr;
    }),
  );
  const rows = result.rows;
  drawChart($("#chart"), {
    data: {
      labels: rows.map((r) => when(r.start, interval, true)),
      datasets: [
        { type: "bar", label: t("calls"), data: rows.map((r) => r.calls),
          backgroundColor: "#90caf9", yAxisID: "y1", order: 2 },
        { type: "line", label: t("staffed"), data: rows.map((r) => r.staffed),
          borderColor: COLOURS[1], backgroundColor: COLOURS[1], stepped: "middle", order: 1 },
        { type: "line", label: t("needed_erlang_a"), data: rows.map((r) => r.needed_erlang_a),
          borderColor: COLOURS[2], backgroundColor: COLOURS[2], stepped: "middle", order: 1 },
        { type: "line", label: t("needed_erlang_c"), data: rows.map((r) => r.needed_erlang_c),
          borderColor: COLOURS[3], backgroundColor: COLOURS[3], borderDash: [6, 4],
          stepped: "middle", order: 1 },
      ],
    },
    options: {
      scales: {
        y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: t("agents") } },
        y1: { position: "right", beginAtZero: true, ticks: { precision: 0 },
          grid: { drawOnChartArea: false }, title: { display: true, text: t("calls") } },
      },
    },
  });
}

async function run() {
  const box = $("#result");
  box.dataset.state = "running";
  try {
    const url = query();
    const result = await api(url);
    showError($("#error"), null);
    box.hidden = false;
    render(result, $("#interval").value);
    // The figures the API used, for the next run to change.
    for (const name of ["target", "threshold", "shrinkage"]) {
      if ($(`#${name}`).value === "" && result[name] !== undefined) $(`#${name}`).value = result[name];
    }
    box.dataset.query = url;
    box.dataset.state = "done";
  } catch (error) {
    if (error instanceof Unauthorized) return session?.signOut();
    showError($("#error"), error);
    box.dataset.state = "failed";
  }
}

async function loadQueues() {
  try {
    const names = (await api("/api/queues")).map((q) => q.name);
    const asked = new URLSearchParams(location.search).get("queue");
    const select = $("#queue");
    const before = select.value;
    select.replaceChildren(
      ...names.map((n) => {
        const o = document.createElement("option");
        o.value = o.textContent = n;
        return o;
      }),
    );
    select.value = names.includes(asked) ? asked : names.includes(before) ? before : names[0] || "";
  } catch (error) {
    if (error instanceof Unauthorized) return session?.signOut();
    showError($("#error"), error);
  }
}

$("#date").value = new URLSearchParams(location.search).get("date") || localDate(new Date());
$("#query").addEventListener("submit", (e) => {
  e.preventDefault();
  run();
});
$("#print").addEventListener("click", () => window.print());
session = start({
  main: "#staffing",
  onEvent: () => {},
  onSync: () => {},
  onSignIn: () => {
    translate($("#staffing"));
    loadQueues();
  },
});
