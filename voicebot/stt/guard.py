"""Reject or repair Whisper's failure modes on telephone audio, before the text reaches the LLM.

Why: on silence, line noise or hold music Whisper invents text learned from subtitled videos
("Sous-titres réalisés par la communauté d'Amara.org", "Merci d'avoir regardé cette vidéo") and on
hard audio it loops ("oui oui oui oui oui ..."). A voice agent that answers those wastes a turn or
says something absurd. `TranscriptGuard.check` is pure logic (no model), so it is written here: no
library covers French subtitle hallucinations. It uses the per-segment signals faster-whisper gives
(avg_logprob, no_speech_prob, compression_ratio) when the caller passes them.

Decisions, in order:
1. empty or punctuation-only → reject ("empty");
2. no_speech_prob above 0.6 with avg_logprob below -1.0 (Whisper's own silence rule) → reject ("no_speech");
3. known hallucination phrases and bracketed sound tags ("[Musique]") are removed wherever they are;
   nothing left → reject ("hallucination"); something left → accept the rest ("hallucination_removed");
4. a short politeness-only text ("Merci.", "Thank you.") on very short audio (< 0.5 s) or likely
   non-speech (no_speech_prob ≥ 0.3 or avg_logprob < -0.8) → reject ("hallucination");
5. repetition loops (one word 5 times or more, an n-gram 4 times, a 4+ word phrase 3 times, in a row)
   are collapsed to one occurrence; when that leaves fewer than two other words, or when the loop is
   all there is → reject ("repetition_loop"); else accept ("repetition_collapsed");
6. compression_ratio (given, or computed like Whisper when absent) above 2.4 with no loop found → reject;
7. more than 25 characters per second of audio (+10 characters of slack) → reject ("too_long_for_audio").
The text is matched after normalisation: case, accents, punctuation and apostrophe variants are ignored.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass

from pydantic import BaseModel, Field

__all__ = ["GuardResult", "TranscriptGuard", "TranscriptGuardSettings", "REASON_LABELS_FR"]


class TranscriptGuardSettings(BaseModel):
    """Thresholds of the transcript guard (section `stt.guard`)."""

    no_speech_prob_threshold: float = Field(
        0.6, description="Whisper no_speech_prob above which a segment is silence (with a low avg_logprob)."
    )
    logprob_threshold: float = Field(
        -1.0, description="Whisper avg_logprob below which a high no_speech_prob means silence."
    )
    compression_ratio_threshold: float = Field(
        2.4, description="gzip compression ratio of the text above which Whisper has looped."
    )
    max_chars_per_second: float = Field(
        25.0, description="Most characters a caller can say per second of audio; more is invented text."
    )
    chars_slack: int = Field(10, description="Characters always allowed on top of max_chars_per_second.")
    short_audio_s: float = Field(
        0.5, description="Audio shorter than this cannot hold a real 'Merci.'; such a lone word is rejected."
    )
    weak_no_speech_prob: float = Field(
        0.3, description="no_speech_prob from which a lone politeness word ('Merci.') is taken as noise."
    )
    weak_logprob: float = Field(
        -0.8, description="avg_logprob below which a lone politeness word ('Merci.') is taken as noise."
    )
    min_repeats_word: int = Field(5, description="A single word repeated this many times in a row is a loop.")
    min_repeats_ngram: int = Field(
        4, description="A 2-3 word group repeated this many times in a row is a loop."
    )
    min_repeats_phrase: int = Field(
        3, description="A phrase of 4+ words repeated this many times in a row is a loop."
    )


@dataclass(frozen=True)
class GuardResult:
    """What the guard made of one transcript: the text to use, whether to use it, and why not/what changed."""

    text: str
    accepted: bool
    reason: str | None = None


# For logs and the supervisor's monitor.
REASON_LABELS_FR = {
    "empty": "transcription vide",
    "no_speech": "pas de parole détectée",
    "hallucination": "texte inventé par la reconnaissance vocale (sous-titres, remerciements)",
    "hallucination_removed": "texte inventé retiré de la transcription",
    "repetition_loop": "boucle de répétition de la reconnaissance vocale",
    "repetition_collapsed": "répétitions réduites à une occurrence",
    "compression_ratio": "texte anormalement répétitif",
    "too_long_for_audio": "texte trop long pour la durée de l'audio",
}

# Hallucination phrases, written on the normalised form (lower case, no accents, words separated by
# one space). They are removed wherever they appear; ".*$" ones run to the end of the text.
_HALLUCINATIONS = [
    r"sous titr\w* (?:realise\w* |fait\w* |effectue\w* )?(?:par|para) .*$",
    r"sous titr\w* (?:st ?\d+|societe radio canada|fr|mfp|de la communaute|francais|france tv)\b.*$",
    r"(?:par |de )?la communaute d amara org",
    r"amara org",
    r"sous titres?$|sous titrage$",
    r"transcri\w* (?:realise\w* )?par .*$",
    r"traduction (?:realisee )?par .*$",
    r"merci d avoir regarde(?: cette| la)?(?: video| emission)?",
    r"merci de (?:votre|vous avoir) regarde\w*(?: cette video)?",
    r"n oubliez pas de (?:vous abonner|liker|partager)\w*(?: (?:a|et) (?:la|ma|notre) chaine)?",
    r"vous abonner a (?:la|ma|notre) chaine",
    r"(?:et )?abonnez vous(?: a (?:la|ma|notre) chaine)?",
    r"abonne toi",
    r"like (?:et|and) (?:abonne toi|subscribe)",
    r"a la prochaine (?:fois )?pour (?:une nouvelle|de nouvelles) videos?",
    r"(?:thanks?|thank you) (?:so much )?for watching",
    r"please subscribe(?: to (?:my|the|our) channel)?",
    r"subtitles? by .*$",
    r"(?:subtitles|captions) (?:created |made )?by the amara org community",
    r"copyright .*$",
]
# Bracketed or starred sound tags: "[Musique]", "(applaudissements)", "*rires*", "♪ ... ♪".
_SOUND_TAG = re.compile(
    r"[\[(*]\s*(?:musique|music|rires?|applaudissements?|applause|silence|bruit\w*|toux|soupirs?|"
    r"blank_audio|inaudible|generique|générique|sonnerie|bip|laughter|noise)\s*[\])*]|[♪♫]+[^♪♫]*[♪♫]*",
    re.IGNORECASE,
)
# A lone politeness word Whisper says over noise; real when the audio supports it.
_WEAK_ALONE = re.compile(
    r"(?:merci|merci beaucoup|merci a tous|merci a vous|thank you|thanks|you|bye|au revoir|a la prochaine)"
)
_HALLUCINATION_RE = [re.compile(rf"(?:^| )(?:{p})(?= |$)") for p in _HALLUCINATIONS]
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def _fold(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@dataclass(frozen=True)
class _Tokens:
    """Words of the original text with their spans, and the normalised string that indexes them."""

    spans: list[tuple[int, int]]
    norm: list[str]
    norm_text: str
    norm_starts: list[int]

    @classmethod
    def of(cls, text: str) -> _Tokens:
        spans, norm = [], []
        for m in _TOKEN.finditer(text):
            folded = _fold(m.group(0))
            if folded:
                spans.append((m.start(), m.end()))
                norm.append(folded)
        starts, pos = [], 0
        for t in norm:
            starts.append(pos)
            pos += len(t) + 1
        return cls(spans, norm, " ".join(norm), starts)

    def token_range(self, start: int, end: int) -> tuple[int, int]:
        """Tokens covered by normalised characters [start, end): (first, last inclusive)."""
        first = next(i for i, s in enumerate(self.norm_starts) if s + len(self.norm[i]) > start)
        last = max(i for i, s in enumerate(self.norm_starts) if s < end)
        return first, last


def _tidy(text: str) -> str:
    """Collapse spaces and drop punctuation left dangling by a removal; French spacing is kept."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.…])", r"\1", text)
    text = re.sub(r"^[\s,;:.!?…-]+", "", text)
    text = re.sub(r"([,;:])\s*([.!?])", r"\2", text)
    text = re.sub(r"[\s,;:-]+$", "", text)
    return text.strip()


