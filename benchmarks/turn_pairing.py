# SPDX-License-Identifier: EUPL-1.2
"""Turn-by-turn pairing of the two systems' samples: same turns on both sides, failures counted, never skipped.

Pure logic (no servers), so it is unit-tested: a turn is identified by (call, position in the call, clip);
a turn one side did not answer is a failure of that side, reported; a turn whose answer (on either side)
is a canned phrase (transfer, no answer, apology) is reported apart, because its latency measures a
pre-recorded phrase, not the speech-to-answer path. The ratio uses only turns both sides answered.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


def canned_phrases() -> list[str]:
    """voicebot's pre-recorded answers that are not answers to the question asked."""
    from voicebot.french import phrases as pp

    texts = [pp.TRANSFER, pp.NOT_UNDERSTOOD, pp.LLM_APOLOGY, pp.NO_ANSWER, pp.TRANSFER_FAILED,
             getattr(pp, "EMPTY_QUESTION", "")]
    return [t for t in texts if t]


def is_canned(bot_text: str, phrases: Iterable[str]) -> bool:
    """True when the answer starts with one of the canned phrases (case, accents and spacing aside)."""
    got = _fold(bot_text)
    return bool(got) and any(got.startswith(_fold(p)[:40]) for p in phrases if p)


@dataclass
class TurnKey:
    call: int
    position: int
    clip: str

    def as_tuple(self) -> tuple[int, int, str]:
        return (self.call, self.position, self.clip)


@dataclass
class Pairing:
    paired: list[dict] = field(default_factory=list)  # both answered with a real answer
    canned: list[dict] = field(default_factory=list)  # a canned phrase on either side
    failures: dict[str, list[dict]] = field(default_factory=lambda: {"ours": [], "reference": []})
    planned: int = 0

    def summary(self) -> dict:
        return {"planned_turns": self.planned, "paired_turns": len(self.paired), "canned_turns": len(self.canned),
                "failures_ours": len(self.failures["ours"]), "failures_reference": len(self.failures["reference"])}


def pair_turns(planned: list[tuple[int, int, str]], samples: list[dict], phrases: Iterable[str]) -> Pairing:
    """Pair the samples of both systems on the planned turns.

    ``samples`` are dicts with ``system`` ("ours"/"reference"), ``call``, ``position``, ``clip``, ``wire_ms``
    (None when no answer was heard), ``answered`` and ``bot_text``. A planned turn with no sample, or with
    a sample that was not answered, is a failure of that system.
    """
    phrases = list(phrases)
    by_key = {(s["system"], s["call"], s["position"], s["clip"]): s for s in samples}
    out = Pairing(planned=len(planned))
    for call, position, clip in planned:
        got = {}
        for system in ("ours", "reference"):
            s = by_key.get((system, call, position, clip))
            if s is None or s.get("wire_ms") is None or not s.get("answered", True):
                out.failures[system].append({"call": call, "position": position, "clip": clip,
                                             "why": "no sample" if s is None else "not answered",
                                             "bot_text": (s or {}).get("bot_text", "")})
            else:
                got[system] = s
        if len(got) < 2:
            continue
        row = {"call": call, "position": position, "clip": clip, "ours_ms": got["ours"]["wire_ms"],
               "reference_ms": got["reference"]["wire_ms"], "ours_text": got["ours"].get("bot_text", ""),
               "reference_text": got["reference"].get("bot_text", "")}
        if is_canned(row["ours_text"], phrases) or is_canned(row["reference_text"], phrases):
            out.canned.append(row)
        else:
            out.paired.append(row)
    return out
