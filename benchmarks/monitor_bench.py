"""Monitor benchmark: event latency from a turn's end to its display, and the monitor's cost with N
simulated concurrent calls streaming events.

Runs the real monitor (mount() on FastAPI, uvicorn, SQLite store, recorder) in this process; N
scripted calls publish realistic events (partials, finals, bot text, turns) on the bus; one WebSocket
client per call watches its live view and one watches the list. Reports p50/p95 of turn-event ->
WebSocket receipt, the same measured in a real browser page (Chromium) for one call (--browser),
and CPU seconds per wall second of this process with and without the monitor's clients.

    PYTHONPATH=. .venv/bin/python benchmarks/monitor_bench.py --calls 50 --seconds 20 --browser
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from calls_support import PASSWORDS, ScriptedCall, monitor_app  # noqa: E402


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


async def run_calls(bus, n: int, seconds: float, turn_every: float) -> int:
    async def one(i: int) -> int:
        call = ScriptedCall(bus, f"bench-{i}", caller=f"+336{i:08d}")
        await call.start()
        deadline, turns = time.monotonic() + seconds, 0
        await asyncio.sleep(random.random() * turn_every)
        while time.monotonic() < deadline:
            await call.say("Quels sont les horaires d'ouverture du lycée Jean-Jaurès de Montreuil ?",
                           "Le lycée est ouvert de 8 h à 18 h du lundi au vendredi. Le samedi matin aussi.",
                           sources=[{"title": "Lycées"}])
            turns += 1
            await asyncio.sleep(turn_every * (0.8 + 0.4 * random.random()))
        await call.end()
        return turns

    return sum(await asyncio.gather(*(one(i) for i in range(n))))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--turn-every", type=float, default=2.0, help="seconds between turns of one call")
    ap.add_argument("--browser", action="store_true", help="also measure display latency in Chromium")
    args = ap.parse_args()

    async with monitor_app(Path(tempfile.mkdtemp())) as app:
        # baseline: the calls and the recorder, no monitor client
        t0, c0 = time.monotonic(), time.process_time()
        turns0 = await run_calls(app.bus, args.calls, args.seconds / 2, args.turn_every)
        base_cpu = (time.process_time() - c0) / (time.monotonic() - t0)

        sup = await app.login("sup")
        cookie = {"Cookie": f"vb_session={sup.cookies['vb_session']}"}
        ws_base = app.base_url.replace("http", "ws")
        lat: list[float] = []
        stop = asyncio.Event()

        async def watch(path: str, record: bool) -> None:
            async with websockets.connect(ws_base + path, additional_headers=cookie, max_size=None) as ws:
                while not stop.is_set():
                    try:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    except asyncio.TimeoutError:
                        continue
                    if record and msg.get("type") == "event" and msg["event"]["type"] == "turn":
                        lat.append(time.time() - msg["event"]["ts"])

        watchers = [asyncio.create_task(watch(f"/monitor/ws?call=bench-{i}", True)) for i in range(args.calls)]
        watchers.append(asyncio.create_task(watch("/monitor/ws", False)))
        await asyncio.sleep(0.5)

        browser_lat: list[float] = []
        pw = browser = page = None
        if args.browser:
            from playwright.async_api import async_playwright

            pw = await async_playwright().start()
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            page = await (await browser.new_context()).new_page()
            await page.goto(app.base_url + "/login")
            await page.fill("input[name=username]", "sup")
            await page.fill("input[name=password]", PASSWORDS["sup"])
            await page.click("button[type=submit]")
            await page.wait_for_url("**/monitor")

        t1, c1 = time.monotonic(), time.process_time()
        calls_task = asyncio.create_task(run_calls(app.bus, args.calls, args.seconds, args.turn_every))
        if page is not None:
            await asyncio.sleep(0.3)
            await page.goto(app.base_url + "/monitor/calls/bench-0")
        turns1 = await calls_task
        mon_cpu = (time.process_time() - c1) / (time.monotonic() - t1)
        if page is not None:
            shown = await page.evaluate("window.__vbTurnsShown || []")
            browser_lat = [s["shown"] - s["ts"] for s in shown]
            await browser.close()
            await pw.stop()
        stop.set()
        await asyncio.gather(*watchers, return_exceptions=True)
        await sup.aclose()

    def ms(x: float) -> str:
        return f"{x * 1000:.1f} ms"

    print(f"calls={args.calls} turn_every={args.turn_every}s run={args.seconds}s")
    print(f"turns without monitor clients: {turns0}; with: {turns1}")
    print(f"turn event -> WebSocket receipt ({len(lat)} turns, {args.calls + 1} clients): "
          f"p50 {ms(pct(lat, .5))}  p95 {ms(pct(lat, .95))}  max {ms(max(lat) if lat else float('nan'))}")
    if args.browser:
        print(f"turn event -> displayed in Chromium ({len(browser_lat)} turns): "
              f"p50 {ms(pct(browser_lat, .5))}  p95 {ms(pct(browser_lat, .95))}")
    print(f"CPU of this process (calls + recorder + store + monitor): {base_cpu:.3f} s/s without clients, "
          f"{mon_cpu:.3f} s/s with {args.calls + 1} WebSocket clients -> monitor cost {mon_cpu - base_cpu:+.3f} s/s")
    print(f"mean per-turn latency: {statistics.mean(lat) * 1000:.1f} ms" if lat else "")


if __name__ == "__main__":
    asyncio.run(main())
