"""A cut whose window comes out squeezed is moved where both windows fit (pure: a stand-in aligner
that hears each word where it was said and squeezes the words its audio does not hold)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from worker.engine.fidelity import TimedWord
from worker.engine.recheck import (
    EDGE_SPEECH_SECONDS,
    MAX_PLACE_SECONDS,
    Span,
    SpanAligner,
    candidate_boundaries,
    recheck_cuts,
    recheck_edges,
    settle_disagreements,
    speech_seconds,
    squeezed,
)
from worker.engine.vad import Pause

SENTENCE = [
    "בזמן",
    "שבין",
    "השמשות",
    "כל",
    "זמן",
    "שבני",
    "אדם",
    "הולכים",
    "לישון",
    "נחשב",
    "זמן",
    "שכיבה",
    "לדברי",
    "הכל.",
]
N = len(SENTENCE)  # 14: a sentence too many squeezes more than `SUSPECT_WORDS`


def lecture(sentences: int, pause: float = 0.5) -> tuple[list[str], list[TimedWord], list[float]]:
    """Sentences of N words, 0.3 s a word, `pause` s pauses; the words, their truth, the pauses' middles."""
    words: list[str] = []
    truth: list[TimedWord] = []
    middles: list[float] = []
    t = 0.5
    for _ in range(sentences):
        for word in SENTENCE:
            words.append(word)
            truth.append(TimedWord(word, t, t + 0.28, 0.5))
            t += 0.3
        middles.append(t + pause / 2)
        t += pause
    return words, truth, middles


def hearing(truth: list[TimedWord], calls: list[int]) -> SpanAligner:
    """Aligns a window as stable-ts does when its text and audio disagree: the words said in the
    window's audio where they were said, the others squeezed at its edge (10 ms each)."""

    def align(spans: Sequence[Span]) -> list[list[TimedWord]]:
        calls.append(len(spans))
        out = []
        for first, end, start_s, end_s in spans:
            timed = []
            for i in range(first, end):
                w = truth[i]
                if start_s <= w.start < end_s:
                    timed.append(TimedWord(w.word, w.start - start_s, w.end - start_s, 0.5))
                else:
                    at = 0.0 if w.start < start_s else end_s - start_s - 0.01 * (end - i)
                    timed.append(TimedWord(w.word, max(at, 0.0), max(at, 0.0) + 0.01, 0.01))
            timed.sort(key=lambda w: w.start)
            out.append(timed)
        return out

    return align


def spans_at(cuts: list[tuple[int, int]], middles: list[float], words: int, duration: float) -> list[Span]:
    """Windows between the pauses in `cuts` ((pause, boundary) each), with the text cut there."""
    edges = [(0, 0.0), *[(k, middles[pause]) for pause, k in cuts], (words, duration)]
    return [(k1, k2, s1, s2) for (k1, s1), (k2, s2) in itertools.pairwise(edges)]


def test_a_run_of_very_short_words_counts_as_squeezed_a_short_one_alone_does_not() -> None:
    def words(durations: list[float]) -> list[TimedWord]:
        return [TimedWord("מילה", i, i + d, 0.5) for i, d in enumerate(durations)]

    assert squeezed(words([0.3, 0.01, 0.01, 0.01, 0.01, 0.3])) == 4
    assert squeezed(words([0.01, 0.01, 0.01, 0.3, 0.02, 0.3, 0.01, 0.01, 0.01])) == 0
    assert squeezed(words([0.02] * 7)) == 7


def test_the_cuts_tried_are_the_nearest_sentence_and_clause_ends_inside_the_two_windows() -> None:
    words = ["א", "ב.", "ג", "ד,", "ה", "ו", "ז.", "ח", "ט?", "י"]
    assert candidate_boundaries(words, 0, 10, 7) == [4, 2, 9]  # never the cut itself
    assert candidate_boundaries(words, 3, 8, 7) == [4]  # nor a window's own edge (3)


