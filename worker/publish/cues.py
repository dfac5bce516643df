"""Laying timed words out as subtitle cues that follow reading norms (Netflix Hebrew TTSG).

A cue holds at most `max_lines` lines of at most `max_line_chars` characters, lasts at most
`max_seconds`, and is shown long enough to read (`min_seconds`, `max_cps` characters per second): its
display may run on into the silence after its last word, never into the next cue. Breaks fall where
a reader expects them: at a line break of the corrected text (always), after sentence punctuation,
at a pause, after a comma or colon, before a conjunction or preposition; never after a title or an
abbreviation mark (`ר'`, `רש"י`) nor inside a quotation; no cue of one or two stray words.

The layout is chosen by dynamic programming over each paragraph (text between line breaks): every
possible cue is scored by these rules and the cheapest sequence wins. stable-ts's regrouping
(`split_by_length`, `merge_by_gap`, `clamp_max`) was the first choice, but it cannot weigh these
rules against each other, and `clamp_max` moves word times; here the words and their times stay
exactly as aligned, only grouped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from worker.engine.fidelity import TimedWord

_SENTENCE_END = (".", "?", "!", "…", "׃")  # ׃ is the Hebrew sof pasuq
_CLAUSE_END = (",", ";", ":", "–", "—")  # a colon is a clause break, not the end of a cue
_QUOTES = "\"'“”„«»״‘’"
_CLOSING = ".,;:?!…׃)]"
# Words after which a break separates a title from its name (never break there).
_TITLES = frozenset({"רבי", "רב", "רבן", "הרב", "רבנו", "מר", "Rabbi", "Rav", "Mr.", "Dr.", "Mrs.", "St."})
# Separate-word conjunctions and prepositions a line or cue may start with.
_LEADERS = frozenset(
    {
        *("אבל", "או", "אם", "כי", "אלא", "אז", "גם", "על", "אל", "עם", "של", "כמו", "אחרי", "לפני"),
        *("בין", "אשר", "כאשר", "מפני", "לכן", "אך", "רק", "עד", "מן", "כדי"),
        *("and", "or", "but", "because", "so", "of", "to", "in", "on", "at", "with", "for", "from"),
        *("that", "which", "when", "if", "as"),
    }
)
_RTL_LANGUAGES = frozenset({"he", "iw", "yi", "ar", "fa", "ur", "ps", "sd", "ug", "dv", "ckb"})
RLM = "\u200f"


@dataclass(frozen=True, slots=True)
class CueRules:
    max_line_chars: int = 42
    max_lines: int = 2
    min_seconds: float = 5 / 6
    max_seconds: float = 7.0
    max_cps: float = 17.0


@dataclass(frozen=True, slots=True)
class Cue:
    """Words shown together; `lines` splits them into display lines; `shown_until` ≥ the last word's end."""

    lines: tuple[tuple[TimedWord, ...], ...]
    shown_until: float

    @property
    def words(self) -> list[TimedWord]:
        return [word for line in self.lines for word in line]

    @property
    def start(self) -> float:
        return self.lines[0][0].start

    @property
    def end(self) -> float:
        """The last word's own end (the JSON's segment end); the display may last longer."""
        return self.lines[-1][-1].end

    @property
    def text(self) -> str:
        return " ".join(w.word for w in self.words)

    def line_texts(self) -> list[str]:
        return [" ".join(w.word for w in line) for line in self.lines]


def is_rtl(language: str) -> bool:
    return language.lower() in _RTL_LANGUAGES


def _after_cost(word: str, following: str | None) -> float:
    """How bad a break after `word` (before `following`) is; 0 is a natural end."""
    bare = word.rstrip(_QUOTES + ")]")
    if bare.endswith(_SENTENCE_END):
        return 0.0  # also after an abbreviation that ends a sentence: ז"ל. or וכו'.
    if bare.endswith(_CLAUSE_END):
        return 1.5
    if word.endswith(("'", "׳")) or word in _TITLES or _is_acronym(word):
        return 40.0  # a title or an abbreviation stays with what it names
    if following is not None and (following in _LEADERS or following.startswith("ו")):
        return 3.5  # before a conjunction or preposition (ו is the Hebrew "and" prefix)
    return 6.0


def _is_acronym(word: str) -> bool:
    """Hebrew acronyms carry gershayim inside the word: רש"י, ז"ל (a quotation mark sits at an edge)."""
    core = word.strip(_CLOSING + _QUOTES)
    return any(mark in core for mark in ('"', "״"))


def _quoted(words: list[TimedWord]) -> list[bool]:
    """quoted[i]: a break after word i would fall inside a quotation (opened, not yet closed)."""
    inside, result = False, []
    for index, timed in enumerate(words):
        text = timed.word
        opens = text[:1] in _QUOTES and not _is_acronym(text)
        closes = text.rstrip(_CLOSING)[-1:] in _QUOTES and not _is_acronym(text)
        if opens and not closes:
            # An opening mark without a close in the next 30 words is a stray mark, not a quotation.
            later = words[index + 1 : index + 31]
            inside = any(w.word.rstrip(_CLOSING)[-1:] in _QUOTES for w in later)
        elif closes:
            inside = False
        result.append(inside)
    return result


