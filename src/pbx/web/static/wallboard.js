// The supervisor's wallboard: queue tiles, the agent grid, campaign tiles; live over
// /api/events (QueueStats once a second, agent state changes at once), resynchronised
// from the API after a reconnect that missed events.
import { api, clock, start, Unauthorized } from "./live.js";
import { t } from "./i18n.js";

// Thresholds that turn a tile amber / red: ?sl=0.8&waiting=3 overrides them.
const params = new URLSearchParams(location.search);
const SL_TARGET = Number(params.get("sl") || 0.8);
const WAITING_LIMIT = Number(params.get("waiting") || 3);

const $ = (selector) => document.querySelector(selector);
const queues = new Map();
const agents = new Map();
const campaigns = new Map();
let offset = 0; // server wall clock minus ours, from the agents' "since"
let session = null;

function percent(x) {
  return x === null || x === undefined ? "—" : `${Math.round(x * 1000) / 10}%`;
}

function level(q) {
  // The worse of today's service level and the last 30 minutes' (when anyone left).
  const recent = q.offered_30m ? q.service_level_30m : null;
  const sl = recent !== null && recent < q.service_level ? recent : q.service_level;
  if (q.waiting >= 2 * WAITING_LIMIT || (sl !== null && sl < SL_TARGET - 0.2)) return "red";
  if (q.waiting >= WAITING_LIMIT || (sl !== null && sl < SL_TARGET)) return "amber";
  return "ok";
}

function tile(id, title, level, rows) {
  const el = document.createElement("article");
  el.className = `tile ${level}`;
  el.dataset.id = id;
  const h = document.createElement("h3");
  h.textContent = title;
  el.append(h);
  const dl = document.createElement("dl");
  for (const [key, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = t(key);
    const dd = document.createElement("dd");
    dd.dataset.field = key;
    dd.textContent = value;
    dl.append(dt, dd);
  }
  el.append(dl);
  return el;
}

function drawQueues() {
  const box = $("#queues");
  box.replaceChildren(
    ...[...queues.values()].map((q) => {
      const byState = Object.entries(q.agents || {})
        .map(([state, n]) => `${t(state)} ${n}`)
        .join(", ");
      return tile(q.name, q.name, level(q), [
        ["waiting", String(q.waiting)],
        ["longest_wait", clock(q.longest_wait)],
        ["service_level", percent(q.service_level)],
        ["service_level_30m", q.offered_30m ? percent(q.service_level_30m) : "—"],
        ["asa", clock(q.asa ?? 0)],
        ["aht", clock(q.aht ?? 0)],
        ["offered", String(q.offered)],
        ["answered", String(q.answered)],
        ["abandoned", String(q.abandoned)],
        ["agents", byState || "—"],
      ]);
    }),
  );
}

function drawCampaigns() {
  const box = $("#campaigns");
  box.replaceChildren(
    ...[...campaigns.values()].map((c) => {
      const a = c.abandon || {};
      const left = Object.entries(c.leads || {})
        .filter(([state]) => state !== "done")
        .reduce((sum, [, n]) => sum + n, 0);
      return tile(c.name, `${c.name} (${c.state})`, "ok", [
        ["mode", c.mode],
        ["lines", String(c.lines_in_use)],
        ["abandon_24h", percent(a.live_24h ? a.abandoned_24h / a.live_24h : 0)],
        ["abandon_30d", percent(a.live_30d ? a.abandoned_30d / a.live_30d : 0)],
        ["leads_left", String(left)],
      ]);
    }),
  );
}

function drawAgents() {
  const body = $("#agents tbody");
  const now = Date.now() / 1000 + offset;
  body.replaceChildren(
    ...[...agents.values()].map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.agent = a.id;
      tr.dataset.state = a.state;
      const cells = [
        `${a.id} ${a.name || ""}`.trim(),
        t(a.state) + (a.reason ? ` (${a.reason})` : ""),
        a.state === "logged_out" ? "" : clock(now - a.since),
        a.call || "",
        String(a.calls_today),
      ];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      const td = document.createElement("td");
      if (a.call) {
        for (const mode of ["listen", "whisper", "barge"]) {
          const b = document.createElement("button");
          b.textContent = t(mode);
          b.dataset.mode = mode;
          b.onclick = () => monitor(a.id, mode);
          td.append(b);
        }
      }
      tr.append(td);
      return tr;
    }),
  );
}

async function monitor(agent, mode) {
  try {
    await api(`/api/agents/${encodeURIComponent(agent)}/monitor`, {
      method: "POST",
      json: { mode },
    });
    $("#monitor-result").textContent = `${t("ringing_you")}: ${t(mode)} ${agent}`;
  } catch (error) {
    $("#monitor-result").textContent = error.message;
  }
}

async function sync() {
  try {
    const [qs, as, cs] = await Promise.all([
      api("/api/queues"),
      api("/api/agents"),
      api("/api/campaigns").catch(() => []),
    ]);
    queues.clear();
    for (const q of qs) queues.set(q.name, q);
    agents.clear();
    for (const a of as) agents.set(a.id, a);
    if (as.length) offset = as[0].since + as[0].in_state - Date.now() / 1000;
    campaigns.clear();
    for (const c of cs) campaigns.set(c.name, c);
    drawQueues();
    drawAgents();
    drawCampaigns();
  } catch (error) {
    if (error instanceof Unauthorized) signOut();
  }
}

let agentsDue = null;
function refreshAgentsSoon() {
  // State changes come in bursts (offer, ringing, connect): one reload per burst.
  if (agentsDue) return;
  agentsDue = setTimeout(async () => {
    agentsDue = null;
    try {
      for (const a of await api("/api/agents")) agents.set(a.id, a);
      drawAgents();
    } catch (error) {
      if (error instanceof Unauthorized) signOut();
    }
  }, 100);
}

function onEvent(event) {
  if (event.type === "QueueStats") {
    queues.set(event.name, event);
    drawQueues();
  } else if (event.type === "CampaignStats" && event.name) {
    campaigns.set(event.name, event);
    drawCampaigns();
  } else if (["AgentStateChanged", "ConnectCall", "CallEnded"].includes(event.type)) {
    refreshAgentsSoon();
  }
}

function signOut() {
  session?.signOut();
}

setInterval(drawAgents, 1000); // time in state ticks on
session = start({ main: "#board", onEvent, onSync: sync });
