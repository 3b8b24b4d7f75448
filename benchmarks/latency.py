"""Voice-to-voice latency: voicebot against a stock pipecat pipeline, side by side in one run.

Run: ``voicebot bench latency [--quick] [--calls N] [--json] [--ablation] [--out DIR]``.

Like for like, voicebot runs with ``llm.grounded = false`` (the LLM alone, as in the stock pipeline);
the product's grounded path is measured too (``grounded`` in the results) but not used for the ratio.
Both systems get real WebSocket calls that play the same French clips as 8 kHz telephone audio, call by
call and interleaved (ours, reference, reference, ours, …) so that machine noise falls on both. Latency is
measured at the wire on the caller's side: end of caller speech → first non-silent bot audio received; the
end of speech is the clip's known one (Silero VAD run offline on the source WAV, ``benchmarks.speech_end``),
not a live energy threshold. voicebot's own per-stage timestamps (turn records) give the stage breakdown.

Like for like: the same models (Whisper directory, llama.cpp server, Piper voice) and the same Whisper
settings on both sides (compute type, beam size, one temperature, no timestamps, no Whisper VAD: recorded
under ``config``); both servers keep their models warm and get warm-up calls before measuring; both play
the same planned turns, and a turn one side does not answer is a failure of that side, never skipped
(``benchmarks.turn_pairing``). Turns answered with a canned phrase (transfer, no answer) are reported apart.
The machine's load average is recorded before and after: on a shared machine the figures are noisy.
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

from benchmarks.speech_end import SpeechEndCache
from benchmarks.turn_pairing import canned_phrases, pair_turns
from voicebot.config import Settings
from voicebot.llm.server import EmbeddedLlamaServer
from benchmarks.harness import CLIPS, REPO, ServerProcess, free_port
from voicebot.models import resolve
from voicebot.pipeline.call_state import LATENCY_MARKS
from voicebot.telephony.caller import Caller

# Question-like clips first (speech-to-phrase commands and questions), then read sentences; the 30 turns of a
# full run are the first 30. Clips that lead to a transfer (001 says "conseiller"; Whisper base hears it in
# 011) come last: a transfer ends the call, and the call's later turns would fail on one side only.
CLIP_ORDER = ([f"{i:03d}.wav" for i in range(12, 37)] + ["002.wav", "003.wav", "004.wav", "005.wav", "007.wav",
              "006.wav", "008.wav", "009.wav", "010.wav", "001.wav", "011.wav"])
WARM_UP = ["013.wav", "024.wav"]  # short questions; the warm-up is not measured
STAGES = [  # (name, from mark, to mark)
    ("end_of_turn", "speech_end", "turn_end"),
    ("stt", "turn_end", "stt_final"),
    ("retrieval", "stt_final", "retrieval"),
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
    position: int = 0
    answered: bool = False
    speech_end_s: float | None = None


SPEECH_ENDS: dict[str, float] = {}  # clip path -> known speech end (s), filled once per run


def load_speech_ends_dir(cache: SpeechEndCache, clip_dir: Path, clips: list[str]) -> dict[str, float]:
    """Known speech ends of ``clips`` (offline Silero VAD, cached), for every Caller of this run."""
    SPEECH_ENDS.update(cache.ends([clip_dir / c for c in clips]))
    return SPEECH_ENDS


async def place(system: str, url: str, clips: list[str], call_no: int, timeout: float = 45.0,
                clip_dir: Path = CLIPS) -> list[TurnSample]:
    """One call playing ``clips``; one sample per planned turn, answered or not (never dropped)."""
    caller = Caller(url, [clip_dir / c for c in clips], answer_timeout_s=timeout, speech_ends=SPEECH_ENDS)
    try:
        result = await caller.run()
    except Exception as e:  # a failed call is a data point (every turn a failure), not a crash of the benchmark
        print(f"  {system} call {call_no} failed: {e}", file=sys.stderr)
        return [TurnSample(system, call_no, c, None, position=k) for k, c in enumerate(clips)]
    out = []
    for k, c in enumerate(clips):
        t = result.turns[k] if k < len(result.turns) else None
        if t is None:
            out.append(TurnSample(system, call_no, c, None, position=k))
            continue
        out.append(TurnSample(system, call_no, c, t.wire_latency_ms if t.answered else None, t.latency_ms,
                              t.caller_text, t.bot_text, position=k, answered=t.answered,
                              speech_end_s=SPEECH_ENDS.get(str(clip_dir / c))))
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
    product_section: bool = True
    log: list[str] = field(default_factory=list)
    llm_ports: list[int] = field(default_factory=list)  # the LLM servers llm_idle drains
    ref_llm: EmbeddedLlamaServer | None = None  # the reference's own llama.cpp server

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

    def whisper_config(self) -> dict:
        """The Whisper settings both sides run with (recorded in latency.json under config)."""
        from voicebot.stt.whisper import DECODE_OPTIONS

        s = self.settings.model_copy(update={"stt": self.settings.stt.model_copy(update={
            k.split("__")[-1].lower(): v for k, v in self.overrides.items() if k.startswith("VOICEBOT_STT__")})})
        return {"whisper_model": str(resolve("stt", s).path), "whisper_compute_type": s.stt.compute_type,
                "whisper_beam_size": s.stt.beam_size, "whisper_temperature": DECODE_OPTIONS["temperature"],
                "whisper_temperature_fallback": False, "whisper_timestamps": not DECODE_OPTIONS["without_timestamps"],
                "whisper_vad_filter": DECODE_OPTIONS["vad_filter"], "whisper_device": "cpu",
                "whisper_encoder_window": s.stt.encoder_window if s.stt.encoder_window == "full"
                else f"speech (turn + 0.5 s, at least {s.stt.encoder_min_s:g} s; turns under "
                f"{s.stt.encoder_full_below_s:g} s and a looped decode on 30 s)"}

    def llm_config(self) -> dict:
        """The LLM sampling both sides run with (the reference is told ours; recorded under config)."""
        llm = self.settings.llm
        return {"llm_max_tokens": int(self.overrides.get("VOICEBOT_LLM__MAX_TOKENS", llm.max_tokens)),
                "llm_temperature": float(self.overrides.get("VOICEBOT_LLM__TEMPERATURE", llm.temperature))}

    async def llm_idle(self) -> None:
        """Return once every LLM server of the run has finished all earlier requests.

        The embedded llama.cpp server answers one request at a time, to its end: a one-token request
        completes only after the ones queued before it. So no call starts while the previous call's
        last answer (of either side) is still being generated on the same 2 cores.
        """
        import httpx

        body = {"model": "embedded", "max_tokens": 1, "messages": [{"role": "user", "content": "."}]}
        async with httpx.AsyncClient(timeout=120) as client:
            for port in self.llm_ports:
                r = await client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body)
                r.raise_for_status()

    def start_reference(self) -> ServerProcess:
        """The stock pipecat reference, with its own llama.cpp server of the same model and settings.

        Its own, run with llama-cpp-python's defaults as a stock set-up would: the stock pipeline leaves
        an abandoned answer's stream open after a hang-up, which on ours (one request at a time, never
        cut) would hold the server for every later call.
        """
        s = self.settings
        wc = self.whisper_config()
        lc = self.llm_config()
        self.ref_llm = EmbeddedLlamaServer(resolve("llm", s).local_path, n_ctx=s.llm.embedded_ctx,
                                           n_threads=s.llm.embedded_threads, prompt_cache=s.llm.prompt_cache,
                                           cache_mb=s.llm.embedded_cache_mb,
                                           interrupt_requests=True,
                                           log_file=s.server.data_dir / "bench" / "reference-llama.log").start()
        self.llm_ports.append(self.ref_llm.port)
        llm_port = self.ref_llm.port
        voice = resolve("tts", s.model_copy(update={"tts": s.tts.model_copy(update={"engine": "piper"})})).path
        port = free_port()
        cmd = [sys.executable, "-m", "benchmarks.reference.stock_server", "--port", str(port),
               "--llm-base-url", f"http://127.0.0.1:{llm_port}/v1", "--whisper-model", wc["whisper_model"],
               "--whisper-compute-type", wc["whisper_compute_type"], "--whisper-beam-size",
               str(wc["whisper_beam_size"]), "--whisper-decoding", "voicebot", "--piper-voice", str(voice),
               "--llm-max-tokens", str(lc["llm_max_tokens"]), "--llm-temperature", str(lc["llm_temperature"])]
        return ServerProcess(s.server.data_dir / "bench" / "reference", port=port, command=cmd).start()

    def plan(self) -> list[tuple[int, int, str]]:
        """The turns both systems play: (call, position, clip), the same list for each side."""
        per_call = 2 if self.quick else 3
        return [(i, k, CLIP_ORDER[(i * per_call + k) % len(CLIP_ORDER)]) for i in range(self.calls)
                for k in range(per_call)]

    def stop_reference(self, ref: ServerProcess | None) -> None:
        if ref is not None:
            ref.stop()
        if self.ref_llm is not None:
            self.ref_llm.stop()
            self.llm_ports.remove(self.ref_llm.port)
            self.ref_llm = None

    async def warm_up(self, servers: list[tuple[str, ServerProcess]]) -> None:
        """One short call per system before measuring, so neither pays a first-call cost in the figures."""
        for name, srv in servers:
            await self.llm_idle()
            got = await place(name, srv.ws_pcm, WARM_UP, -1)
            self.say(f"  warm-up {name:9s} " + " ".join(f"{s.wire_ms:.0f}" if s.wire_ms else "-" for s in got))

    async def side_by_side(self, ours: ServerProcess, ref: ServerProcess | None) -> list[TurnSample]:
        planned = self.plan()
        samples: list[TurnSample] = []
        for i in range(self.calls):
            clips = [c for call, _k, c in planned if call == i]
            first, second = (("ours", ours), ("reference", ref)) if i % 2 == 0 else (("reference", ref), ("ours", ours))
            for name, srv in (first, second):
                if srv is None:
                    continue
                await self.llm_idle()
                got = await place(name, srv.ws_pcm, clips, i)
                samples += got
                self.say(f"  call {i + 1}/{self.calls} {name:9s} " + " ".join(
                    f"{s.wire_ms:.0f}" if s.wire_ms is not None else "-" for s in got))
            self.out_dir.mkdir(parents=True, exist_ok=True)  # progress survives an interrupted run
            (self.out_dir / "side_by_side.partial.json").write_text(
                json.dumps([s.__dict__ for s in samples], ensure_ascii=False))
        return samples

    async def concurrency(self, ours: ServerProcess, levels: list[int], clips: list[str] | None = None,
                          clip_dir: Path = CLIPS, label: str = "") -> dict:
        """N simultaneous calls; each level plays >= 10 turns in all (the single call: 10 turns in a row).

        The calls start together, so their turns fall at the same moments: the worst case for a worker.
        """
        clips = clips or CLIP_ORDER
        out = {}
        for level in levels:
            per_call = max(2 if self.quick else 3, -(-(4 if self.quick else 10) // level))
            jobs = [place("ours", ours.ws_pcm, [clips[(level * 5 + j * per_call + k) % len(clips)]
                                                for k in range(per_call)], j, timeout=90, clip_dir=clip_dir)
                    for j in range(level)]
            samples = [s for group in await asyncio.gather(*jobs) for s in group]
            vals = [s.wire_ms for s in samples if s.wire_ms is not None]
            out[level] = {**summary(vals), "answered": len(vals), "turns": len(samples),
                          "samples": [{"call": s.call, "clip": s.clip, "position": s.position, "wire_ms": s.wire_ms,
                                       "answered": s.answered, "server_ms": s.server_ms, "caller": s.caller_text,
                                       "bot": (s.bot_text or "")[:160]} for s in samples]}
            self.say(f"  {label}{level:2d} concurrent calls: p50 {out[level]['p50_ms']} ms, p95 {out[level]['p95_ms']} ms "
                     f"({len(vals)}/{len(samples)} answered)")
        single = out[levels[0]]["p95_ms"] or 0
        ok = [lv for lv in levels if out[lv]["p95_ms"] is not None and out[lv]["p95_ms"] <= 2 * single
              and out[lv]["answered"] == out[lv]["turns"]]
        return {"levels": out, "single_call_turns": out[levels[0]]["turns"],
                "max_level_p95_within_2x_single": max(ok) if ok else None}

    async def product(self, llm_port: int) -> dict:
        """The shipped path (grounded answers, default voice) on in-scope spoken questions."""
        from benchmarks.product_questions import QUESTIONS, spoken_questions

        qdir = self.settings.server.data_dir / "bench" / "questions"
        made = spoken_questions(qdir)
        load_speech_ends_dir(SpeechEndCache(self.settings.server.data_dir / "bench" / "speech_end.json"),
                             qdir, [m["file"] for m in made])
        env = {"VOICEBOT_LLM__GROUNDED": "true", "VOICEBOT_TTS__ENGINE": self.settings.tts.engine}
        srv = self.start_ours(llm_port, env, tag="product")
        samples: list[TurnSample] = []
        try:
            await place("product", srv.ws_pcm, [made[0]["file"]], -1, clip_dir=qdir)  # warm-up
            files = [m["file"] for m in made]
            for i in range(0, len(files), 3):
                samples += await place("product", srv.ws_pcm, files[i:i + 3], i // 3, clip_dir=qdir, timeout=60)
                self.say("  product " + " ".join(f"{s.wire_ms:.0f}" if s.wire_ms else "-" for s in samples[-3:]))
            # The shipped path under load, on the same in-scope questions (not the ungrounded LLM of the sweep
            # above, whose embedded llama.cpp server answers one request at a time, to its end).
            conc = await self.concurrency(srv, self.levels or ([1, 2] if self.quick else [1, 2, 4]),
                                          [m["file"] for m in made], qdir, label="product ")
        finally:
            srv.stop()
        phrases = canned_phrases()
        from benchmarks.turn_pairing import is_canned

        real = [s for s in samples if s.wire_ms is not None and not is_canned(s.bot_text, phrases)]
        return {"questions": len(QUESTIONS), "voice_of_questions": made[0]["voice"],
                "answered": sum(1 for s in samples if s.wire_ms is not None), "grounded_answers": len(real),
                "wire_all_answered": summary([s.wire_ms for s in samples if s.wire_ms is not None]),
                "wire_grounded_answers": summary([s.wire_ms for s in real]),
                "stages": stage_breakdown([s for s in samples if s.wire_ms is not None]),
                "concurrency": {**conc, "canned_answers": {
                    lv: sum(1 for x in d["samples"] if x["answered"] and is_canned(x["bot"], phrases))
                    for lv, d in conc["levels"].items()}},
                "turns": [{"clip": s.clip, "question": next(m["text"] for m in made if m["file"] == s.clip),
                           "heard": s.caller_text, "answer": s.bot_text, "wire_ms": s.wire_ms,
                           "server_ms": s.server_ms} for s in samples]}

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
        self.llm_ports = [llm_port]
        started = time.time()
        load_before = os.getloadavg()
        cache = SpeechEndCache(self.settings.server.data_dir / "bench" / "speech_end.json")
        load_speech_ends_dir(cache, CLIPS, CLIP_ORDER)
        self.say("starting voicebot and the stock pipecat reference (same models, same Whisper settings)…")
        ours = self.start_ours(llm_port)
        ref = None
        try:
            ref = None if self.skip_reference else self.start_reference()
            self.say("warm-up (not measured)")
            await self.warm_up([("ours", ours)] + ([("reference", ref)] if ref else []))
            self.say(f"side by side: {self.calls} calls each, interleaved")
            samples = await self.side_by_side(ours, ref)
            self.stop_reference(ref)
            self.say("concurrency sweep (voicebot)")
            levels = self.levels or ([1, 2] if self.quick else [1, 2, 4])
            await self.llm_idle()
            conc = await self.concurrency(ours, levels)
        finally:
            self.stop_reference(ref)
            ours.stop()
        result = self.results(samples, conc, load_before)
        write_results(result, self.out_dir)  # what is measured so far survives a later failure
        if self.product_section:
            self.say("product: grounded answers on in-scope spoken questions")
            try:
                result["product"] = await self.product(llm_port)
            except Exception as e:  # report, keep the rest of the run
                self.say(f"  product run failed: {type(e).__name__}: {e}")
                result["product"] = {"error": f"{type(e).__name__}: {e}"}
        if self.sip:
            self.say("SIP vs WebSocket (voicebot, same clips)")
            try:
                result["sip"] = await self.sip_vs_websocket(llm_port)
            except Exception as e:  # report, keep the rest of the run
                self.say(f"  SIP comparison failed: {type(e).__name__}: {e}")
        if self.ablation:
            self.say("ablation (each optimisation off in turn)")
            result["ablation"] = await self.ablations(llm_port, [s["ours_ms"] for s in result["paired"]])
        result["duration_s"] = round(time.time() - started, 1)
        result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        write_results(result, self.out_dir)
        return result

    def results(self, samples: list[TurnSample], conc: dict, load_before: tuple) -> dict:
        mine = [s for s in samples if s.system == "ours"]
        planned = self.plan()
        pairing = pair_turns(planned, [s.__dict__ for s in samples], canned_phrases())
        ours_v = [r["ours_ms"] for r in pairing.paired]
        ref_v = [r["reference_ms"] for r in pairing.paired]
        paired_keys = {(r["call"], r["position"]) for r in pairing.paired}
        mine_paired = [s for s in mine if (s.call, s.position) in paired_keys]
        wc, lc = self.whisper_config(), self.llm_config()
        return {
            "ours": summary(ours_v),
            "reference": summary(ref_v),
            "ratio_p50": round(pct(ours_v, 50) / pct(ref_v, 50), 3) if ours_v and ref_v else None,
            "ratio_p95": round(pct(ours_v, 95) / pct(ref_v, 95), 3) if ours_v and ref_v else None,
            "turns": len(pairing.paired),
            "turns_detail": {**pairing.summary(), "failures": pairing.failures,
                             "canned": [{k: r[k] for k in ("call", "position", "clip", "ours_ms", "reference_ms",
                                                           "ours_text")} for r in pairing.canned],
                             "canned_ours": summary([r["ours_ms"] for r in pairing.canned]),
                             "canned_reference": summary([r["reference_ms"] for r in pairing.canned])},
            "paired": pairing.paired,
            "config": {"ours": {**wc, **lc, "llm_grounded": False, "tts": "piper (same voice)", "warm_up_calls": 1,
                                "models_shared_warm": True},
                       "reference": {**wc, **lc, "llm_grounded": False, "tts": "piper (same voice)", "warm_up_calls": 1,
                                     "models_shared_warm": True, "whisper_decoding": "voicebot DECODE_OPTIONS",
                                     # stock faster-whisper: the encoder always runs on the 30-s padded window
                                     "whisper_encoder_window": "full (stock faster-whisper, 30 s)"},
                       "speech_end": "Silero VAD offline on the source WAV (benchmarks/speech_end.py), cached",
                       "interleaving": "call by call, order alternating (ours first on even calls); each call "
                                       "starts once both LLM servers have finished every earlier answer",
                       "llm_servers": "one llama.cpp server each, same model and settings; ours never cuts an "
                                      "answer for another request, the reference's runs llama-cpp-python's "
                                      "default (a new request ends the one in progress)"},
            "stages_ours": stage_breakdown(mine_paired),
            "server_bot_audio_first_ours": summary([s.server_ms["bot_audio_first"] for s in mine_paired
                                                    if "bot_audio_first" in s.server_ms]),
            "concurrency": conc,
            "machine": {**machine(), "loadavg_start": [round(x, 2) for x in load_before],
                        "loadavg_after_side_by_side": [round(x, 2) for x in os.getloadavg()],
                        "note": "shared machine: other jobs ran during the measurement (see loadavg)"},
            "mode": "quick" if self.quick else "full",
            "duration_s": None,
            "samples": [s.__dict__ for s in samples],
        }


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
             f"Ratio voicebot / reference: p50 **{r['ratio_p50']}**, p95 **{r['ratio_p95']}** "
             f"(over the {r['turns']} turns both sides answered with a real answer).", "",
             *_fairness_lines(r),
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
    if r["concurrency"].get("note"):
        lines += ["", f"Concurrency: {r['concurrency']['note']}"]
    lines += _product_lines(r.get("product"))
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


def _fairness_lines(r: dict) -> list[str]:
    td, cfg, m = r.get("turns_detail", {}), r.get("config", {}), r["machine"]
    keys = ("whisper_compute_type", "whisper_beam_size", "whisper_temperature", "whisper_temperature_fallback",
            "whisper_timestamps", "whisper_vad_filter", "whisper_encoder_window", "llm_max_tokens", "llm_temperature")
    lines = ["## Like for like", "", "| setting | voicebot | reference |", "| --- | --- | --- |"]
    lines += [f"| {k} | {cfg.get('ours', {}).get(k)} | {cfg.get('reference', {}).get(k)} |" for k in keys]
    lines += ["", f"Planned turns per side: {td.get('planned_turns')}; answered by both with a real answer: "
                  f"{td.get('paired_turns')}; canned phrase on either side (reported apart): {td.get('canned_turns')}; "
                  f"failures: voicebot {td.get('failures_ours')}, reference {td.get('failures_reference')}.",
              f"End of caller speech: {cfg.get('speech_end')}. Interleaving: {cfg.get('interleaving')}.",
              f"Machine load average (1/5/15 min): start {m.get('loadavg_start')}, after the side-by-side "
              f"{m.get('loadavg_after_side_by_side')}, end {m.get('loadavg_end')} on {m.get('cores')} cores: "
              "other jobs shared the machine, so both sides' figures carry that noise.", ""]
    for system, label in (("ours", "voicebot"), ("reference", "reference")):
        for f in td.get("failures", {}).get(system, []):
            lines.append(f"- {label} failure: call {f['call']} turn {f['position']} {f['clip']}: {f['why']}")
    return lines + [""]


def _product_lines(p: dict | None) -> list[str]:
    if not p:
        return []
    if "error" in p:
        return ["", "## Product (grounded answers)", "", f"Not measured: {p['error']}"]
    def row(name, s):
        return f"| {name} | {s['n']} | {s['p50_ms']} | {s['p90_ms']} | {s['p95_ms']} | {s['p99_ms']} |"

    lines = ["", "## Product path: grounded answers on in-scope spoken questions", "",
             f"{p['questions']} questions spoken by {p['voice_of_questions']} (synthetic caller voice); "
             f"{p['answered']} answered, {p['grounded_answers']} with a real (non-canned) answer.", "",
             "| measure | n | p50 | p90 | p95 | p99 |", "| --- | --- | --- | --- | --- | --- |",
             row("wire, all answered turns", p["wire_all_answered"]),
             row("wire, real answers only", p["wire_grounded_answers"])]
    lines += [row(f"stage: {k}", v) for k, v in p["stages"].items()]
    lines += ["", "| question | heard | answer (start) | wire ms |", "| --- | --- | --- | --- |"]
    lines += [f"| {t['question']} | {t['heard']} | {t['answer'][:90]} | {t['wire_ms']} |" for t in p["turns"]]
    conc = p.get("concurrency")
    if conc:
        lines += ["", "### Product path under load (the same questions, calls started together)", "",
                  "| calls | turns answered | canned answers | p50 | p95 |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {lv} | {s['answered']}/{s['turns']} | {conc['canned_answers'].get(lv)} | {s['p50_ms']} | "
                  f"{s['p95_ms']} |" for lv, s in conc["levels"].items()]
        lines += ["", f"Largest level whose p95 stays under twice the single-call p95: "
                      f"{conc['max_level_p95_within_2x_single']}"]
    return lines


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
        config: str | None = None, sip: bool = False, overrides: dict | None = None, product: bool = True) -> int:
    calls = calls or (2 if quick else 10)
    out_dir = Path(out) if out else default_out_dir(quick)
    result = asyncio.run(Bench(settings, quick, calls, out_dir, ablation, levels, skip_reference, config, sip,
                               overrides or {}, product_section=product).run())
    if as_json:
        keys = ("ours", "reference", "ratio_p50", "ratio_p95", "turns")
        print(json.dumps({k: result[k] for k in keys}, ensure_ascii=False))
    else:
        print(markdown(result))
        print(f"results: {out_dir}")
    return 0


def from_partial(partial: Path, calls_planned: int, note: str) -> dict:
    """latency.json from an interrupted run's side_by_side.partial.json: the calls both sides completed.

    Only whole calls played by both systems are kept (a call one side has not played yet is not a failure
    of that side); the planned turns are those calls' turns, so failures inside them still count.
    """
    from voicebot.config import load_settings

    samples = [TurnSample(**d) for d in json.loads(partial.read_text())]
    done = sorted({s.call for s in samples if s.system == "ours"} & {s.call for s in samples if s.system == "reference"})
    bench = Bench(load_settings(), False, calls_planned, partial.parent, False)
    planned = [p for p in bench.plan() if p[0] in done]
    bench.plan = lambda: planned  # type: ignore[method-assign]
    r = bench.results([s for s in samples if s.call in done], {"levels": {}, "max_level_p95_within_2x_single": None,
                                                                "note": note}, os.getloadavg())
    r["mode"] = f"interrupted: {len(done)} of {calls_planned} calls per side"
    r["machine"]["note"] += f"; {note}"
    r["machine"]["loadavg_at_render"] = r["machine"].pop("loadavg_after_side_by_side")
    r["machine"]["loadavg_start"] = None  # not in the partial file: see the load log kept beside the results
    return r


if __name__ == "__main__":  # re-render Markdown and plots from a results JSON (or an interrupted run)
    import argparse

    ap = argparse.ArgumentParser(description="re-render latency.md and the plots from latency.json")
    ap.add_argument("json_path")
    ap.add_argument("--partial-calls", type=int, help="json_path is side_by_side.partial.json of a run of N calls")
    ap.add_argument("--note", default="", help="why the run was interrupted")
    a = ap.parse_args()
    path = Path(a.json_path)
    result = from_partial(path, a.partial_calls, a.note) if a.partial_calls else json.loads(path.read_text())
    write_results(result, path.parent)
