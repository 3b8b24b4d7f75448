"use strict";
(() => {
  const tbody = document.querySelector("#calls tbody"), empty = document.getElementById("empty"),
        count = document.getElementById("count"), status = document.getElementById("ws-status");
  const rows = new Map();
  function render(c) {
    let tr = rows.get(c.id);
    if (!c.live) { if (tr) { tr.remove(); rows.delete(c.id); } update(); return; }
    const fresh = !tr;
    if (fresh) { tr = VB.el("tr", "new"); tr.dataset.id = c.id; tbody.append(tr); rows.set(c.id, tr); }
    tr.dataset.started = c.started_at;
    const alerts = VB.el("td"); VB.alertBadges(alerts, c.alerts);
    const link = VB.el("a", null, "Voir"); link.href = "/monitor/calls/" + encodeURIComponent(c.id);
    const dur = VB.el("td", "dur", VB.duration(Date.now() / 1000 - c.started_at));
    const cells = [VB.el("td", null, c.caller), VB.el("td", null, VB.time(c.started_at)), dur,
      VB.el("td", "state", c.state_label), VB.el("td", null, c.topic), alerts, VB.el("td", "turns", c.turns), VB.el("td")];
    cells[7].append(link);
    tr.replaceChildren(...cells);
    update();
  }
  function update() { count.textContent = rows.size; empty.hidden = rows.size > 0; }
  for (const tr of tbody.querySelectorAll("tr")) rows.set(tr.dataset.id, tr);
  VB.connect("/monitor/ws", (msg) => {
    if (msg.type === "calls") {
      const ids = new Set(msg.calls.map((c) => c.id));
      for (const [id, tr] of rows) if (!ids.has(id)) { tr.remove(); rows.delete(id); }
      msg.calls.forEach(render);
    } else if (msg.type === "call") render(msg.call);
  }, status);
  setInterval(() => { for (const tr of rows.values()) { const d = tr.querySelector(".dur"); if (d) d.textContent = VB.duration(Date.now() / 1000 - parseFloat(tr.dataset.started)); } }, 1000);
})();