class _Paragraph:
    """One run of words between hard boundaries, laid out by dynamic programming."""

    def __init__(self, words: list[TimedWord], next_start: float, rules: CueRules) -> None:
        self.words, self.next_start, self.rules = words, next_start, rules
        self.prefix = [0]
        for timed in words:
            self.prefix.append(self.prefix[-1] + len(timed.word))
        following = [w.word for w in words[1:]]
        self.after = [_after_cost(w.word, f) for w, f in zip(words, [*following, None], strict=True)]
        self.after[-1] = 0.0  # the paragraph's end is a hard boundary
        for index, inside in enumerate(_quoted(words)):
            if inside and index < len(words) - 1:
                self.after[index] += 30.0

    def _chars(self, first: int, stop: int) -> int:
        return self.prefix[stop] - self.prefix[first] + (stop - first - 1)

    def _lines(self, first: int, stop: int) -> tuple[float, tuple[int, ...]] | None:
        """The cheapest split of words[first:stop] into display lines (cost, line starts), or None."""
        limit = self.rules.max_line_chars
        total = self._chars(first, stop)
        if total <= limit or stop - first == 1:
            return 0.0, (first,)
        if self.rules.max_lines < 2:
            return None
        best: tuple[float, tuple[int, ...]] | None = None
        for cut in range(first + 1, stop):
            top, bottom = self._chars(first, cut), self._chars(cut, stop)
            if top > limit or (bottom > limit and self.rules.max_lines == 2):
                continue
            if bottom > limit:  # more than two lines allowed: split the rest again
                rest = self._lines(cut, stop)
                if rest is None or len(rest[1]) >= self.rules.max_lines:
                    continue
                cost = self.after[cut - 1] + rest[0]
                starts = (first, *rest[1])
            else:
                # Balanced lines read best; a bottom-heavy pair slightly better than a top-heavy one.
                cost = self.after[cut - 1] + abs(top - bottom) / 8 + (top > bottom) * 0.5
                starts = (first, cut)
            if best is None or cost < best[0]:
                best = (cost, starts)
        return best

    def _cue_cost(self, first: int, stop: int, line_cost: float) -> float:
        rules, words = self.rules, self.words
        chars = self._chars(first, stop)
        start, speech_end = words[first].start, words[stop - 1].end
        room = (words[stop].start if stop < len(words) else self.next_start) - start
        shown = min(
            max(speech_end - start, rules.min_seconds, chars / rules.max_cps), room, rules.max_seconds
        )
        shown = max(shown, speech_end - start, 0.001)
        cost = 2.0 + line_cost + self.after[stop - 1]  # 2: a cue of its own has a price (fewer, fuller cues)
        # A sentence that ends inside a cue, not at a line end, makes the next one start mid-line.
        cost += 1.5 * sum(self.after[i] == 0.0 for i in range(first, stop - 1))
        cost += max(0.0, chars / shown - rules.max_cps) * 0.5
        cost += max(0.0, rules.min_seconds - shown) * 12
        if stop - first <= 3 and chars < 16:
            cost += 10.0  # a few stray words flashing by
        gaps = (words[i + 1].start - words[i].end for i in range(first, stop - 1))
        cost += sum(max(0.0, gap - 0.7) * 4 for gap in gaps)  # text left up through a pause
        return cost

    def layout(self) -> list[Cue]:
        words, rules = self.words, self.rules
        count = len(words)
        most_chars = rules.max_lines * (rules.max_line_chars + 1)
        # best[i]: (cost, first word of the last cue, its line starts) of the cheapest layout of words[:i]
        nothing: tuple[int, ...] = ()
        best = [(0.0, 0, nothing)] + [(float("inf"), 0, nothing)] * count
        for stop in range(1, count + 1):
            for first in range(stop - 1, -1, -1):
                single = stop - first == 1
                if not single and (
                    self._chars(first, stop) > most_chars
                    or words[stop - 1].end - words[first].start > rules.max_seconds
                ):
                    break
                lines = self._lines(first, stop)
                if lines is None:
                    continue
                cost = best[first][0] + self._cue_cost(first, stop, lines[0])
                if cost < best[stop][0]:
                    best[stop] = (cost, first, lines[1])
        cues: list[Cue] = []
        stop = count
        while stop > 0:
            _, first, starts = best[stop]
            bounds = [*starts, stop]
            cues.append(Cue(tuple(tuple(words[a:b]) for a, b in itertools.pairwise(bounds)), 0.0))
            stop = first
        return cues[::-1]


def _display_ends(cues: list[Cue], audio_end: float, rules: CueRules) -> list[Cue]:
    """Each cue stays up long enough to read, into the silence after it but never past the next cue."""
    shown = []
    for index, cue in enumerate(cues):
        limit = cues[index + 1].start if index + 1 < len(cues) else max(audio_end, cue.end)
        wanted = max(cue.end - cue.start, rules.min_seconds, len(cue.text) / rules.max_cps)
        until = min(cue.start + min(wanted, rules.max_seconds), limit)
        shown.append(Cue(cue.lines, max(until, cue.end)))
    return shown


def layout_cues(
    words: list[TimedWord],
    line_ends: frozenset[int] = frozenset(),
    rules: CueRules | None = None,
    audio_end: float | None = None,
) -> list[Cue]:
    """Cues in order; `line_ends` holds indexes of words followed by a line break in the text."""
    rules = rules or CueRules()
    if not words:
        return []
    cues: list[Cue] = []
    first = 0
    for index in range(len(words)):
        if index in line_ends or index == len(words) - 1:
            next_start = (
                words[index + 1].start if index + 1 < len(words) else words[index].end + rules.max_seconds
            )
            cues.extend(_Paragraph(words[first : index + 1], next_start, rules).layout())
            first = index + 1
    return _display_ends(cues, words[-1].end if audio_end is None else audio_end, rules)
