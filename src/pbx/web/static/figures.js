// What the report pages share: figures formatted for people (seconds as m:ss, ratios as
// %), table cells that carry the raw figure for machines (data-field, data-value), the
// local times of the forms as ISO 8601 with their offset, charts drawn with the vendored
// Chart.js (window.Chart, loaded by the page before its module), and CSV downloads
// fetched with the session's token and saved from a Blob.
import { api, clock } from "./live.js";
import { lang } from "./i18n.js";

export const DASH = "—";

export function percent(x) {
  return x === null || x === undefined ? DASH : `${Math.round(x * 1000) / 10}%`;
}

export function seconds(x) {
  return x === null || x === undefined ? DASH : clock(x);
}

export function number(x) {
  if (x === null || x === undefined) return DASH;
  return typeof x === "number" ? x.toLocaleString(lang) : String(x);
}

// {"lunch": 300, "break": 60} as "lunch 5:00, break 1:00"; counts as "a 2, b 1".
export function mapping(x, asTime = false) {
  if (!x || typeof x !== "object") return DASH;
  const parts = Object.entries(x).map(([k, v]) => `${k} ${asTime ? clock(v) : number(v)}`);
  return parts.length ? parts.join(", ") : DASH;
}

// Agents on average over an interval (2.5 agents), to one decimal.
export function decimal(x) {
  if (x === null || x === undefined) return DASH;
  return x.toLocaleString(lang, { maximumFractionDigits: 1 });
}

const FORMATS = {
  int: number,
  dec: decimal,
  pct: percent,
  sec: seconds,
  text: (x) => (x === null || x === undefined ? DASH : String(x)),
  reasons: (x) => mapping(x, true),
  counts: (x) => mapping(x),
};

export function format(kind, value) {
  return (FORMATS[kind] || FORMATS.text)(value);
}

// A <td> with its text and, for a figure, data-field, data-value and the other
// attributes given (key, start, total ...).
export function cell(text, data = {}) {
  const td = document.createElement("td");
  td.textContent = text;
  for (const [name, value] of Object.entries(data)) {
    if (value !== undefined && value !== null) td.dataset[name] = value;
  }
  return td;
}

// A figure's cell: its text for people, data-value the figure as JSON (2, 0.5, null,
// "200", {"lunch": 300}) for machines.
export function figure(field, kind, value, data = {}) {
  const td = cell(format(kind, value), { field, ...data });
  td.dataset.value = JSON.stringify(value ?? null);
  if (kind !== "text") td.className = "figure";
  return td;
}

const pad = (n) => String(n).padStart(2, "0");

// A Date as a datetime-local input's value (local time, to the minute).
export function localInput(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function localDate(date) {
  return localInput(date).slice(0, 10);
}

// A datetime-local value (local time) as ISO 8601 with this browser's offset.
export function isoWithOffset(value) {
  const d = new Date(value);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${localInput(d)}:${pad(d.getSeconds())}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

// An interval's start for a column or an axis: the time of day within one day, the date
// (and time) otherwise.
export function when(iso, interval, oneDay) {
  if (!iso) return DASH;
  const d = new Date(iso);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (interval === "day" || interval === "week") return localDate(d);
  return oneDay ? time : `${localDate(d).slice(5)} ${time}`;
}

export const COLOURS = ["#1565c0", "#2e7d32", "#c62828", "#f9a825", "#6a1b9a", "#00838f", "#5f6b7a"];

// Draw a chart on ``canvas``, replacing the one drawn there before. No animation: the
// chart is complete as soon as it is drawn (for print, and for tests that read it).
export function drawChart(canvas, config) {
  window.Chart.getChart(canvas)?.destroy();
  config.options = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    ...(config.options || {}),
  };
  return new window.Chart(canvas, config);
}

export function clearChart(canvas) {
  window.Chart.getChart(canvas)?.destroy();
}

// Charts take the printed page's width, and back the screen's after.
for (const event of ["beforeprint", "afterprint"]) {
  window.addEventListener(event, () => {
    for (const chart of Object.values(window.Chart?.instances || {})) chart.resize();
  });
}

// Fetch ``path`` with the session's token and save what comes back as ``filename``.
export async function download(path, filename) {
  const text = await api(path);
  const body = typeof text === "string" ? text : JSON.stringify(text);
  const url = URL.createObjectURL(new Blob([body], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// Show ``error`` in ``el`` (the API's detail sentence), or clear it with null.
export function showError(el, error) {
  el.textContent = error ? error.message || String(error) : "";
  el.hidden = !error;
}
