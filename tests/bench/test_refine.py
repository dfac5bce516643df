"""Pause snapping and pause-anchored windows (pure: no model)."""

import itertools

import pytest

from worker.engine.anchors import place_pauses
from worker.engine.chunking import windows
from worker.engine.fidelity import TimedWord
from worker.engine.refine import match_pauses, snap_to_pauses
from worker.engine.vad import Pause, pauses


def timed(*spans: tuple[float, float]) -> list[TimedWord]:
    return [TimedWord(f"w{i}", s, e, 1.0) for i, (s, e) in enumerate(spans)]


def test_a_pause_absorbed_by_the_next_word_moves_its_start() -> None:
    words = timed((0.0, 0.5), (0.5, 2.0), (2.0, 2.4))  # w1 really starts at 1.5 after a pause
    out = snap_to_pauses(words, [Pause(0.55, 1.5)], duration=3.0)
    assert (out[0].end, out[1].start) == (0.55, 1.5)
    assert (out[1].end, out[2].start, out[2].end) == (2.0, 2.0, 2.4)


def test_far_pauses_are_left_alone_and_words_stay_ordered() -> None:
    words = timed((0.0, 0.5), (0.5, 1.0), (1.0, 1.5))
    assert match_pauses(words, [Pause(3.0, 3.5)]) == {}
    out = snap_to_pauses(words, [Pause(0.9, 1.3)], duration=2.0)
    assert [w.word for w in out] == ["w0", "w1", "w2"]
    assert all(a.end <= b.start and a.start <= a.end for a, b in itertools.pairwise(out))


def test_a_sentence_end_reaches_further_for_its_pause_than_other_boundaries() -> None:
    # the engine ran the sentence 0.8 s past the end of the speaker's 0.6 s pause
    spans = [(0.0, 0.4), (0.4, 2.4), (2.4, 2.8)]
    sentence = [TimedWord(w, s, e, 1.0) for w, (s, e) in zip(["אמר", "רבא.", "מאי"], spans, strict=True)]
    clause = [TimedWord(w, s, e, 1.0) for w, (s, e) in zip(["אמר", "רבא", "מאי"], spans, strict=True)]
    pause = Pause(1.0, 1.6)
    assert match_pauses(sentence, [pause]) == {2: pause}
    assert match_pauses(clause, [pause]) == {}  # mid-sentence: 0.8 s is beyond max_distance
    out = snap_to_pauses(sentence, [pause], duration=3.0)
    assert (out[1].end, out[2].start) == (1.0, 1.6)


def test_a_brief_gap_is_offered_to_sentence_ends_only() -> None:
    """The engine ran a sentence's last word 0.6 s past a gap too short for a pause (70 ms): the
    sentence end takes it. A gap that brief inside a sentence is as likely a stop in a word, so no
    other boundary takes one, even right beside it, where it would take a pause."""
    spans = [(0.0, 0.4), (0.4, 1.6), (1.6, 2.0)]
    sentence = [TimedWord(w, s, e, 1.0) for w, (s, e) in zip(["אמר", "רבא.", "מאי"], spans, strict=True)]
    clause = [TimedWord(w, s, e, 1.0) for w, (s, e) in zip(["אמר", "רבא", "מאי"], spans, strict=True)]
    gap = Pause(0.93, 1.0)
    assert match_pauses(sentence, [], brief=[gap]) == {2: gap}
    out = snap_to_pauses(sentence, [], duration=3.0, brief=[gap])
    assert (out[1].end, out[2].start) == (0.93, 1.0)
    beside = Pause(0.45, 0.52)  # 50 ms after the boundary between "אמר" and "רבא"
    assert match_pauses(clause, [], brief=[beside]) == {}
    assert match_pauses(clause, [beside]) == {1: beside}


def test_a_sentence_end_takes_a_pause_the_engine_put_before_its_last_word() -> None:
    # the engine stretched "אברהם" over the pause and ran "בבוקר?" late: the pause lies in its gap
    # before the last word, 0.65 s (with the edge term) from its sentence end; speakers pause there
    words = [
        TimedWord(w, s, e, 1.0)
        for w, (s, e) in zip(["אברהם", "בבוקר?", "לחתום"], [(0.0, 1.1), (1.6, 2.1), (2.1, 2.5)], strict=True)
    ]
    pause = Pause(1.1, 1.6)
    assert match_pauses(words, [pause]) == {2: pause}
    out = snap_to_pauses(words, [pause], duration=3.0)
    assert (out[1].end, out[2].start) == (1.1, 1.6)
    assert out[0].end <= out[1].start < out[1].end  # the last word squeezed before it, still in order


