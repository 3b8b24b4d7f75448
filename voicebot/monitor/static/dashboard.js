// Dashboard: fetches /api/stats for the chosen period and draws the figures and charts (Chart.js, served locally).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const fmtInt = new Intl.NumberFormat("fr-FR");
  const pct = (r) => (r === null || r === undefined) ? "—" : (Math.round(r * 1000) / 10).toLocaleString("fr-FR") + " %";
  const secs = (s) => (s === null || s === undefined) ? "—" : VB.duration(s);
  const ms = (v) => (v === null || v === undefined) ? "—" : (v >= 1000 ? (v / 1000).toLocaleString("fr-FR", {maximumFractionDigits: 1}) + " s" : Math.round(v) + " ms");
  const charts = {};
  window.__vbStats = null;

  function kpi(id, value, sub) {
    const box = $(id);
    box.querySelector(".kpi-value").textContent = value;
    box.querySelector(".kpi-sub").textContent = sub || "";
  }
  function query() {
    const p = new URLSearchParams();
    const from = $("from").value, to = $("to").value;
    if (from) p.set("from", from);
    if (to) { const d = new Date(to + "T00:00:00"); d.setDate(d.getDate() + 1); p.set("to", String(d.getTime() / 1000)); }
    p.set("group", $("group").value);
    return p.toString();
  }
  function bucketLabel(ts, group) {
    const d = new Date(ts * 1000);
    return group === "day" ? d.toLocaleDateString("fr-FR", {day: "2-digit", month: "2-digit"})
      : d.toLocaleString("fr-FR", {day: "2-digit", month: "2-digit", hour: "2-digit"}).replace(" ", " ") + " h";
  }
  function fillTable(id, rows) {
    const tbody = document.querySelector("#" + id + " tbody");
    tbody.replaceChildren();
    if (!rows.length) { const tr = VB.el("tr"); const td = VB.el("td", "muted", "Aucune donnée sur la période."); td.colSpan = 3; tr.append(td); tbody.append(tr); return; }
    for (const cells of rows) { const tr = VB.el("tr"); for (const c of cells) tr.append(VB.el("td", null, c)); tbody.append(tr); }
  }
  function chart(id, type, labels, datasets, yOpts) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart($(id), {type, data: {labels, datasets},
      options: {responsive: true, maintainAspectRatio: false, animation: false, interaction: {mode: "index", intersect: false},
        scales: {x: {stacked: type === "bar"}, y: Object.assign({beginAtZero: true, stacked: type === "bar"}, yOpts || {})},
        plugins: {legend: {position: "bottom"}}}});
  }
  function render(d) {
    const other = d.received - d.contained - d.transferred - d.abandoned;
    kpi("kpi-received", fmtInt.format(d.received), d.received - d.ended > 0 ? fmtInt.format(d.received - d.ended) + " en cours" : "");
    kpi("kpi-contained", fmtInt.format(d.contained), pct(d.containment_rate) + " des appels");
    kpi("kpi-transferred", fmtInt.format(d.transferred), pct(d.transfer_rate) + " des appels");
    kpi("kpi-abandoned", fmtInt.format(d.abandoned), d.interrupted ? fmtInt.format(d.interrupted) + " coupés par une panne" : "");
    kpi("kpi-refused", fmtInt.format(d.refused_capacity), "");
    kpi("kpi-handle", secs(d.handle_time_s.avg), "en moyenne · 95 % des appels en moins de " + secs(d.handle_time_s.p95));
    kpi("kpi-latency", ms(d.latency_ms.p50), "médiane · 95 % des réponses en moins de " + ms(d.latency_ms.p95));
    const labels = d.series.map((p) => bucketLabel(p.start, d.group));
    chart("chart-calls", "bar", labels, [
      {label: "Traités par le bot seul", data: d.series.map((p) => p.contained), backgroundColor: "#18753c"},
      {label: "Transférés", data: d.series.map((p) => p.transferred), backgroundColor: "#000091"},
      {label: "Abandonnés", data: d.series.map((p) => p.abandoned), backgroundColor: "#b34000"},
      {label: "Autres (en cours, coupés)", data: d.series.map((p) => p.received - p.contained - p.transferred - p.abandoned), backgroundColor: "#929292"},
      {label: "Refusés (saturation)", data: d.series.map((p) => p.refused_capacity), backgroundColor: "#ce0500"}]);
    chart("chart-rates", "line", labels, [
      {label: "Traités par le bot seul", data: d.series.map((p) => p.containment_rate === null ? null : p.containment_rate * 100), borderColor: "#18753c", backgroundColor: "#18753c"},
      {label: "Transférés", data: d.series.map((p) => p.transfer_rate === null ? null : p.transfer_rate * 100), borderColor: "#000091", backgroundColor: "#000091"}],
      {max: 100});
    chart("chart-latency", "line", labels, [
      {label: "Médiane", data: d.series.map((p) => p.latency_p50_ms), borderColor: "#000091", backgroundColor: "#000091"},
      {label: "95 % des réponses en moins de", data: d.series.map((p) => p.latency_p95_ms), borderColor: "#ce0500", backgroundColor: "#ce0500"}]);
    const paths = Object.entries(d.answers_by_path).sort((a, b) => b[1] - a[1]);
    const nAnswers = paths.reduce((s, [, n]) => s + n, 0);
    fillTable("paths", paths.map(([k, n]) => [d.labels.paths[k] || k, fmtInt.format(n), pct(nAnswers ? n / nAnswers : null)]));
    fillTable("transfers", d.transfers.map((t) => [d.labels.transfer_reasons[t.reason] || t.reason || "—", t.queue || "—", fmtInt.format(t.calls)]));
    fillTable("schemes", d.top_schemes.map((s) => [s.scheme, fmtInt.format(s.calls), fmtInt.format(s.questions)]));
    $("period-label").textContent = "du " + VB.time(d.from) + " au " + VB.time(d.to);
    if (other < 0) console.warn("inconsistent totals", d);
  }
  async function load() {
    const q = query();
    $("csv").href = "/api/stats.csv?" + q;
    const r = await fetch("/api/stats?" + q, {credentials: "same-origin"});
    const j = await r.json().catch(() => ({}));
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
    $("stats-error").hidden = r.ok;
    if (!r.ok) { $("stats-error").textContent = j.detail || ("Erreur " + r.status); return; }
    window.__vbStats = j;
    render(j);
    document.body.dataset.statsLoaded = String(Date.now());
  }
  $("period").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
})();
