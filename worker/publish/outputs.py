"""The published formats: WebVTT subtitles and a stable-ts–compatible JSON with a quality section.

The JSON loads with `stable_whisper.WhisperResult(path)` (segments → words with start, end,
probability), without stable-ts's duplicated `ori_dict` copy. `verify_fidelity` re-reads both
renderings and refuses to publish if their words differ from the corrected text in any way.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from typing import Any

import webvtt

from worker.engine.alignment import Alignment
from worker.inputs.text import split_words
from worker.publish.cues import Cue, group_cues
from worker.publish.verdict import judge

FORMAT_VERSION = 1


class FidelityError(Exception):
    """A rendering does not carry the corrected text word for word (a bug: never published)."""


@dataclass(frozen=True)
class Rendered:
    vtt: str
    json_document: dict[str, Any]

    @property
    def json(self) -> str:
        return json.dumps(self.json_document, ensure_ascii=False, indent=1) + "\n"


def quality(alignment: Alignment) -> dict[str, Any]:
    """The review verdict (worker.publish.verdict) and the figures behind it; also carried by the
    completion notice. `unspoken_words` lists the indexes of words the audio holds no speech for
    (stable-ts's word schema has no room for the flag)."""
    probabilities = [w.probability for w in alignment.words]
    repairs = alignment.repairs
    return {
        **judge(alignment).as_dict(),
        "unspoken_words": [index for index, w in enumerate(alignment.words) if not w.spoken],
        "words": len(alignment.words),
        "engine_words": alignment.engine_words,
        "inserted_by_engine": repairs.inserted,
        "dropped_by_engine": repairs.dropped,
        "resplit_by_engine": repairs.resplit,
        "mean_probability": round(sum(probabilities) / len(probabilities), 4),
        "audio_seconds": round(alignment.duration, 3),
        "align_seconds": round(alignment.seconds, 3),
        "real_time_factor": round(alignment.seconds / alignment.duration, 4),
        "model": alignment.model,
    }


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def render_vtt(cues: list[Cue]) -> str:
    captions = []
    previous_end = 0.0
    for cue in cues:
        start = max(cue.start, previous_end)
        end = max(cue.end, start + 0.001)  # a cue must end after it starts
        # Only the markup characters are escaped; right-to-left text is written as it is.
        captions.append(
            webvtt.Caption(_timestamp(start), _timestamp(end), html.escape(cue.text, quote=False))
        )
        previous_end = end
    return str(webvtt.WebVTT(captions=captions).content)


def render_json(cues: list[Cue], alignment: Alignment, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    segments = [
        {
            "id": index,
            "start": round(cue.start, 3),
            "end": round(cue.end, 3),
            "text": "".join(f" {w.word}" for w in cue.words),
            "words": [
                {
                    "word": f" {w.word}",
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "probability": round(w.probability, 4),
                }
                for w in cue.words
            ],
        }
        for index, cue in enumerate(cues)
    ]
    return {
        "text": "".join(str(segment["text"]) for segment in segments),
        "language": alignment.language,
        "segments": segments,
        "quality": quality(alignment),
        "format_version": FORMAT_VERSION,
        **(extra or {}),
    }


def sha256(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()


def render(alignment: Alignment, text: str, source: dict[str, Any] | None = None) -> Rendered:
    """Both outputs for one alignment, checked word for word against the corrected `text`.

    The JSON's `source` names the text and the VTT it pairs with by SHA-256, so a reader can tell
    a complete pair from a VTT left behind by an interrupted or newer run.
    """
    cues = group_cues(alignment.words, alignment.line_ends)
    vtt = render_vtt(cues)
    fingerprints = {"text_sha256": sha256(text), "vtt_sha256": sha256(vtt)}
    rendered = Rendered(vtt, render_json(cues, alignment, {"source": {**(source or {}), **fingerprints}}))
    verify_fidelity(text, rendered)
    return rendered


def verify_fidelity(text: str, rendered: Rendered) -> None:
    expected = split_words(text)
    json_words = [w["word"].strip() for s in rendered.json_document["segments"] for w in s["words"]]
    if json_words != expected:
        raise FidelityError(
            f"JSON words differ from the corrected text: {_first_difference(expected, json_words)}"
        )
    vtt_words = [
        word
        for caption in webvtt.from_string(rendered.vtt).captions
        for word in split_words(html.unescape(caption.text))
    ]
    if vtt_words != expected:
        raise FidelityError(
            f"VTT words differ from the corrected text: {_first_difference(expected, vtt_words)}"
        )


def _first_difference(expected: list[str], got: list[str]) -> str:
    for index, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return f"word {index}: expected {a!r}, got {b!r}"
    return f"expected {len(expected)} words, got {len(got)}"