def test_a_cut_placed_one_sentence_early_is_moved_back() -> None:
    words, truth, middles = lecture(8)  # windows of two sentences: a cut at every other pause
    right = [(p, N * (p + 1)) for p in (1, 3, 5)]
    wrong = [right[0], (3, 3 * N), right[2]]  # the pause after sentence 4 placed after sentence 3
    calls: list[int] = []
    align = hearing(truth, calls)
    spans = spans_at(wrong, middles, len(words), truth[-1].end + 0.5)
    timed = align(spans)
    assert squeezed(timed[2]) == N  # the window after the cut holds a sentence it does not hear
    assert recheck_cuts(words, spans, timed, align) == 1
    assert spans == spans_at(right, middles, len(words), truth[-1].end + 0.5)
    assert sum(squeezed(t) for t in timed) == 0
    assert [w.word for t in timed for w in t] == words  # every word, once, in order


def test_windows_that_fit_are_not_aligned_again() -> None:
    words, truth, middles = lecture(5)
    calls: list[int] = []
    align = hearing(truth, calls)
    spans = spans_at([(p, N * (p + 1)) for p in range(4)], middles, len(words), truth[-1].end + 0.5)
    timed = align(spans)
    before = list(spans)
    assert recheck_cuts(words, spans, timed, align) == 0
    assert spans == before
    assert calls == [5]  # only the first alignment


def test_a_window_left_wordless_keeps_no_words() -> None:
    """A music intro: the anchoring gave its window no text. The window after it holds a sentence
    too many; the fix moves the cut after it, never text into the music."""
    words, truth, middles = lecture(3)
    music = 10.0
    said = [TimedWord(w.word, w.start + music, w.end + music, 0.5) for w in truth]
    align = hearing(said, [])
    duration = said[-1].end + 0.5
    spans: list[Span] = [
        (0, 0, 0.0, music),
        (0, 2 * N, music, middles[0] + music),  # holds sentence 1's audio, sentences 1 and 2's text
        (2 * N, 3 * N, middles[0] + music, duration),
    ]
    timed = align(spans)
    assert recheck_cuts(words, spans, timed, align) == 1
    assert spans[0][:2] == (0, 0)
    assert spans[1][:2] == (0, N)
    assert sum(squeezed(t) for t in timed) == 0


def test_a_move_the_model_hears_worse_is_not_taken() -> None:
    """Squeezed words alone do not prove the cut wrong (the model misplaces words in windows whose
    cuts are right): a move must not lower how well the model hears the two windows' words."""
    words, truth, middles = lecture(4)
    spans = spans_at([(1, 2 * N)], middles, len(words), truth[-1].end + 0.5)
    squeezed_in = [TimedWord(w, 0.0, 0.01, 0.5) for w in words[2 * N :]]
    heard = [[TimedWord(w, 0.0, 0.3, 0.5) for w in words[: 2 * N]], squeezed_in]

    def unsure(chosen: Sequence[Span]) -> list[list[TimedWord]]:  # fits everywhere, hears nothing
        return [
            [TimedWord(words[i], 0.3 * i, 0.3 * i + 0.28, 0.001) for i in range(a, b)]
            for a, b, _, _ in chosen
        ]

    before = list(spans)
    assert recheck_cuts(words, spans, heard, unsure) == 0
    assert spans == before
    assert heard[1] == squeezed_in


def speech_of(truth: list[TimedWord]) -> list[tuple[float, float]]:
    """Where the VAD hears speech: the words, joined across gaps shorter than 0.1 s."""
    spans: list[tuple[float, float]] = []
    for w in truth:
        if spans and w.start - spans[-1][1] < 0.1:
            spans[-1] = (spans[-1][0], w.end)
        else:
            spans.append((w.start, w.end))
    return spans


