// Shared helpers of the monitor pages: DOM building with textContent (never innerHTML) and WebSockets.
"use strict";
window.VB = {
  el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined && text !== null) e.textContent = String(text); return e; },
  csrf() { return document.querySelector('meta[name="csrf-token"]').content; },
  wsUrl(path) { return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path; },
  duration(s) { s = Math.max(0, Math.floor(s)); return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s"; },
  time(ts) { return ts ? new Date(ts * 1000).toLocaleString("fr-FR") : ""; },
  ALERT: {person_requested: "Demande un conseiller", not_understood: "Incompris 2 fois", long_silence: "Long silence", anger: "Colère"},
  REASON: {caller_hangup: "raccroché par l'appelant", bot_hangup: "raccroché par le bot", silence: "silence", max_duration: "durée maximale", transfer: "transféré", error: "erreur", worker_lost: "interrompu (serveur perdu)"},
  connect(path, onMessage, statusEl) {
    let delay = 500;
    const open = () => {
      const ws = new WebSocket(VB.wsUrl(path));
      ws.onopen = () => { delay = 500; if (statusEl) statusEl.textContent = "En direct"; };
      ws.onmessage = (m) => { if (typeof m.data === "string") onMessage(JSON.parse(m.data)); };
      ws.onclose = (e) => {
        if (statusEl) statusEl.textContent = "Connexion perdue, nouvelle tentative…";
        if (e.code === 4401 || e.code === 4403) { location.href = "/login"; return; }
        setTimeout(open, delay); delay = Math.min(delay * 2, 10000);
      };
    };
    open();
  },
  alertBadges(container, alerts) {
    container.replaceChildren();
    for (const a of alerts || []) { const s = VB.el("span", "alert", VB.ALERT[a.kind] || a.kind); if (a.message) s.title = a.message; container.append(s); }
  },
};
