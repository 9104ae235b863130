// The browser as the signed-in user's phone. JsSIP (vendored, a classic script that
// defines the global JsSIP) registers over the pbx's own SIP WebSocket (/sip on this
// page's host) with the digest key /api/me/phone hands out, so the page never keeps the
// password. Calls ring in the page (a ring tone and Answer / Decline, or answered at
// once), play through an <audio> element, and have the phone's own controls: mute,
// the keypad (RFC 4733 telephone-events), hang up, and calling a number. Hold and
// transfers stay on the desktop's call controls, which act on the call through the API
// exactly as for a desk phone.
import { api } from "./live.js";
import { t } from "./i18n.js";

const KEYS = "123456789*0#";

export class Phone {
  // elements: { state, call, answer, decline, mute, end, keys, number, dial, audio }
  constructor(elements) {
    this.el = elements;
    this.ua = null;
    this.session = null;
    this.autoAnswer = false;
    this.muted = false;
    this.ring = null;
    for (const key of KEYS) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = key;
      button.dataset.key = key;
      button.addEventListener("click", () => this.press(key));
      this.el.keys.append(button);
    }
    this.el.answer.addEventListener("click", () => this.answer());
    this.el.decline.addEventListener("click", () => this.session?.terminate({ status_code: 486 }));
    this.el.end.addEventListener("click", () => this.session?.terminate());
    this.el.mute.addEventListener("click", () => this.toggleMute());
    this.el.dial.addEventListener("click", () => this.call(this.el.number.value.trim()));
    addEventListener("pagehide", () => this.stop());
    this.showState("off");
    this.showCall("idle");
  }

  showState(state, detail = "") {
    this.el.state.dataset.state = state;
    this.el.state.textContent = t(`phone_${state}`) + (detail ? `: ${detail}` : "");
    this.el.dial.disabled = state !== "registered";
  }

  showCall(state, detail = "") {
    const el = this.el.call;
    el.dataset.state = state;
    el.textContent = state === "idle" ? "" : t(`call_${state}`) + (detail ? ` ${detail}` : "");
    const ringing = state === "incoming";
    const up = ["calling", "talking"].includes(state);
    this.el.answer.hidden = !ringing;
    this.el.decline.hidden = !ringing;
    this.el.end.hidden = !up;
    this.el.mute.hidden = state !== "talking";
    this.el.keys.hidden = state !== "talking";
    this.el.mute.textContent = t(this.muted ? "unmute" : "mute");
  }

  // Register as the signed-in user; a second call re-registers (after a new sign-in).
  async start() {
    this.stop();
    this.showState("connecting");
    let info;
    try {
      info = await api("/api/me/phone");
    } catch (error) {
      this.showState("failed", error.message);
      return;
    }
    if (typeof JsSIP === "undefined") {
      this.showState("failed", "JsSIP did not load");
      return;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.domain = location.hostname;
    const ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(`${scheme}://${location.host}${info.websocket}`)],
      uri: `sip:${info.extension}@${this.domain}`,
      authorization_user: info.extension,
      realm: info.realm,
      ha1: info.ha1,
      display_name: info.name || undefined,
      register: true,
      register_expires: 300,
      session_timers: false,
      user_agent: "pbx desktop (JsSIP)",
    });
    ua.on("connecting", () => this.showState("connecting"));
    ua.on("registered", () => this.showState("registered"));
    ua.on("unregistered", () => this.ua === ua && this.showState("connecting"));
    ua.on("disconnected", () => this.ua === ua && this.showState("connecting"));
    ua.on("registrationFailed", (e) => this.showState("failed", e.cause));
    ua.on("newRTCSession", (e) => this.onSession(e));
    this.ua = ua;
    ua.start();
  }

  stop() {
    this.stopRing();
    const ua = this.ua;
    this.ua = null;
    if (ua) ua.stop(); // unregisters, ends any call and closes the socket
    this.session = null;
    this.showState("off");
    this.showCall("idle");
  }

  options() {
    return { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } };
  }

  onSession({ session, originator, request }) {
    if (this.session) {
      // One call at a time, like an agent's desk phone with call waiting off.
      if (originator === "remote") session.terminate({ status_code: 486 });
      return;
    }
    this.session = session;
    this.muted = false;
    session.on("peerconnection", (e) => this.playFrom(e.peerconnection));
    if (session.connection) this.playFrom(session.connection);
    session.on("progress", () => originator === "local" && this.showCall("calling"));
    session.on("confirmed", () => {
      this.stopRing();
      this.showCall("talking");
    });
    const over = () => {
      if (this.session !== session) return;
      this.stopRing();
      this.session = null;
      this.muted = false;
      this.showCall("idle");
    };
    session.on("ended", over);
    session.on("failed", over);
    if (originator === "remote") {
      const from = request?.from;
      const who = [from?.display_name, from?.uri?.user].filter(Boolean).join(" ");
      this.showCall("incoming", who);
      if (this.autoAnswer) {
        this.answer();
      } else {
        this.startRing();
      }
    } else {
      this.showCall("calling");
    }
  }

  playFrom(pc) {
    pc.addEventListener("track", (e) => {
      const audio = this.el.audio;
      audio.srcObject = e.streams[0] || new MediaStream([e.track]);
      audio.play().catch(() => {}); // autoplay is allowed once the user clicked
    });
  }

  answer() {
    this.stopRing();
    if (this.session && this.session.direction === "incoming" && !this.session.isEstablished()) {
      this.session.answer(this.options());
    }
  }

  call(number) {
    if (!this.ua || !number || this.session) return;
    this.ua.call(`sip:${number}@${this.domain}`, this.options());
  }

  press(key) {
    if (this.session?.isEstablished()) {
      this.session.sendDTMF(key, { transportType: "RFC2833", duration: 160 });
    }
  }

  toggleMute() {
    if (!this.session) return;
    this.muted = !this.muted;
    if (this.muted) this.session.mute({ audio: true });
    else this.session.unmute({ audio: true });
    this.showCall("talking");
  }

  // The ring tone: 400 + 450 Hz, 0.4 s on, 0.2 s off, 0.4 s on, 2 s off (as in the UK).
  startRing() {
    this.stopRing();
    try {
      const ctx = new AudioContext();
      const gain = ctx.createGain();
      gain.gain.value = 0;
      gain.connect(ctx.destination);
      for (const hz of [400, 450]) {
        const osc = ctx.createOscillator();
        osc.frequency.value = hz;
        osc.connect(gain);
        osc.start();
      }
      let step = 0;
      const cadence = [0.4, 0.2, 0.4, 2.0];
      const tick = () => {
        gain.gain.value = step % 2 === 0 ? 0.1 : 0;
        const wait = cadence[step % cadence.length] * 1000;
        step += 1;
        this.ring.timer = setTimeout(tick, wait);
      };
      this.ring = { ctx, timer: null };
      tick();
    } catch {
      this.ring = null; // no audio output: the buttons still show the call
    }
  }

  stopRing() {
    if (!this.ring) return;
    clearTimeout(this.ring.timer);
    this.ring.ctx.close().catch(() => {});
    this.ring = null;
  }
}
