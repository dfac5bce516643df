"""The published formats, all written from one cue layout and each re-read and checked word for word.

- `vtt`: WebVTT subtitles (webvtt-py); `srt`: the same cues as SubRip (webvtt-py's writer);
- `words.vtt`: WebVTT cues with an inline timestamp before each word, so players that style
  `::cue(:past)` / `::cue(:future)` highlight the word being spoken (stable-ts's writer);
- `tsv`: one row per word, start and end in milliseconds (stable-ts's word-level TSV layout);
- `json`: a stable-ts–compatible result with a quality section. It loads with
  `stable_whisper.WhisperResult(path)` (segments → words with start, end, probability), without
  stable-ts's duplicated `ori_dict` copy; its `source` names the text and every other output by
  SHA-256, so a reader can tell a complete set from files left by an interrupted or newer run.

For right-to-left languages each subtitle line starts with U+200F (RLM): a line whose first strong
character is Latin (`OK, אז נמשיך…`) is otherwise laid out left to right by players.
`verify_fidelity` re-reads every rendering and refuses to publish one whose words differ from the
corrected text in any way.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import stable_whisper
import webvtt

from worker.engine.alignment import Alignment
from worker.inputs.text import split_words
from worker.publish.cues import RLM, Cue, CueRules, is_rtl, layout_cues
from worker.publish.verdict import judge
from worker.settings import OUTPUT_FORMATS, Settings

FORMAT_VERSION = 1
FORMATS = OUTPUT_FORMATS
MEDIA_TYPES = {
    "vtt": "text/vtt; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "words.vtt": "text/vtt; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "json": "application/json; charset=utf-8",
}
_TAG = re.compile(r"<[^>]*>")


class FidelityError(Exception):
    """A rendering does not carry the corrected text word for word (a bug: never published)."""


@dataclass(frozen=True)
class PublishOptions:
    rules: CueRules = field(default_factory=CueRules)
    formats: tuple[str, ...] = ("vtt", "srt", "json")
    rtl_mark: bool = True  # U+200F at the start of each line, for right-to-left languages

    @classmethod
    def from_settings(cls, settings: Settings) -> PublishOptions:
        rules = CueRules(
            max_line_chars=settings.cue_max_line_chars,
            max_lines=settings.cue_max_lines,
            min_seconds=settings.cue_min_seconds,
            max_seconds=settings.cue_max_seconds,
            max_cps=settings.cue_max_cps,
        )
        return cls(rules, settings.formats, settings.cue_rtl_mark)


@dataclass(frozen=True)
class Rendered:
    """Every requested output, in writing order: the JSON last (its presence marks a complete set)."""

    files: dict[str, str]
    json_document: dict[str, Any]
    rtl_mark: bool = False

    @property
    def json(self) -> str:
        return self.files["json"]

    @property
    def vtt(self) -> str:
        return self.files.get("vtt", "")


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


def _shown(cues: list[Cue]) -> list[tuple[float, float]]:
    """Display times: in order, never overlapping, each ending after it starts (a VTT/SRT rule)."""
    times, previous_end = [], 0.0
    for cue in cues:
        start = max(cue.start, previous_end)
        end = max(cue.shown_until, start + 0.001)
        times.append((start, end))
        previous_end = end
    return times


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _lines(cue: Cue, mark: str, escape: bool) -> str:
    texts = (html.escape(line, quote=False) if escape else line for line in cue.line_texts())
    return "\n".join(mark + line for line in texts)


def _captions(cues: list[Cue], mark: str, escape: bool) -> webvtt.WebVTT:
    return webvtt.WebVTT(
        captions=[
            webvtt.Caption(_timestamp(start), _timestamp(end), _lines(cue, mark, escape))
            for cue, (start, end) in zip(cues, _shown(cues), strict=True)
        ]
    )


def render_vtt(cues: list[Cue], mark: str = "") -> str:
    # Only the markup characters are escaped; right-to-left text is written as it is.
    return str(_captions(cues, mark, escape=True).content)


def render_srt(cues: list[Cue], mark: str = "") -> str:
    # SubRip has no escaping: the words are written as they are.
    text = stable_whisper.result_to_srt_vtt(
        _segment_dicts(cues, mark, escape=False), word_level=False, vtt=False
    )
    return str(text) + "\n"


def _segment_dicts(cues: list[Cue], mark: str, escape: bool = True) -> list[dict[str, Any]]:
    """Cues as stable-ts segment dicts for its writers: display times, escaped words, line starts marked."""
    segments = []
    for cue, (start, end) in zip(cues, _shown(cues), strict=True):
        words: list[dict[str, Any]] = []
        for number, line in enumerate(cue.lines):
            for position, timed in enumerate(line):
                lead = ("\n" if number else " ") + mark if position == 0 else " "
                shown = html.escape(timed.word, quote=False) if escape else timed.word
                words.append({"word": lead + shown, "start": timed.start, "end": timed.end})
        segments.append(
            {"start": start, "end": end, "text": "".join(str(w["word"]) for w in words), "words": words}
        )
    return segments


def render_word_vtt(cues: list[Cue], mark: str = "") -> str:
    text = stable_whisper.result_to_srt_vtt(
        _segment_dicts(cues, mark), segment_level=True, word_level=True, vtt=True
    )
    return str(text) + "\n"


def render_tsv(cues: list[Cue]) -> str:
    # stable-ts's word-level TSV layout (start and end in ms, the word), one row per line; a word
    # holds no whitespace, so it needs no quoting.
    return "".join(
        f"{round(w.start * 1000)}\t{round(w.end * 1000)}\t{w.word}\n" for cue in cues for w in cue.words
    )


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
                    **({} if w.spoken else {"spoken": False}),  # no speech heard for it
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


def render(
    alignment: Alignment,
    text: str,
    source: dict[str, Any] | None = None,
    options: PublishOptions | None = None,
) -> Rendered:
    """Every requested output for one alignment, each checked word for word against `text`."""
    options = options or PublishOptions()
    cues = layout_cues(alignment.words, alignment.line_ends, options.rules, alignment.duration)
    rtl_mark = options.rtl_mark and is_rtl(alignment.language)
    mark = RLM if rtl_mark else ""
    writers: dict[str, Callable[[], str]] = {
        "vtt": lambda: render_vtt(cues, mark),
        "srt": lambda: render_srt(cues, mark),
        "words.vtt": lambda: render_word_vtt(cues, mark),
        "tsv": lambda: render_tsv(cues),
    }
    files = {name: writers[name]() for name in options.formats if name != "json"}
    fingerprints = {"text_sha256": sha256(text)}
    fingerprints.update({f"{name.replace('.', '_')}_sha256": sha256(body) for name, body in files.items()})
    document = render_json(cues, alignment, {"source": {**(source or {}), **fingerprints}})
    files["json"] = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    rendered = Rendered(files, document, rtl_mark)
    verify_fidelity(text, rendered)
    return rendered


def _subtitle_words(body: str, rtl_mark: bool) -> list[str]:
    """The words a subtitle file shows: tags dropped, entities decoded, our line marks removed."""
    words = []
    for line in body.splitlines():
        shown = html.unescape(_TAG.sub("", line))
        words.extend(split_words(shown.removeprefix(RLM) if rtl_mark else shown))
    return words


def _reread(name: str, body: str, rtl_mark: bool) -> list[str]:
    if name == "json":
        document = json.loads(body)
        return [w["word"].strip() for s in document["segments"] for w in s["words"]]
    if name == "tsv":
        return [line.split("\t")[2] for line in body.splitlines() if line]
    if name == "srt":
        # Read as written (webvtt-py's SRT reader drops anything that looks like a tag): blocks of an
        # index line, a timing line, then the text lines.
        blocks = [block.splitlines() for block in re.split(r"\n\s*\n", body.strip())]
        if any(len(b) < 3 or not b[0].isdigit() or " --> " not in b[1] for b in blocks):
            raise FidelityError("SRT does not parse: a block lacks its index or timing line")
        return [w for b in blocks for line in b[2:] for w in split_words(_unmark(line, rtl_mark))]
    captions = webvtt.from_string(body).captions  # vtt, words.vtt
    return [w for c in captions for w in _subtitle_words(c.raw_text, rtl_mark)]


def _unmark(line: str, rtl_mark: bool) -> str:
    return line.removeprefix(RLM) if rtl_mark else line


def verify_fidelity(text: str, rendered: Rendered) -> None:
    expected = split_words(text)
    for name, body in rendered.files.items():
        got = _reread(name, body, rendered.rtl_mark)
        if got != expected:
            label = name.upper() if name != "words.vtt" else "word-highlight VTT"
            raise FidelityError(
                f"{label} words differ from the corrected text: {_first_difference(expected, got)}"
            )


def _first_difference(expected: list[str], got: list[str]) -> str:
    for index, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return f"word {index}: expected {a!r}, got {b!r}"
    return f"expected {len(expected)} words, got {len(got)}"
