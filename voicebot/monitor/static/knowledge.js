// Knowledge page: unanswered questions grouped by topic (mark a topic handled) and discrepancies between versions.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const showCalls = $("gaps-panel").dataset.showCalls === "true";
  const day = (ts) => ts ? new Date(ts * 1000).toLocaleDateString("fr-FR") : "";
  const plural = (n, one, many) => n + " " + (n > 1 ? many : one);
  window.__vbGaps = null;

  async function mark(topic, status, btn) {
    btn.disabled = true;
    const r = await fetch("/api/gaps/" + topic.id + "/status", {method: "POST", credentials: "same-origin",
      headers: {"X-CSRF-Token": VB.csrf(), "Content-Type": "application/json"}, body: JSON.stringify({status})});
    const j = await r.json().catch(() => ({}));
    if (!r.ok) { btn.disabled = false; alert(j.detail || ("Erreur " + r.status)); return; }
    loadGaps();
  }
  function topicCard(t) {
    const art = VB.el("article", "topic" + (t.status ? " handled" : ""));
    art.dataset.id = t.id;
    const head = VB.el("header");
    head.append(VB.el("h3", null, "« " + t.label + " »"), VB.el("span", "count", plural(t.count, "question", "questions")));
    art.append(head);
    const facts = VB.el("p", "meta");
    facts.append(VB.el("span", "scheme", "Dispositif probable : " + (t.scheme || "inconnu") + (t.scheme && t.scheme_guessed ? " (déduit de la documentation)" : "")),
      VB.el("span", null, "Première fois : " + day(t.first_seen)), VB.el("span", null, "Dernière fois : " + day(t.last_seen)),
      VB.el("span", "kinds", Object.entries(t.kinds_fr).map(([k, n]) => k + " : " + n).join(" · ")));
    art.append(facts);
    const ul = VB.el("ul", "examples");
    for (const e of t.examples) {
      const li = VB.el("li", null, "« " + e.text + " » — " + VB.time(e.ts));
      if (showCalls && e.call_id) { const a = VB.el("a", null, "voir l'appel"); a.href = "/monitor/calls/" + encodeURIComponent(e.call_id); li.append(" ", a); }
      ul.append(li);
    }
    art.append(ul);
    const status = VB.el("p", "status");
    status.append(VB.el("b", "status-label", t.status_label));
    if (t.status && t.since_mark) {
      const n = t.since_mark.count;
      status.append(" le " + VB.time(t.marked_at) + (t.marked_by ? " par " + t.marked_by : "") + " · ",
        VB.el("span", n ? "after-mark still" : "after-mark stopped", n ? plural(n, "question depuis", "questions depuis") + " (dernière le " + day(t.since_mark.last_seen) + ")" : "Aucune question depuis : les appels ont cessé"));
    }
    art.append(status);
    const actions = VB.el("p", "actions");
    const buttons = t.status ? [["", "Rouvrir"]] : [["document_added", "Document ajouté"], ["out_of_scope", "Hors périmètre"]];
    for (const [value, label] of buttons) { const b = VB.el("button", value ? null : "secondary", label); b.type = "button"; b.addEventListener("click", () => mark(t, value, b)); actions.append(b); }
    art.append(actions);
    return art;
  }
  async function loadGaps() {
    const days = parseInt($("gaps-days").value, 10), now = Date.now() / 1000;
    const r = await fetch("/api/gaps?from=" + (now - days * 86400) + "&to=" + (now + 60), {credentials: "same-origin"});
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
    const j = await r.json();
    window.__vbGaps = j;
    $("gaps").replaceChildren(...j.topics.map(topicCard));
    $("gaps-empty").hidden = j.topics.length > 0;
    $("gaps-summary").textContent = plural(j.questions, "question sans réponse", "questions sans réponse") + ", " + plural(j.topics.length, "sujet", "sujets");
    $("gaps-note").hidden = !j.pending;
    $("gaps-note").textContent = j.pending ? plural(j.pending, "question récente en cours de regroupement…", "questions récentes en cours de regroupement…") : "";
    if (j.pending) setTimeout(loadGaps, 2000);  // grouped in the background: look again shortly
    else document.body.dataset.gapsLoaded = String(Date.now());
  }
  function version(v) {
    const td = VB.el("td");
    td.append(VB.el("div", "value", v.value || "—"), VB.el("div", "muted", (v.date ? "en vigueur le " + new Date(v.date).toLocaleDateString("fr-FR") : "date inconnue") + (v.document ? " · " + v.document : "")));
    if (/^https?:\/\//i.test(v.source || "")) { const a = VB.el("a", "source", "source"); a.href = v.source; a.rel = "noopener noreferrer"; td.append(a); }
    return td;
  }
  async function loadDiffs() {
    const r = await fetch("/api/discrepancies", {credentials: "same-origin"});
    const j = await r.json().catch(() => ({items: []}));
    const tbody = document.querySelector("#diffs tbody");
    tbody.replaceChildren();
    for (const d of j.items) {
      const tr = VB.el("tr");
      const demand = VB.el("td");
      const dm = d.demand;
      if (dm.calls || dm.unanswered) demand.append(VB.el("span", "alert urgent", "Urgent"), " ");
      demand.append(plural(dm.calls, "appel", "appels") + " en " + j.recent_days + " jours" + (dm.unanswered ? ", " + plural(dm.unanswered, "question sans réponse", "questions sans réponse") : ""));
      tr.append(VB.el("td", "scheme", d.scheme), VB.el("td", null, d.field + " (" + d.kind_label + ")"), version(d.old), version(d.new), demand);
      tbody.append(tr);
    }
    $("diffs-empty").hidden = j.items.length > 0;
    if (!j.available) $("diffs-empty").textContent = "Base de connaissances non chargée sur ce serveur.";
    document.body.dataset.diffsLoaded = String(Date.now());
  }
  $("gaps-days").addEventListener("change", loadGaps);
  loadGaps();
  loadDiffs();
})();
