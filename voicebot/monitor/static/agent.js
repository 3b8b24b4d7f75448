"use strict";
(() => {
  const cards = document.getElementById("cards"), empty = document.getElementById("empty"), status = document.getElementById("ws-status");
  window.__vbCardsShown = [];
  function list(cls, items, fmt) { const ul = VB.el("ul", cls); for (const i of items) ul.append(fmt(i)); return ul; }
  function card(c) {
    const a = VB.el("article", "card new"); a.dataset.id = c.id; a.dataset.call = c.call_id;
    const h = VB.el("header"); h.append(VB.el("h2", null, c.reason_label),
      VB.el("span", "muted", VB.time(c.created_at) + " · file " + (c.queue || "—") + " · appelant " + c.caller));
    const need = VB.el("p", "need"); need.append(VB.el("b", null, "Besoin : "), document.createTextNode(c.need));
    const sum = VB.el("p", "summary"); sum.append(VB.el("b", null, "Résumé : "), document.createTextNode(c.summary));
    a.append(h, need, sum);
    if (c.dossier) { const p = VB.el("p", "dossier"); p.append(VB.el("b", null, "Dossier " + c.dossier.reference + " : "), document.createTextNode(c.dossier.told)); a.append(p); }
    if (c.facts.length) a.append(VB.el("h3", null, "Déjà répondu par le bot"), list("facts-list", c.facts, (f) => {
      const li = VB.el("li", null, f.text); if (f.sources.length) li.append(" ", VB.el("span", "sources", "(" + f.sources.join(", ") + ")")); return li; }));
    if (c.open_questions.length) a.append(VB.el("h3", null, "Questions restées ouvertes"), list("open", c.open_questions, (q) => VB.el("li", null, q)));
    const det = VB.el("details", "transcript"); det.append(VB.el("summary", null, "Transcription complète (" + c.transcript.length + " répliques)"));
    const ol = VB.el("ol"); for (const l of c.transcript) { const li = VB.el("li", l.speaker); li.append(VB.el("b", null, (l.speaker === "appelant" ? "Appelant" : "Bot") + " : "), document.createTextNode(l.text)); ol.append(li); }
    det.append(ol); a.append(det);
    return a;
  }
  VB.connect("/agent/ws" + location.search, (msg) => {
    if (msg.type !== "handoff" || !msg.card) return;
    const old = cards.querySelector('article[data-id="' + CSS.escape(msg.card.id) + '"]'); if (old) old.remove();
    cards.prepend(card(msg.card)); empty.hidden = true;
    window.__vbCardsShown.push({id: msg.card.id, created_at: msg.card.created_at, shown: Date.now() / 1000});
  }, status);
})();
