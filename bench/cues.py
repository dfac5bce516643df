"""Subtitle readability of one alignment: the previous cue layout against the current one.

    uv run python -m bench.cues OUT.json --text LECTURE.txt

Both layouts group the same aligned words (the JSON's, times unchanged); the text file gives the
line breaks (each ends a cue in both). Counted per layout: cues with a line over 42 characters,
with more than 2 lines, shown under 1 s, over 17 characters per second, of one or two stray words,
longer than 7 s, and breaks right after a title or an abbreviation mark (`ר'`, `רש"י`, `רבי`).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from worker.engine.fidelity import TimedWord
from worker.inputs.text import line_ends
from worker.publish.cues import CueRules, layout_cues

RULES = CueRules()


@dataclass(frozen=True)
class Shown:
    lines: list[str]
    words: int
    start: float
    end: float  # display end


def previous_layout(words: list[TimedWord], ends: frozenset[int]) -> list[Shown]:
    """The layout before issue 11: one line of up to 84 characters, cut at 7 s, a 1 s pause,
    sentence punctuation (the colon included) or a line break; displayed for the words' own times."""
    cues: list[list[TimedWord]] = []
    current: list[TimedWord] = []
    chars = 0
    for index, word in enumerate(words):
        if current and (
            chars + 1 + len(word.word) > 84
            or word.end - current[0].start > 7.0
            or word.start - current[-1].end >= 1.0
        ):
            cues.append(current)
            current, chars = [], 0
        current.append(word)
        chars += len(word.word) + (chars > 0)
        if index in ends or word.word.endswith((".", "?", "!", "…", ":", "׃")):
            cues.append(current)
            current, chars = [], 0
    if current:
        cues.append(current)
    shown, previous_end = [], 0.0
    for cue in cues:
        start = max(cue[0].start, previous_end)
        end = max(cue[-1].end, start + 0.001)
        shown.append(Shown([" ".join(w.word for w in cue)], len(cue), start, end))
        previous_end = end
    return shown


def current_layout(words: list[TimedWord], ends: frozenset[int], audio_end: float) -> list[Shown]:
    shown, previous_end = [], 0.0
    for cue in layout_cues(words, ends, RULES, audio_end):
        start = max(cue.start, previous_end)
        end = max(cue.shown_until, start + 0.001)
        shown.append(Shown(cue.line_texts(), len(cue.words), start, end))
        previous_end = end
    return shown


def statistics(cues: list[Shown]) -> dict[str, int]:
    def chars(cue: Shown) -> int:
        return len(" ".join(cue.lines))

    return {
        "cues": len(cues),
        "line over 42 chars": sum(any(len(line) > 42 for line in c.lines) for c in cues),
        "more than 2 lines": sum(len(c.lines) > 2 for c in cues),
        "shown under 1 s": sum(c.end - c.start < 1.0 for c in cues),
        "over 17 chars/s": sum(chars(c) / (c.end - c.start) > 17.0 for c in cues),
        "1-2 stray words": sum(c.words <= 2 for c in cues),
        "longer than 7 s": sum(c.end - c.start > 7.0 + 1e-6 for c in cues),
        "break after ר'/רש\"י/רבי": sum(
            line.split()[-1].endswith(("'", "׳")) or line.split()[-1] in ("רבי", "רב", "רבן", 'רש"י')
            for c in cues
            for line in c.lines
        ),
    }


def load_words(path: Path) -> tuple[list[TimedWord], float]:
    document = json.loads(path.read_text(encoding="utf-8"))
    words = [
        TimedWord(w["word"].strip(), w["start"], w["end"], w.get("probability", 1.0))
        for segment in document["segments"]
        for w in segment["words"]
    ]
    return words, float(document.get("quality", {}).get("audio_seconds", words[-1].end))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cues", description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path, help="an output of `timestamp align` (the words and times)")
    parser.add_argument("--text", type=Path, help="the corrected text (its line breaks end cues)")
    args = parser.parse_args(argv)
    words, audio_end = load_words(args.json)
    ends = line_ends(args.text.read_text(encoding="utf-8")) if args.text else frozenset()
    before, after = (
        statistics(previous_layout(words, ends)),
        statistics(current_layout(words, ends, audio_end)),
    )
    print(f"{args.json}: {len(words)} words, {audio_end:.1f} s")
    print(f"| {'':28} | before | after |\n|---|---:|---:|")
    for name in before:
        print(f"| {name:28} | {before[name]:6} | {after[name]:5} |")


if __name__ == "__main__":
    main()
