// The pages' link to the pbx: log in for a token (kept for the tab's life, so a reload
// does not log out), call the API with it, and follow /api/events — reconnecting with
// the last sequence number seen, and resynchronising from the API when events were
// missed (a Gap, or a server that restarted and numbers from 1 again).

import { t, translate } from "./i18n.js";

const TOKEN = "pbx.token";

export function token() {
  return sessionStorage.getItem(TOKEN);
}

export async function login(user, password) {
  const r = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user, password }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail || body.title || `HTTP ${r.status}`);
  sessionStorage.setItem(TOKEN, body.token);
  return body;
}

export function logout() {
  sessionStorage.removeItem(TOKEN);
}

export class Unauthorized extends Error {}

export async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, ...(options.headers || {}) };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.json) };
  }
  const r = await fetch(path, { ...options, headers });
  if (r.status === 401) throw new Unauthorized("the session has ended");
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body.detail || body.title || `HTTP ${r.status}`);
  return body;
}

// Follow the event stream: onEvent(event) for each event, onSync() whenever the page
// must reload its state from the API (first connect, after a gap or a restart),
// onStatus("live" | "connecting" | "offline").
export function follow({ onEvent, onSync, onStatus, params = {} }) {
  let last = null;
  let delay = 500;
  let socket = null;
  let stopped = false;
  let timer = null;

  function open() {
    const query = new URLSearchParams({ token: token() || "", ...params });
    if (last !== null) query.set("since", String(last));
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    onStatus("connecting");
    socket = new WebSocket(`${scheme}://${location.host}/api/events?${query}`);
    socket.onopen = () => {
      delay = 500;
      onStatus("live");
      if (last === null) onSync();
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "Ping") return;
      if (event.type === "Gap") {
        last = null;
        onSync();
        return;
      }
      if (event.seq) last = event.seq;
      onEvent(event);
    };
    socket.onclose = (closed) => {
      onStatus("offline");
      if (stopped) return;
      if (closed.code === 4401) {
        onEvent({ type: "Unauthorized" });
        return;
      }
      timer = setTimeout(() => {
        // Reconnect; if the server restarted its numbering, resync from the API.
        fetch("/api/health").catch(() => null).finally(open);
      }, delay);
      delay = Math.min(delay * 2, 5000);
    };
  }

  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    socket?.close();
  };
}

// Seconds as m:ss or h:mm:ss.
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

// The frame every page shares: the login form (#login, #login-error), the log-out button
// (#logout), who is signed in (#who), the live indicator (#status) and the page's own
// content (``main``), shown once signed in. A token kept from before a reload is reused.
// onEvent and onSync as for follow(); onSignIn(me) with /api/me's answer, onSignOut()
// before the token is dropped.
export function start({ main, onEvent, onSync, onSignIn = () => {}, onSignOut = () => {} }) {
  const $ = (selector) => document.querySelector(selector);
  let stop = null;

  function onStatus(state) {
    const el = $("#status");
    el.dataset.state = state;
    el.textContent = t(state);
  }

  // The header's links to the pages this role may use, keeping the language asked for.
  function showNav(role) {
    const asked = new URLSearchParams(location.search).get("lang");
    for (const a of document.querySelectorAll("#nav a")) {
      a.hidden = !a.dataset.roles.split(" ").includes(role);
      if (asked) a.setAttribute("href", `${a.pathname}?lang=${encodeURIComponent(asked)}`);
      if (a.pathname === location.pathname) a.setAttribute("aria-current", "page");
    }
    $("#nav").hidden = false;
  }

  function signIn(me) {
    $("#login").hidden = true;
    $(main).hidden = false;
    $("#logout").hidden = false;
    $("#who").textContent = me.user;
    showNav(me.role);
    onSignIn(me);
    const events = (event) => (event.type === "Unauthorized" ? signOut() : onEvent(event));
    stop = follow({ onEvent: events, onSync, onStatus });
  }

  function signOut() {
    stop?.();
    stop = null;
    onSignOut();
    logout();
    $(main).hidden = true;
    $("#nav").hidden = true;
    $("#logout").hidden = true;
    $("#login").hidden = false;
  }

  translate();
  $("#login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    try {
      await login(form.get("user"), form.get("password"));
      $("#login-error").textContent = "";
      signIn(await api("/api/me"));
    } catch (error) {
      $("#login-error").textContent = error.message;
    }
  });
  $("#logout").addEventListener("click", signOut);
  if (token()) {
    api("/api/me").then(signIn).catch(signOut);
  } else {
    signOut();
  }
  return { signOut };
}