def _remove_spans(text: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            start = pos
        out.append(text[pos:start])
        pos = max(pos, end)
    out.append(text[pos:])
    return _tidy("".join(out))


def _strip_hallucinations(text: str) -> str:
    """Remove known phrases (matched on normalised words) from the original text."""
    for _ in range(8):  # a phrase removal can expose another ("... Amara.org. Merci d'avoir regardé")
        tokens = _Tokens.of(text)
        if not tokens.norm:
            return _tidy(text)
        cut: list[tuple[int, int]] = []
        for pattern in _HALLUCINATION_RE:
            for m in pattern.finditer(tokens.norm_text):
                start = m.start() + (1 if m.group(0).startswith(" ") else 0)
                if m.end() <= start:
                    continue
                first, last = tokens.token_range(start, m.end())
                if m.end() >= len(tokens.norm_text):
                    end = len(text)  # the phrase ends the text: take its trailing punctuation too
                else:
                    end = _through_punctuation(text, tokens.spans[last][1])
                cut.append((tokens.spans[first][0], end))
        if not cut:
            return _tidy(text)
        text = _remove_spans(text, cut)
    return _tidy(text)


def _through_punctuation(text: str, end: int) -> int:
    m = re.match(r"[\s]*[.!?…]+", text[end:])
    return end + m.end() if m else end


def _find_loop(norm: list[str], settings: TranscriptGuardSettings) -> tuple[int, int, int] | None:
    """Longest-covering run of a repeated n-gram: (start token, n, repeats), or None."""
    best: tuple[int, int, int] | None = None
    best_cover = 0
    for n in range(1, min(12, len(norm) // 2) + 1):
        need = (
            settings.min_repeats_word
            if n == 1
            else (settings.min_repeats_ngram if n <= 3 else settings.min_repeats_phrase)
        )
        i = 0
        while i + n * need <= len(norm):
            gram = norm[i : i + n]
            reps = 1
            while norm[i + reps * n : i + (reps + 1) * n] == gram:
                reps += 1
            if reps >= need and reps * n > best_cover:
                best, best_cover = (i, n, reps), reps * n
            i += max(1, (reps - 1) * n) if reps >= need else 1
    return best


def _char_loop(norm_text: str) -> bool:
    """Loops without spaces ("hahahahahahaha", "mmmmmmmmmm"): one short unit repeated 6+ times."""
    squashed = norm_text.replace(" ", "")
    return len(squashed) >= 8 and re.fullmatch(r"(.{1,4}?)\1{5,}", squashed) is not None


def _compression_ratio(text: str) -> float:
    """Same measure as Whisper: UTF-8 length over zlib-compressed length."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


class TranscriptGuard:
    """Checks each final transcript of a turn; one instance can serve every call (no state)."""

    def __init__(self, settings: TranscriptGuardSettings | None = None) -> None:
        self.settings = settings or TranscriptGuardSettings()

    def check(
        self,
        text: str,
        *,
        avg_logprob: float | None = None,
        no_speech_prob: float | None = None,
        compression_ratio: float | None = None,
        duration_s: float | None = None,
    ) -> GuardResult:
        s = self.settings
        original = text or ""
        text = _tidy(unicodedata.normalize("NFC", original))
        if not _Tokens.of(text).norm:
            return GuardResult("", False, "empty")
        if (
            no_speech_prob is not None
            and avg_logprob is not None
            and no_speech_prob > s.no_speech_prob_threshold
            and avg_logprob < s.logprob_threshold
        ):
            return GuardResult("", False, "no_speech")

        reason: str | None = None
        cleaned = _tidy(_SOUND_TAG.sub(" ", text))
        cleaned = _strip_hallucinations(cleaned)
        if not _Tokens.of(cleaned).norm:
            return GuardResult("", False, "hallucination")
        if cleaned != text:
            reason = "hallucination_removed"
        text = cleaned

        tokens = _Tokens.of(text)
        if _WEAK_ALONE.fullmatch(tokens.norm_text) and (
            (duration_s is not None and duration_s < s.short_audio_s)
            or (no_speech_prob is not None and no_speech_prob >= s.weak_no_speech_prob)
            or (avg_logprob is not None and avg_logprob < s.weak_logprob)
        ):
            return GuardResult("", False, "hallucination")

        if _char_loop(tokens.norm_text):
            return GuardResult("", False, "repetition_loop")
        loop_found = False
        for _ in range(4):  # several loops in one text are collapsed one after the other
            found = _find_loop(tokens.norm, s)
            if found is None:
                break
            loop_found = True
            start, n, reps = found
            others = len(tokens.norm) - reps * n
            if others < 2:
                return GuardResult("", False, "repetition_loop")
            first_end = tokens.spans[start + n - 1][1]
            last_end = tokens.spans[start + reps * n - 1][1]
            text = _tidy(text[:first_end] + text[last_end:])
            tokens = _Tokens.of(text)
            reason = "repetition_collapsed"

        ratio = compression_ratio if compression_ratio is not None else _compression_ratio(original)
        if ratio > s.compression_ratio_threshold and not loop_found:
            return GuardResult("", False, "compression_ratio")

        if (
            duration_s is not None
            and len(text) > s.max_chars_per_second * max(duration_s, 0.0) + s.chars_slack
        ):
            return GuardResult("", False, "too_long_for_audio")
        return GuardResult(text, True, reason)
