"""Text fidelity: the published words are exactly the corrected text's words, whatever the engine did.

stable-ts re-tokenises the text and can insert a duplicate word, drop one, or split and merge words
differently. Instead of trusting its word list, we map its timings back onto the original words:
1. match the two word sequences (cheap, on whole words);
2. inside each mismatching stretch, match characters, so a word split or merged by the tokenizer
   still gets the time span of the engine words that carry its characters;
3. engine words that carry no original character (insertions) are discarded; original words that
   got no time (drops) are placed by interpolation between their timed neighbours.
Everything is counted, so a job can be judged (and failed) on how much had to be repaired.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher


@dataclass(frozen=True, slots=True)
class TimedWord:
    word: str
    start: float
    end: float
    probability: float
    # False: the audio holds no speech for this word (never said, or placed by interpolation); the JSON
    # marks it so a reviewer can find it. The word is still published, with a short span where it belongs.
    spoken: bool = True


@dataclass(frozen=True, slots=True)
class Repairs:
    """What it took to put the corrected text back: all zero when the engine kept the text intact."""

    inserted: int  # engine words with no counterpart in the text (discarded)
    dropped: int  # text words the engine lost (timed by interpolation)
    resplit: int  # text words whose characters the engine split or merged differently

    @property
    def total(self) -> int:
        return self.inserted + self.dropped + self.resplit


def _key(word: str) -> str:
    return word.strip()


def reconcile(
    text_words: list[str], engine: list[TimedWord], duration: float
) -> tuple[list[TimedWord], Repairs]:
    """Timed words carrying exactly `text_words`, with times taken from `engine`."""
    spans: list[tuple[float, float, float] | None] = [None] * len(text_words)
    inserted = resplit = 0
    matcher = SequenceMatcher(
        None, [_key(w) for w in text_words], [_key(w.word) for w in engine], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for offset in range(i2 - i1):
                e = engine[j1 + offset]
                spans[i1 + offset] = (e.start, e.end, e.probability)
            continue
        block_spans, unused = _match_characters(text_words[i1:i2], engine[j1:j2])
        inserted += unused
        for offset, span in enumerate(block_spans):
            spans[i1 + offset] = span
            resplit += span is not None
    dropped = sum(span is None for span in spans)
    words = _fill_gaps(text_words, spans, duration)
    return words, Repairs(inserted=inserted, dropped=dropped, resplit=resplit)


def _match_characters(
    words: list[str], engine: list[TimedWord]
) -> tuple[list[tuple[float, float, float] | None], int]:
    """Per text word, the span of the engine words sharing its characters; and the unused engine words."""
    text_owner = [i for i, w in enumerate(words) for _ in _key(w)]
    engine_owner = [j for j, w in enumerate(engine) for _ in _key(w.word)]
    text_chars = "".join(_key(w) for w in words)
    engine_chars = "".join(_key(w.word) for w in engine)
    hits: list[set[int]] = [set() for _ in words]
    for block in SequenceMatcher(None, text_chars, engine_chars, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            hits[text_owner[block.a + k]].add(engine_owner[block.b + k])
    used = set().union(*hits) if hits else set()
    spans: list[tuple[float, float, float] | None] = []
    for owners in hits:
        if not owners:
            spans.append(None)
            continue
        chosen = [engine[j] for j in sorted(owners)]
        spans.append((chosen[0].start, chosen[-1].end, min(e.probability for e in chosen)))
    return spans, len(engine) - len(used)


def _fill_gaps(
    words: list[str], spans: list[tuple[float, float, float] | None], duration: float
) -> list[TimedWord]:
    """Monotonic times inside [0, duration]; untimed runs share the gap around them by length."""
    timed: list[TimedWord] = []
    last_end = 0.0
    i = 0
    while i < len(words):
        span = spans[i]
        if span is not None:
            start = min(max(span[0], last_end), duration)
            end = min(max(span[1], start), duration)
            timed.append(TimedWord(words[i], start, end, span[2]))
            last_end = end
            i += 1
            continue
        j = i
        while j < len(words) and spans[j] is None:
            j += 1
        next_start = spans[j][0] if j < len(words) else duration  # type: ignore[index]
        gap_end = min(max(next_start, last_end), duration)
        lengths = [max(len(w), 1) for w in words[i:j]]
        cursor, step = last_end, (gap_end - last_end) / sum(lengths)
        for word, length in zip(words[i:j], lengths, strict=True):
            timed.append(TimedWord(word, cursor, cursor + step * length, 0.0, spoken=False))  # no evidence
            cursor += step * length
        last_end = gap_end
        i = j
    return timed
