"""Voice-to-voice latency: voicebot against a stock pipecat pipeline, side by side in one run.

Run: ``voicebot bench latency [--quick] [--calls N] [--json] [--ablation] [--out DIR]``.

Like for like, voicebot runs with ``llm.grounded = false`` (the LLM alone, as in the stock pipeline);
the product's grounded path is measured too (``grounded`` in the results) but not used for the ratio.
Both systems get real WebSocket calls that play the same French clips as 8 kHz telephone audio, turn by
turn and interleaved (ours, reference, ours, …) so that machine noise falls on both. Latency is measured
at the wire on the caller's side: end of caller speech in the sent audio → first non-silent bot audio
received. voicebot's own per-stage timestamps (turn records) give the stage breakdown. Same models on
both sides: the same Whisper directory, the same llama.cpp server, the same Piper voice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voicebot.config import Settings
from benchmarks.harness import CLIPS, REPO, ServerProcess, free_port
from voicebot.models import resolve
from voicebot.pipeline.call_state import LATENCY_MARKS
from voicebot.telephony.caller import Caller

# Question-like clips first (speech-to-phrase commands and questions), then read sentences.
CLIP_ORDER = [f"{i:03d}.wav" for i in range(12, 37)] + [f"{i:03d}.wav" for i in range(1, 12)]
STAGES = [  # (name, from mark, to mark)
    ("end_of_turn", "speech_end", "turn_end"),
    ("stt", "turn_end", "stt_final"),
    ("llm_first_token", "stt_final", "llm_first_token"),
    ("first_sentence", "llm_first_token", "tts_first_sentence"),
    ("tts_first_audio", "tts_first_sentence", "tts_first_audio"),
    ("transport", "tts_first_audio", "bot_audio_first"),
]
ABLATIONS = [  # (label, env that turns one optimisation off; the first row is the product's grounded path)
    ("grounded answers on (product default; clips are mostly out of scope)", {"VOICEBOT_LLM__GROUNDED": "true"}),
    ("speculative STT off", {"VOICEBOT_PIPELINE__SPECULATIVE_STT": "false"}),
    ("first clause off", {"VOICEBOT_PIPELINE__FIRST_CLAUSE": "false"}),
    ("prompt cache off", {"VOICEBOT_LLM__PROMPT_CACHE": "false"}),
    ("end of turn: VAD stop 0.8 s", {"VOICEBOT_PIPELINE__VAD_STOP_S": "0.8"}),
    ("Smart Turn off (silence only)", {"VOICEBOT_PIPELINE__SMART_TURN": "false"}),
]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.array(values, dtype=float), q)), 1)


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": pct(values, 50), "p90_ms": pct(values, 90), "p95_ms": pct(values, 95),
            "p99_ms": pct(values, 99), "mean_ms": round(statistics.mean(values), 1) if values else None}


@dataclass
class TurnSample:
    system: str
    call: int
    clip: str
    wire_ms: float | None
    server_ms: dict = field(default_factory=dict)
    caller_text: str = ""
    bot_text: str = ""


async def place(system: str, url: str, clips: list[str], call_no: int, timeout: float = 45.0) -> list[TurnSample]:
    caller = Caller(url, [CLIPS / c for c in clips], answer_timeout_s=timeout)
    try:
        result = await caller.run()
    except Exception as e:  # a failed call is a data point, not a crash of the benchmark
        print(f"  {system} call {call_no} failed: {e}", file=sys.stderr)
        return [TurnSample(system, call_no, c, None) for c in clips]
    out = []
    for t, c in zip(result.turns, clips, strict=False):  # a call cut short has fewer turns
        out.append(TurnSample(system, call_no, c, t.wire_latency_ms, t.latency_ms, t.caller_text, t.bot_text))
    return out


def stage_breakdown(samples: list[TurnSample]) -> dict:
    rows = {}
    for name, a, b in STAGES:
        vals = [s.server_ms[b] - s.server_ms[a] for s in samples if a in s.server_ms and b in s.server_ms]
        rows[name] = summary(vals)
    vals = [s.wire_ms - s.server_ms["bot_audio_first"] for s in samples
            if s.wire_ms is not None and "bot_audio_first" in s.server_ms]
    rows["wire_and_client"] = summary(vals)
    return rows


@dataclass
class Bench:
    settings: Settings
    quick: bool
    calls: int
    out_dir: Path
    ablation: bool
    levels: list[int] | None = None
    skip_reference: bool = False
    config: str | None = None
    sip: bool = False
    overrides: dict = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def say(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def ours_env(self, llm_port: int, extra: dict | None = None) -> dict:
        env = {"VOICEBOT_LLM__EMBEDDED_PORT": str(llm_port),
               # like for like: the reference has no knowledge base, so ours answers with the LLM alone too
               "VOICEBOT_LLM__GROUNDED": "false",
               # same TTS model as the reference: the offline Piper voice (see README: models)
               "VOICEBOT_TTS__ENGINE": "piper", "VOICEBOT_SIP__ENABLED": "false",
               "VOICEBOT_PIPELINE__SILENCE_TIMEOUT_S": "60"}
        env.update(self.overrides)
        env.update(extra or {})
        return env

    def start_ours(self, llm_port: int, extra: dict | None = None, tag: str = "ours") -> ServerProcess:
        srv = ServerProcess(self.settings.server.data_dir / "bench" / tag, env=self.ours_env(llm_port, extra))
        if self.config:
            srv.command = [sys.executable, "-m", "voicebot", "serve", "--config", self.config,
                           "--http-port", str(srv.port), "--data-dir", str(srv.data_dir)]
        return srv.start(timeout=600)

    def start_reference(self, llm_port: int) -> ServerProcess:
        s = self.settings
        whisper = resolve("stt", s).path
        voice = resolve("tts", s.model_copy(update={"tts": s.tts.model_copy(update={"engine": "piper"})})).path
        port = free_port()
        cmd = [sys.executable, "-m", "benchmarks.reference.stock_server", "--port", str(port),
               "--llm-base-url", f"http://127.0.0.1:{llm_port}/v1", "--whisper-model", str(whisper),
               "--piper-voice", str(voice)]
        return ServerProcess(s.server.data_dir / "bench" / "reference", port=port, command=cmd).start()

    async def side_by_side(self, ours: ServerProcess, ref: ServerProcess) -> list[TurnSample]:
        turns_per_call = 2 if self.quick else 3
        samples: list[TurnSample] = []
        for i in range(self.calls):
            clips = [CLIP_ORDER[(i * turns_per_call + k) % len(CLIP_ORDER)] for k in range(turns_per_call)]
            first, second = (("ours", ours), ("reference", ref)) if i % 2 == 0 else (("reference", ref), ("ours", ours))
            for name, srv in (first, second):
                if srv is None:
                    continue
                got = await place(name, srv.ws_pcm, clips, i)
                samples += got
                self.say(f"  call {i + 1}/{self.calls} {name:9s} " + " ".join(
                    f"{s.wire_ms:.0f}" if s.wire_ms is not None else "-" for s in got))
        return samples

    async def concurrency(self, ours: ServerProcess, levels: list[int]) -> dict:
        out = {}
        for level in levels:
            jobs = [place("ours", ours.ws_pcm, [CLIP_ORDER[(level + j * 2 + k) % len(CLIP_ORDER)] for k in range(2)],
                          j, timeout=90) for j in range(level)]
            samples = [s for group in await asyncio.gather(*jobs) for s in group]
            vals = [s.wire_ms for s in samples if s.wire_ms is not None]
            out[level] = {**summary(vals), "answered": len(vals), "turns": len(samples)}
            self.say(f"  {level:2d} concurrent calls: p50 {out[level]['p50_ms']} ms, p95 {out[level]['p95_ms']} ms "
                     f"({len(vals)}/{len(samples)} answered)")
        single = out[levels[0]]["p95_ms"] or 0
        ok = [lv for lv in levels if out[lv]["p95_ms"] is not None and out[lv]["p95_ms"] <= 2 * single
              and out[lv]["answered"] == out[lv]["turns"]]
        return {"levels": out, "max_level_p95_within_2x_single": max(ok) if ok else None}

    async def sip_vs_websocket(self, llm_port: int) -> dict:
        """The same clips over SIP/RTP (G.711) and over WebSocket, against one voicebot worker."""
        from voicebot.telephony.sip.caller import sip_call

        sip_port = free_port()
        srv = self.start_ours(llm_port, {"VOICEBOT_SIP__ENABLED": "true", "VOICEBOT_SIP__PORT": str(sip_port),
                                         "VOICEBOT_SIP__RTP_PORT_MIN": "42000", "VOICEBOT_SIP__RTP_PORT_MAX": "42999"},
                              tag="sip")
        setup, sip_wire, ws_wire = [], [], []
        try:
            for i in range(2 if self.quick else 4):
                clips = [CLIP_ORDER[(i * 2 + k) % len(CLIP_ORDER)] for k in range(2)]
                got = await sip_call("127.0.0.1", sip_port, [CLIPS / c for c in clips])
                if got.setup_ms is not None:
                    setup.append(got.setup_ms)
                sip_wire += [v for v in got.wire_latency_ms if v is not None]
                ws_wire += [s.wire_ms for s in await place("ours", srv.ws_pcm, clips, i) if s.wire_ms is not None]
                self.say(f"  call {i + 1}: SIP {got.wire_latency_ms} (set-up {got.setup_ms} ms), WebSocket {ws_wire[-2:]}")
        finally:
            srv.stop()
        return {"sip_setup": summary(setup), "sip": summary(sip_wire), "websocket": summary(ws_wire)}

    async def ablations(self, llm_port: int, baseline: list[float]) -> list[dict]:
        rows = [{"change": "all optimisations on (LLM alone, as in the side-by-side)", **summary(baseline)}]
        for label, env in ABLATIONS:
            srv = self.start_ours(llm_port, env, tag="ablation")
            try:
                samples = []
                for i in range(2 if self.quick else 3):
                    clips = [CLIP_ORDER[(i * 3 + k) % len(CLIP_ORDER)] for k in range(3)]
                    samples += await place("ours", srv.ws_pcm, clips, i)
            finally:
                srv.stop()
            vals = [s.wire_ms for s in samples if s.wire_ms is not None]
            rows.append({"change": label, **summary(vals)})
            self.say(f"  ablation {label}: p50 {rows[-1]['p50_ms']} p95 {rows[-1]['p95_ms']}")
        return rows

    async def run(self) -> dict:
        llm_port = free_port()
        started = time.time()
        self.say("starting voicebot and the stock pipecat reference (same models)…")
        ours = self.start_ours(llm_port)
        ref = None if self.skip_reference else self.start_reference(llm_port)
        try:
            self.say(f"side by side: {self.calls} calls each")
            samples = await self.side_by_side(ours, ref)
            if ref is not None:
                ref.stop()
            self.say("concurrency sweep (voicebot)")
            levels = self.levels or ([1, 2] if self.quick else [1, 2, 4, 8, 16])
            conc = await self.concurrency(ours, levels)
        finally:
            if ref is not None:
                ref.stop()
            ours.stop()
        mine = [s for s in samples if s.system == "ours"]
        theirs = [s for s in samples if s.system == "reference"]
        ours_v = [s.wire_ms for s in mine if s.wire_ms is not None]
        ref_v = [s.wire_ms for s in theirs if s.wire_ms is not None]
        result = {
            "ours": summary(ours_v),
            "reference": summary(ref_v),
            "ratio_p50": round(pct(ours_v, 50) / pct(ref_v, 50), 3) if ours_v and ref_v else None,
            "ratio_p95": round(pct(ours_v, 95) / pct(ref_v, 95), 3) if ours_v and ref_v else None,
            "turns": min(len(mine), len(theirs)),
            "turns_detail": {"ours": len(mine), "reference": len(theirs), "ours_answered": len(ours_v),
                             "reference_answered": len(ref_v)},
            "stages_ours": stage_breakdown(mine),
            "server_bot_audio_first_ours": summary([s.server_ms["bot_audio_first"] for s in mine
                                                    if "bot_audio_first" in s.server_ms]),
            "concurrency": conc,
            "machine": machine(),
            "mode": "quick" if self.quick else "full",
            "duration_s": None,
            "samples": [s.__dict__ for s in samples],
        }
        write_results(result, self.out_dir)  # what is measured so far survives a later failure
        if self.sip:
            self.say("SIP vs WebSocket (voicebot, same clips)")
            try:
                result["sip"] = await self.sip_vs_websocket(llm_port)
            except Exception as e:  # report, keep the rest of the run
                self.say(f"  SIP comparison failed: {type(e).__name__}: {e}")
        if self.ablation:
            self.say("ablation (each optimisation off in turn)")
            result["ablation"] = await self.ablations(llm_port, ours_v)
        result["duration_s"] = round(time.time() - started, 1)
        write_results(result, self.out_dir)
        return result


def machine() -> dict:
    return {"host": platform.node(), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version()}


def markdown(r: dict) -> str:
    def row(name, s):
        return f"| {name} | {s['n']} | {s['p50_ms']} | {s['p90_ms']} | {s['p95_ms']} | {s['p99_ms']} |"

    lines = [f"# Voice-to-voice latency ({r['mode']}, {r['machine']['cores']} cores)", "",
             "Caller side, at the wire: end of caller speech → first non-silent bot audio (ms).", "",
             "| system | turns | p50 | p90 | p95 | p99 |", "| --- | --- | --- | --- | --- | --- |",
             row("voicebot", r["ours"]), *([row("stock pipecat (same models)", r["reference"])]
                                            if r["reference"]["n"] else []), "",
             f"Ratio voicebot / reference: p50 **{r['ratio_p50']}**, p95 **{r['ratio_p95']}**.", "",
             "## voicebot per-stage breakdown (server timestamps, ms)", "",
             "| stage | n | p50 | p90 | p95 | p99 |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [row(k, v) for k, v in r["stages_ours"].items()]
    lines += ["", "## voicebot latency fields (server, ms from caller speech end)", "",
              "| field | n | p50 | p90 | p95 | p99 |", "| --- | --- | --- | --- | --- | --- |"]
    for mark in LATENCY_MARKS[1:]:
        vals = [s["server_ms"][mark] for s in r["samples"] if s["system"] == "ours" and mark in s["server_ms"]]
        lines.append(row(mark, summary(vals)))
    lines += ["", "## Concurrency (voicebot)", "", "| calls | turns answered | p50 | p95 |", "| --- | --- | --- | --- |"]
    for lv, s in r["concurrency"]["levels"].items():
        lines.append(f"| {lv} | {s['answered']}/{s['turns']} | {s['p50_ms']} | {s['p95_ms']} |")
    lines += ["", f"Largest level whose p95 stays under twice the single-call p95: "
                  f"{r['concurrency']['max_level_p95_within_2x_single']}"]
    if r.get("sip"):
        lines += ["", "## SIP vs WebSocket (voicebot, same clips, caller side)", "",
                  "| path | n | p50 | p90 | p95 | p99 |", "| --- | --- | --- | --- | --- | --- |",
                  row("SIP call set-up (INVITE → 200 OK)", r["sip"]["sip_setup"]),
                  row("voice-to-voice over SIP/RTP (G.711 μ-law)", r["sip"]["sip"]),
                  row("voice-to-voice over WebSocket", r["sip"]["websocket"])]
    if r.get("ablation"):
        lines += ["", "## Ablation (one optimisation off at a time)", "", "| change | turns | p50 | p95 |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {a['change']} | {a['n']} | {a['p50_ms']} | {a['p95_ms']} |" for a in r["ablation"]]
    return "\n".join(lines) + "\n"


def write_results(r: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latency.json").write_text(json.dumps(r, indent=2, ensure_ascii=False))
    (out_dir / "latency.md").write_text(markdown(r))
    plots(r, out_dir)


def plots(r: dict, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for system, label in (("ours", "voicebot"), ("reference", "stock pipecat")):
        v = sorted(s["wire_ms"] for s in r["samples"] if s["system"] == system and s["wire_ms"] is not None)
        if v:
            ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=f"{label} (n={len(v)})")
    ax.set_xlabel("voice-to-voice latency (ms)")
    ax.set_ylabel("fraction of turns")
    ax.set_title("Latency CDF, caller side")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "latency_cdf.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(r["stages_ours"])
    p50 = [r["stages_ours"][n]["p50_ms"] or 0 for n in names]
    p95 = [r["stages_ours"][n]["p95_ms"] or 0 for n in names]
    x = np.arange(len(names))
    ax.bar(x - 0.2, p50, 0.4, label="p50")
    ax.bar(x + 0.2, p95, 0.4, label="p95")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("ms")
    ax.set_title("voicebot: time per stage of a turn")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "stages.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    levels = r["concurrency"]["levels"]
    xs = [int(k) for k in levels]
    ax.plot(xs, [levels[k]["p50_ms"] for k in levels], marker="o", label="p50")
    ax.plot(xs, [levels[k]["p95_ms"] for k in levels], marker="o", label="p95")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent calls")
    ax.set_ylabel("voice-to-voice latency (ms)")
    ax.set_title("voicebot concurrency sweep")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "concurrency.png", dpi=110)
    plt.close(fig)


def default_out_dir(quick: bool) -> Path:
    name = f"{dt.date.today().isoformat()}-{platform.node() or 'machine'}-{os.cpu_count()}cpu" + ("-quick" if quick else "")
    return REPO / "benchmarks" / "results" / name


def run(settings: Settings, *, quick: bool, calls: int | None, as_json: bool, ablation: bool,
        out: str | None, levels: list[int] | None = None, skip_reference: bool = False,
        config: str | None = None, sip: bool = False, overrides: dict | None = None) -> int:
    calls = calls or (2 if quick else 10)
    out_dir = Path(out) if out else default_out_dir(quick)
    result = asyncio.run(Bench(settings, quick, calls, out_dir, ablation, levels, skip_reference, config, sip,
                                   overrides or {}).run())
    if as_json:
        keys = ("ours", "reference", "ratio_p50", "ratio_p95", "turns")
        print(json.dumps({k: result[k] for k in keys}, ensure_ascii=False))
    else:
        print(markdown(result))
        print(f"results: {out_dir}")
    return 0


if __name__ == "__main__":  # re-render Markdown and plots from a results JSON
    import argparse

    ap = argparse.ArgumentParser(description="re-render latency.md and the plots from latency.json")
    ap.add_argument("json_path")
    a = ap.parse_args()
    path = Path(a.json_path)
    write_results(json.loads(path.read_text()), path.parent)
