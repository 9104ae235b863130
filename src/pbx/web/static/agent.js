// The agent's desktop: state buttons with time in state, the customer's card popped by
// the ACD's offer (caller, DID, queue, IVR path, attached data, CRM link), the call
// controls once connected, wrap-up; in a preview campaign, the lead's card with dial and
// skip. Follows /api/events with the agent's own token: an agent's stream carries only
// their own offers, calls and state. With "This browser is my phone" ticked (kept in
// the browser; ?phone=on ticks it too) the page registers as the agent's extension and
// rings, answers and plays the calls itself (phone.js).
import { api, clock, start, Unauthorized } from "./live.js";
import { t } from "./i18n.js";
import { Phone } from "./phone.js";

const $ = (selector) => document.querySelector(selector);
let me = null;
let agent = null; // the agent's view from the API
let offset = 0;
let call = null; // { id, phase, held, recordingPaused, campaign }
let lead = null; // the preview campaign's lead offered to this agent
let session = null;

function showError(error) {
  if (error instanceof Unauthorized) return session?.signOut();
  $("#action-error").textContent = error.message;
}

function drawState() {
  if (!agent) return;
  const el = $("#state");
  el.dataset.state = agent.state;
  el.textContent = t(agent.state) + (agent.reason ? ` (${agent.reason})` : "");
  const out = agent.state === "logged_out";
  $("#in-state").textContent = out ? "" : clock(Date.now() / 1000 + offset - agent.since);
  $("#queue-login").hidden = !out;
  $("#queue-logout").hidden = out;
  $("#ready").disabled = out || agent.state === "ready";
  $("#pause").disabled = out;
}

function show(view) {
  agent = view;
  offset = agent.since + agent.in_state - Date.now() / 1000;
  drawState();
}

async function loadState() {
  if (me) show(await api(`/api/agents/${encodeURIComponent(me.user)}`));
}

async function setState(body) {
  try {
    $("#action-error").textContent = "";
    const path = `/api/agents/${encodeURIComponent(me.user)}/state`;
    show(await api(path, { method: "POST", json: body }));
  } catch (error) {
    showError(error);
  }
}

function dataRows(data) {
  return Object.entries(data || {})
    .filter(([key]) => key !== "ivr_path")
    .map(([key, value]) => {
      const tr = document.createElement("tr");
      tr.dataset.key = key;
      const k = document.createElement("th");
      k.textContent = key;
      const v = document.createElement("td");
      v.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
      tr.append(k, v);
      return tr;
    });
}

function showLead(offer) {
  lead = offer;
  $("#lead").hidden = !offer;
  if (!offer) return;
  $("#lead").dataset.lead = offer.lead;
  $("#lead-name").textContent = offer.data?.name || "";
  $("#lead-campaign").textContent = offer.campaign;
  $("#lead-number").textContent = offer.number;
  $("#lead-timeout").textContent = offer.timeout ? `(${t("dialled_in")} ${offer.timeout} s)` : "";
  $("#lead-data tbody").replaceChildren(...dataRows(offer.data));
  $("#lead-dial").disabled = false;
  $("#lead-skip").disabled = false;
}

async function loadLead() {
  if (!me) return;
  const view = await api(`/api/agents/${encodeURIComponent(me.user)}/preview`);
  showLead(view.offer);
}

async function decide(action) {
  if (!lead) return;
  $("#lead-dial").disabled = true;
  $("#lead-skip").disabled = true;
  try {
    $("#action-error").textContent = "";
    const path = `/api/agents/${encodeURIComponent(me.user)}/preview`;
    await api(path, { method: "POST", json: { lead: lead.lead, action } });
    showLead(null);
  } catch (error) {
    showError(error);
    loadLead().catch(showError);
  }
}

