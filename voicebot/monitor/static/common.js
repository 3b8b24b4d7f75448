// Shared helpers of the monitor pages: DOM building with textContent (never innerHTML) and WebSockets.
"use strict";
window.VB = {
  el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined && text !== null) e.textContent = String(text); return e; },
  csrf() { return document.querySelector('meta[name="csrf-token"]').content; },
  wsUrl(path) { return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path; },
  duration(s) { s = Math.max(0, Math.floor(s)); return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s"; },
  time(ts) { return ts ? new Date(ts * 1000).toLocaleString("fr-FR") : ""; },
  ALERT: {person_requested: "Demande un conseiller", not_understood: "Incompris 2 fois", long_silence: "Long silence", anger: "Colère"},
  STATE: {greeting: "Message d'accueil", listening: "Écoute l'appelant", caller_speaking: "L'appelant parle", thinking: "Cherche la réponse", speaking: "Le bot répond", transferring: "Transfert en cours", ended: "Terminé"},
  TRANSFER_REASON: {caller_request: "demande de l'appelant", dtmf: "touche 0", no_answer: "pas de réponse du bot", supervisor: "décision d'un superviseur"},
  // Same wording as labels.event_text on the server (first render of the page).
  eventText(type, d) {
    d = d || {};
    switch (type) {
      case "transfer": return "Transfert vers la file " + (d.queue || "?") + " (" + (VB.TRANSFER_REASON[d.reason] || d.reason || "") + ")" + (d.status ? " : " + ({accepted: "accepté", refused: "refusé", forwarded: "transmis au serveur de l'appel"}[d.status] || d.status) : "");
      case "dtmf": return "Touche " + (d.digit ?? "?") + " pressée";
      case "barge_in": return "L'appelant a coupé la parole au bot";
      case "silence": return "Silence de " + (d.seconds ?? "?") + " s" + (d.action === "hangup" ? " : le bot raccroche" : "");
      case "error": return "Incident technique" + (d.stage ? " (" + d.stage + ")" : "");
      case "alert": return "Alerte : " + (VB.ALERT[d.kind] || d.kind);
      case "call_ended": return "Appel terminé (" + (VB.REASON[d.reason] || d.reason || "") + ")";
      case "call_lost": return "Appel terminé anormalement (" + VB.REASON.worker_lost + ")";
      case "handoff": return "Fiche de transfert créée";
      default: return type;
    }
  },
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