def test_a_sentence_end_does_not_reach_forward_past_its_next_word() -> None:
    """The engine ends a sentence late, never early: a pause that starts after the next sentence's
    first word has started belongs to a boundary inside that sentence. With the sentence end's reach
    and bonus it took that pause (0.9 s on), crushing three words of the next sentence."""
    spans = [(0.0, 0.7), (1.1, 1.5), (1.5, 2.2), (2.2, 2.7), (2.9, 3.2)]
    texts = ["בבוקר.", "ואנחנו", "עושים", "במלאכה,", "סימן"]
    words = [TimedWord(w, s, e, 1.0) for w, (s, e) in zip(texts, spans, strict=True)]
    pause = Pause(1.8, 2.0)
    assert match_pauses(words, [pause]) == {3: pause}  # the nearest boundary, not the sentence end
    out = snap_to_pauses(words, [pause], duration=4.0)
    assert out[0].end == 0.7  # the sentence end stays where the engine put it
    assert all(w.end - w.start >= 0.3 for w in out[1:3])  # the next sentence's words keep their length


def test_a_sentence_end_the_engine_ran_early_still_takes_its_pause_further_on() -> None:
    """The engine ended "הכוכבים?" 0.3 s early and stretched the next word over the speaker's short
    pause: no boundary further on is nearer to it, so the sentence end keeps its reach and bonus."""
    spans = [(0.0, 0.7), (0.7, 2.2), (2.2, 2.6)]
    texts = ["הכוכבים?", "התוספות", "אומרים"]
    words = [TimedWord(w, s, e, 1.0) for w, (s, e) in zip(texts, spans, strict=True)]
    pause = Pause(1.0, 1.15)  # too short to be taken from 0.375 s without the bonus
    assert match_pauses(words, [pause]) == {1: pause}
    out = snap_to_pauses(words, [pause], duration=3.0)
    assert (out[0].end, out[1].start) == (1.0, 1.15)


def test_a_long_pause_over_two_gaps_goes_to_the_one_it_fits() -> None:
    words = timed((0.0, 1.0), (1.0, 1.2), (5.9, 6.5))  # the pause spans w1 and the gap after it
    assert match_pauses(words, [Pause(1.05, 5.8)]) == {2: Pause(1.05, 5.8)}


def test_each_pause_and_boundary_is_used_once_in_order() -> None:
    words = timed((0.0, 1.0), (1.0, 2.0), (2.0, 3.0))
    matched = match_pauses(words, [Pause(0.9, 1.1), Pause(1.2, 1.4), Pause(1.95, 2.2)])
    assert len(set(matched.values())) == len(matched)
    ordered = [matched[k] for k in sorted(matched)]
    assert ordered == sorted(ordered, key=lambda p: p.start)


def test_pauses_are_runs_of_low_probability() -> None:
    probability = [0.9] * 5 + [0.1] * 10 + [0.9] * 5 + [0.2] * 2 + [0.9]
    found = pauses(__import__("numpy").array(probability), threshold=0.5, min_duration=0.1)
    assert found == [Pause(0.16, 0.48)]  # the 2-frame dip (64 ms) is too short


def test_windows_merge_anchored_pieces_up_to_the_limit() -> None:
    cuts = [(3, Pause(4.0, 5.0)), (6, Pause(9.0, 10.0)), (9, Pause(20.0, 21.0))]
    assert windows(cuts, 12, 30.0, window=12.0) == [(0, 6, 0.0, 9.0), (6, 9, 10.0, 20.0), (9, 12, 21.0, 30.0)]
    assert windows(cuts, 12, 30.0, window=0.01)[0] == (0, 3, 0.0, 4.0)


def test_length_anchors_put_long_pauses_at_sentence_ends() -> None:
    # three sentences of equal length, spoken at one rate, separated by long pauses
    sentence = ["אחד", "שתיים", "שלוש", "ארבע."]
    words = sentence * 3
    pause_a, pause_b = Pause(2.0, 3.0), Pause(5.0, 7.0)
    anchors = place_pauses(words, [pause_a, pause_b], duration=9.0, anchor_pause=0.5).cuts
    assert anchors == [(4, pause_a), (8, pause_b)]


@pytest.mark.parametrize("count", [0, 1])
def test_no_words_no_anchors(count: int) -> None:
    assert place_pauses(["א"] * count, [Pause(1.0, 2.0)], 3.0).cuts == []