function popCard(offer) {
  call = {
    id: offer.call,
    phase: "offered",
    held: false,
    recordingPaused: false,
    campaign: offer.data?.campaign && offer.data?.lead ? offer.data.campaign : null,
  };
  const caller = offer.caller || {};
  $("#card-caller").textContent = [caller.number, caller.name].filter(Boolean).join(" · ");
  $("#card-queue").textContent = offer.queue || "";
  $("#card-did").textContent = offer.did || "";
  $("#card-ivr").textContent = (offer.ivr_path || []).join(" → ");
  $("#card-data tbody").replaceChildren(...dataRows(offer.data));
  const codes = offer.dispositions || [];
  $("#wrap-code").replaceChildren(
    ...codes.map((code) => {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = t(code);
      return option;
    }),
  );
  $("#wrap-code").hidden = codes.length === 0;
  $("#wrap-code-text").hidden = codes.length > 0;
  $("#wrap-code-text").value = "";
  $("#wrap-notes").value = "";
  $("#wrap-callback").value = "";
  $("#wrap-callback-row").hidden = false;
  $("#wrap-status").textContent = "";
  $("#wrapup").dataset.saved = "";
  loadHistory(call.id).catch(() => {}); // the card works without it
  const crm = $("#card-crm");
  crm.hidden = !offer.crm_url;
  crm.href = offer.crm_url || "#";
  $("#card").hidden = false;
  drawCall();
}

