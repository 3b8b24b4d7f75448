"use strict";
(() => {
  const root = document.getElementById("call"), callId = root.dataset.id;
  const transcript = document.getElementById("transcript"), partial = document.getElementById("partial"),
        botPartial = document.getElementById("bot-partial"), events = document.getElementById("events");
  const status = document.getElementById("action-status");
  window.__vbTurnsShown = [];
  function line(cls, who, text, extra) { const p = VB.el("p", cls); p.append(VB.el("b", null, who + " : "), VB.el("span", "text", text)); if (extra) p.append(" ", VB.el("em", null, extra)); return p; }
  function renderTurn(t) {
    let li = transcript.querySelector('li[data-turn="' + t.turn + '"]');
    const fresh = !li;
    if (fresh) { li = VB.el("li", "turn new"); li.dataset.turn = t.turn; }
    const meta = VB.el("p", "meta");
    if (t.guard_label) meta.append(VB.el("span", "guard", t.guard_label));
    if ((t.sources || []).length) meta.append(VB.el("span", "sources", "Sources : " + t.sources.join(", ")));
    if (t.latency_text) meta.append(VB.el("span", "latency", t.latency_text));
    li.replaceChildren(line("caller-line", "Appelant", t.caller_text), line("bot-line", "Bot", t.bot_text, t.interrupted ? "(interrompu)" : ""), meta);
    if (fresh) {
      const next = [...transcript.children].find((x) => parseInt(x.dataset.turn) > t.turn);
      transcript.insertBefore(li, next || null);
    }
    return li;
  }
  function setPartial(el, who, text) { el.replaceChildren(); if (text) el.append(VB.el("b", null, who + " (en cours) : "), document.createTextNode(text)); }
  function ended(data, abnormal) {
    const p = document.getElementById("ended");
    p.className = abnormal ? "abnormal" : "ended";
    p.textContent = (abnormal ? "Appel terminé anormalement (" : "Appel terminé (") + (VB.REASON[data.reason] || data.reason || "") + ").";
    p.hidden = false; document.getElementById("actions").hidden = true; root.dataset.live = "false";
    document.getElementById("state").textContent = VB.STATE.ended;
  }
  const alerts = [];
  const LOOKUP = {found: "trouvé et communiqué", not_found: "vérification échouée, rien communiqué", transfer: "transfert proposé accepté", timeout: "service trop lent", unavailable: "service indisponible", malformed: "réponse invalide du service"};
  function onEvent(e) {
    const d = e.data;
    switch (e.type) {
      case "transcript_partial": case "transcript_final": setPartial(partial, "Appelant", d.text); break;
      case "bot_text": { const t = ((botPartial.dataset.text || "") + " " + d.text).trim(); botPartial.dataset.text = t; setPartial(botPartial, "Bot", t); break; }
      case "turn":
        renderTurn(d); setPartial(partial, "", ""); setPartial(botPartial, "", ""); botPartial.dataset.text = "";
        window.__vbTurnsShown.push({turn: d.turn, ts: e.ts, shown: Date.now() / 1000});
        if (d.sources && d.sources.length) document.getElementById("topic").textContent = d.sources[0];
        break;
      case "lookup": { const li = VB.el("li", "lookup"); li.append(VB.el("b", null, "Consultation du dossier " + (d.dossier || "") + " : "), document.createTextNode((LOOKUP[d.outcome] || d.outcome) + (d.told ? " — " + d.told : ""))); transcript.append(li); break; }
      case "state": document.getElementById("state").textContent = VB.STATE[d.state] || d.state; break;
      case "alert": alerts.push(d); VB.alertBadges(document.getElementById("alerts"), alerts); break;
      case "handoff": { const p = document.getElementById("handoff-links"); const a = VB.el("a", null, "voir"); a.href = "/agent/handoffs/" + encodeURIComponent(d.handoff_id); p.replaceChildren("Fiche de transfert : ", a); p.hidden = false; break; }
      case "call_ended": ended(d, d.reason === "error"); break;
      case "call_lost": ended({reason: "worker_lost"}, true); break;
    }
    if (!["transcript_partial", "transcript_final", "bot_text", "turn", "state"].includes(e.type)) events.append(VB.el("li", null, VB.time(e.ts) + " · " + VB.eventText(e.type, d)));
  }
  VB.connect("/monitor/ws?call=" + encodeURIComponent(callId), (msg) => {
    if (msg.type === "snapshot" && msg.call) {
      for (const t of msg.call.turns_detail) renderTurn(t);
      alerts.length = 0; alerts.push(...msg.call.alerts); VB.alertBadges(document.getElementById("alerts"), alerts);
      if (!msg.call.live) ended({reason: msg.call.end_reason}, msg.call.ended_abnormally);
    } else if (msg.type === "event") onEvent(msg.event);
  }, null);
  async function act(path, body) {
    status.textContent = "…";
    const r = await fetch("/api/calls/" + encodeURIComponent(callId) + path, {method: "POST", headers: {"X-CSRF-Token": VB.csrf(), "Content-Type": "application/json"}, body: JSON.stringify(body || {}), credentials: "same-origin"});
    const j = await r.json().catch(() => ({}));
    status.textContent = r.ok ? ({accepted: "Transfert accepté", refused: "Transfert refusé", forwarded: "Demande envoyée au serveur de l'appel", done: "Appel raccroché"}[j.status] || j.status) : (j.detail || ("Erreur " + r.status));
  }
  document.getElementById("transfer").addEventListener("click", () => act("/transfer", {queue: document.getElementById("queue").value}));
  document.getElementById("hangup").addEventListener("click", () => { if (confirm("Raccrocher cet appel ?")) act("/hangup"); });
  // Listen-in: binary s16le PCM chunks, scheduled back to back with WebAudio.
  let audio = null;
  document.getElementById("listen").addEventListener("click", (ev) => {
    const btn = ev.currentTarget;
    if (audio) { audio.ws.close(); audio.ctx.close(); audio = null; btn.textContent = "Écouter"; return; }
    const ctx = new AudioContext(), ws = new WebSocket(VB.wsUrl("/monitor/ws/listen/" + encodeURIComponent(callId)));
    ws.binaryType = "arraybuffer"; audio = {ctx, ws, rate: 8000, at: 0}; btn.textContent = "Arrêter l'écoute";
    ws.onmessage = (m) => {
      if (typeof m.data === "string") { const j = JSON.parse(m.data); if (j.rate) audio.rate = j.rate; if (j.message) status.textContent = j.message; return; }
      const pcm = new Int16Array(m.data), buf = ctx.createBuffer(1, pcm.length, audio.rate), ch = buf.getChannelData(0);
      for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
      const src = ctx.createBufferSource(); src.buffer = buf; src.connect(ctx.destination);
      audio.at = Math.max(audio.at, ctx.currentTime + 0.05); src.start(audio.at); audio.at += buf.duration;
    };
    ws.onclose = () => { if (audio && audio.ws === ws) { btn.textContent = "Écouter"; audio.ctx.close(); audio = null; } };
  });
  setInterval(() => { if (root.dataset.live === "true") document.getElementById("duration").textContent = VB.duration(Date.now() / 1000 - parseFloat(root.dataset.started)); }, 1000);
})();