def test_speech_seconds_counts_only_speech_inside_the_interval() -> None:
    speech = [(0.0, 1.0), (2.0, 3.0), (4.0, 6.0)]
    assert speech_seconds(speech, 0.5, 4.5) == 2.0
    assert speech_seconds(speech, 1.0, 2.0) == 0.0
    assert speech_seconds(speech, 3.0, 2.0) == 0.0


def test_a_cut_a_few_words_early_leaves_speech_without_words_and_is_moved() -> None:
    """The pause after sentence 2 placed 11 words early (at a clause end): too few squeezed words for
    the squeezed test, but 3.3 s of speech after the left window's last word. The cut moves to the
    sentence end, where both windows fit and the model hears every word."""
    words, truth, middles = lecture(4)
    words[N + 2] += ","  # a clause end in sentence 2 ...
    truth[N + 2] = TimedWord(words[N + 2], truth[N + 2].start, truth[N + 2].end, 0.5)
    right = [(p, N * (p + 1)) for p in (0, 1, 2)]
    early = [right[0], (1, N + 3), right[2]]  # ... where the anchoring put the pause: 11 words early
    spans = spans_at(early, middles, len(words), truth[-1].end + 0.5)
    align = hearing(truth, [])
    timed = align(spans)
    assert recheck_cuts(words, spans, timed, align) == 0  # the squeezed test does not see it
    assert recheck_edges(words, spans, timed, align, speech_of(truth)) == 1
    assert spans == spans_at(right, middles, len(words), truth[-1].end + 0.5)
    assert [w.word for t in timed for w in t] == words


def test_speech_the_text_does_not_hold_beside_a_cut_leaves_the_cut_alone() -> None:
    """A filler said before the pause (speech after the last word that no text belongs to): moving
    the cut to the next clause end would take three words into audio that does not say them (too few
    to count as squeezed), which the model hears worse, so nothing moves."""
    words, truth, middles = lecture(3, pause=2.0)
    words[N + 2] += ","  # a clause end to move the cut to
    truth[N + 2] = TimedWord(words[N + 2], truth[N + 2].start, truth[N + 2].end, 0.5)
    said = truth[N - 1].end + 0.05
    filler = TimedWord("אה", said, said + EDGE_SPEECH_SECONDS + 0.1, 0.5)  # before the cut (+1 s)
    speech = speech_of([*truth[:N], filler, *truth[N:]])
    spans = spans_at([(0, N), (1, 2 * N)], middles, len(words), truth[-1].end + 0.5)
    calls: list[int] = []
    align = hearing(truth, calls)
    timed = align(spans)
    before = list(spans)
    assert recheck_edges(words, spans, timed, align, speech) == 0
    assert spans == before
    assert len(calls) == 2  # the cut was tried, and the try refused


def test_cuts_with_their_speech_covered_are_not_aligned_again() -> None:
    words, truth, middles = lecture(4)
    calls: list[int] = []
    align = hearing(truth, calls)
    spans = spans_at([(p, N * (p + 1)) for p in range(3)], middles, len(words), truth[-1].end + 0.5)
    timed = align(spans)
    assert recheck_edges(words, spans, timed, align, speech_of(truth)) == 0
    assert calls == [4]


def test_an_edge_move_the_model_hears_worse_is_not_taken() -> None:
    """Speech beside a cut does not prove it wrong either: a move must leave the words heard no worse."""
    words, truth, middles = lecture(4)
    words[N + 2] += ","
    truth[N + 2] = TimedWord(words[N + 2], truth[N + 2].start, truth[N + 2].end, 0.5)
    spans = spans_at([(0, N), (1, N + 3), (2, 3 * N)], middles, len(words), truth[-1].end + 0.5)
    timed = hearing(truth, [])(spans)

    def unsure(chosen: Sequence[Span]) -> list[list[TimedWord]]:  # fills every window, hears nothing
        out = []
        for a, b, start, end in chosen:
            step = (end - start) / max(b - a, 1)
            out.append([TimedWord(words[i], (i - a) * step, (i - a + 1) * step, 0.001) for i in range(a, b)])
        return out

    before = list(spans)
    assert recheck_edges(words, spans, timed, unsure, speech_of(truth)) == 0
    assert spans == before