async function loadHistory(callId) {
  const box = $("#card-history");
  box.hidden = true;
  const found = await api(`/api/calls/${encodeURIComponent(callId)}/history`);
  if (!call || call.id !== callId) return; // another call popped meanwhile
  const rows = found.calls.map((c) => {
    const tr = document.createElement("tr");
    tr.dataset.call = c.call_id;
    const when = c.start_time ? new Date(c.start_time * 1000).toLocaleString() : "";
    const outcome = c.wrap_code ? t(c.wrap_code) : t(c.disposition || "");
    for (const text of [when, c.queue || "", c.agent || "", outcome, c.wrap_notes || ""]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  box.querySelector("tbody").replaceChildren(...rows);
  $("#card-history-count").textContent = String(rows.length);
  box.hidden = rows.length === 0;
}

function drawCall() {
  if (!call) return;
  $("#card").dataset.phase = call.phase;
  $("#card-phase").textContent = t(call.phase);
  $("#controls").hidden = call.phase !== "connected";
  $("#wrapup").hidden = !["connected", "ended"].includes(call.phase);
  $("#hold").textContent = t(call.held ? "resume" : "hold");
  $("#consult").hidden = Boolean(call.consulting);
  $("#consult-complete").hidden = !call.consulting;
  $("#consult-cancel").hidden = !call.consulting;
  $("#card").dataset.consulting = call.consulting || "";
  $("#record").textContent = t(call.recordingPaused ? "resume_recording" : "pause_recording");
}

async function control(path, body) {
  if (!call) return false;
  try {
    $("#action-error").textContent = "";
    await api(`/api/calls/${encodeURIComponent(call.id)}/${path}`, { method: "POST", json: body });
    return true;
  } catch (error) {
    showError(error);
    return false;
  }
}

function onEvent(event) {
  if (event.type === "OfferToAgent") {
    popCard(event);
  } else if (event.type === "OfferPreview") {
    showLead(event);
  } else if (event.type === "WithdrawPreview") {
    if (lead && lead.lead === event.lead) showLead(null);
  } else if (event.type === "PreviewConnected") {
    popCard({
      call: event.call,
      caller: { number: event.number, name: event.data?.name || "" },
      queue: event.campaign,
      data: event.data,
      dispositions: event.dispositions,
    });
    call.phase = "connected";
    drawCall();
  } else if (call && event.call === call.id) {
    const phases = { ConnectCall: "connected", CancelOffer: "withdrawn", CallEnded: "ended" };
    if (phases[event.type]) {
      call.phase = phases[event.type];
      drawCall();
    }
  }
  if (["AgentStateChanged", "ConnectCall", "CallEnded"].includes(event.type)) {
    loadState().catch(showError);
  }
}

$("#queue-login").addEventListener("click", () => setState({ state: "logged_in" }));
$("#queue-logout").addEventListener("click", () => setState({ state: "logged_out" }));
$("#ready").addEventListener("click", () => setState({ state: "ready" }));
$("#pause").addEventListener("click", () =>
  setState({ state: "paused", reason: $("#reason").value }),
);
$("#hold").addEventListener("click", async () => {
  if (await control("hold", { on: !call.held })) call.held = !call.held;
  drawCall();
});
$("#record").addEventListener("click", async () => {
  if (await control("recording", { paused: !call.recordingPaused })) {
    call.recordingPaused = !call.recordingPaused;
  }
  drawCall();
});
$("#transfer").addEventListener("click", () => {
  const body = { to: $("#transfer-to").value.trim() };
  const note = $("#transfer-note").value.trim();
  // What the next agent's card shows: who sent the caller, and why.
  body.data = { transferred_by: me.user, ...(note ? { transfer_note: note } : {}) };
  control("transfer", body);
});
$("#hangup").addEventListener("click", () => control("hangup", {}));
$("#consult").addEventListener("click", async () => {
  const to = $("#transfer-to").value.trim();
  if (await control("consult", { to })) call.consulting = to;
  drawCall();
});
$("#consult-complete").addEventListener("click", async () => {
  if (await control("consult/complete", {})) call.consulting = null;
  drawCall();
});
$("#consult-cancel").addEventListener("click", async () => {
  if (await control("consult/cancel", {})) call.consulting = null;
  drawCall();
});
$("#lead-dial").addEventListener("click", () => decide("dial"));
$("#lead-skip").addEventListener("click", () => decide("skip"));
$("#wrapup").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const select = $("#wrap-code");
  const code = select.hidden ? $("#wrap-code-text").value.trim() : select.value;
  const body = { code, notes: $("#wrap-notes").value };
  const when = $("#wrap-callback").value;
  if (when) body.callback_at = new Date(when).toISOString();
  if (await control("disposition", body)) {
    $("#wrap-status").textContent = t("saved");
    $("#wrapup").dataset.saved = code;
  }
});
// The browser phone: on when ticked, remembered per browser.
const PHONE = "pbx.phone";
const AUTO = "pbx.phone.auto";
const asked = new URLSearchParams(location.search);
for (const [param, key] of [["phone", PHONE], ["auto_answer", AUTO]]) {
  if (asked.has(param)) localStorage.setItem(key, asked.get(param) === "on" ? "on" : "off");
}
const phone = new Phone({
  state: $("#phone-state"),
  call: $("#phone-call"),
  answer: $("#phone-answer"),
  decline: $("#phone-decline"),
  mute: $("#phone-mute"),
  end: $("#phone-end"),
  keys: $("#phone-keys"),
  number: $("#phone-number"),
  dial: $("#phone-dial"),
  audio: $("#phone-audio"),
});
$("#phone-on").checked = localStorage.getItem(PHONE) === "on";
$("#phone-auto").checked = localStorage.getItem(AUTO) === "on";
phone.autoAnswer = $("#phone-auto").checked;
$("#phone-dialer").hidden = !$("#phone-on").checked;
$("#phone-on").addEventListener("change", () => {
  const on = $("#phone-on").checked;
  localStorage.setItem(PHONE, on ? "on" : "off");
  $("#phone-dialer").hidden = !on;
  if (on && me) phone.start();
  else phone.stop();
});
$("#phone-auto").addEventListener("change", () => {
  phone.autoAnswer = $("#phone-auto").checked;
  localStorage.setItem(AUTO, phone.autoAnswer ? "on" : "off");
});

setInterval(drawState, 1000);
session = start({
  main: "#desk",
  onEvent,
  onSync: () => {
    loadState().catch(showError);
    loadLead().catch(showError);
  },
  onSignIn: (who) => {
    me = who;
    if ($("#phone-on").checked) phone.start();
  },
  onSignOut: () => {
    me = null;
    phone.stop();
  },
});