def placed(middles: list[float], at: list[tuple[int, int]]) -> list[tuple[int, Pause]]:
    """Cuts as the anchoring gives them ((boundary, pause) each) from (pause, boundary) pairs."""
    return [(k, Pause(middles[p] - 0.25, middles[p] + 0.25)) for p, k in at]


def test_pauses_a_first_pass_pulled_one_sentence_on_are_placed_by_the_rate_instead() -> None:
    """The first pass heard sentences 2-3 late: its anchoring put the pause after sentence 2 after
    sentence 3, and left the pause after sentence 3 unplaced. Between the pauses both place alike,
    the rate's pieces are all heard where they lie, the first pass's squeeze a sentence: the rate's win."""
    words, truth, middles = lecture(5)
    rate = placed(middles, [(p, N * (p + 1)) for p in range(4)])
    pulled = [rate[0], (3 * N, rate[1][1]), rate[3]]
    calls: list[int] = []
    duration = truth[-1].end + 0.5
    assert settle_disagreements(words, pulled, rate, duration, hearing(truth, calls)) == rate
    assert calls == [2 + 3]  # one call: the pieces of either placement between the agreed pauses


def test_pauses_the_first_pass_placed_right_stay_where_it_placed_them() -> None:
    words, truth, middles = lecture(5)
    right = placed(middles, [(p, N * (p + 1)) for p in range(4)])
    rate = [right[0], (3 * N, right[1][1]), right[3]]  # the rate alone is a sentence off here
    assert settle_disagreements(words, right, rate, truth[-1].end + 0.5, hearing(truth, [])) == right


def test_a_disagreement_before_the_first_shared_pause_is_settled_from_the_recording_start() -> None:
    words, truth, middles = lecture(4)
    rate = placed(middles, [(p, N * (p + 1)) for p in range(3)])
    pulled = [(2 * N, rate[0][1]), rate[2]]  # the first pause a sentence late; the second unplaced
    assert settle_disagreements(words, pulled, rate, truth[-1].end + 0.5, hearing(truth, [])) == rate


def test_placements_heard_alike_keep_the_first_pass_and_agreeing_ones_align_nothing() -> None:
    words, truth, middles = lecture(5)
    rate = placed(middles, [(p, N * (p + 1)) for p in range(4)])
    pulled = [rate[0], (3 * N, rate[1][1]), rate[3]]
    duration = truth[-1].end + 0.5

    def deaf(chosen: Sequence[Span]) -> list[list[TimedWord]]:  # every word equally (un)sure anywhere
        return [
            [TimedWord(words[i], 0.3 * (i - a), 0.3 * (i - a + 1), 0.1) for i in range(a, b)]
            for a, b, _, _ in chosen
        ]

    assert settle_disagreements(words, pulled, rate, duration, deaf) == pulled
    calls: list[int] = []
    assert settle_disagreements(words, rate, list(rate), duration, hearing(truth, calls)) == rate
    assert calls == []


def test_a_disagreement_too_long_to_settle_keeps_the_first_pass_without_aligning() -> None:
    """The rate alone lost the text for longer than MAX_PLACE_SECONDS (real speech with fillers):
    checking would align all of it twice more, and there the first pass is the one to trust."""
    words, truth, middles = lecture(12)  # 12 sentences of 4.2 s: 55 s between the shared pauses
    assert middles[-2] - middles[0] > MAX_PLACE_SECONDS
    rate = placed(middles, [(p, N * (p + 1)) for p in range(11)])
    pulled = [rate[0], (3 * N, rate[1][1]), rate[-1]]
    calls: list[int] = []
    assert settle_disagreements(words, pulled, rate, truth[-1].end + 0.5, hearing(truth, calls)) == pulled
    assert calls == []
