"""Cue layout: subtitle reading norms hold, and the words and their times stay exactly as aligned."""

from __future__ import annotations

import itertools

from worker.engine.fidelity import TimedWord
from worker.inputs.text import line_ends, split_words
from worker.publish.cues import Cue, CueRules, layout_cues

LECTURE = (
    "שלום לכולם, וברוכים הבאים לשיעור הדף היומי. היום אנחנו לומדים במסכת ברכות, דף ב, עמוד א. "
    "המשנה אומרת: מאימתי קורין את שמע בערבית? משעה שהכהנים נכנסים לאכול בתרומתן, עד סוף האשמורה "
    "הראשונה, דברי רבי אליעזר. וחכמים אומרים: עד חצות. רבן גמליאל אומר: עד שיעלה עמוד השחר. "
    "ולא זו בלבד אמרו, אלא כל מה שאמרו חכמים עד חצות, מצותן עד שיעלה עמוד השחר."
)


def timed(text: str, seconds_per_char: float = 0.06, gap: float = 0.08) -> list[TimedWord]:
    """Words spoken at a steady pace (about 14 characters per second with the gaps)."""
    words, t = [], 0.0
    for word in split_words(text):
        words.append(TimedWord(word, t, t + len(word) * seconds_per_char, 0.9))
        t += len(word) * seconds_per_char + gap
    return words


def texts(cues: list[Cue]) -> list[str]:
    return [c.text for c in cues]


def test_lines_cues_and_durations_stay_within_the_norms() -> None:
    words = timed(" ".join([LECTURE] * 4))
    cues = layout_cues(words)
    assert [w for c in cues for w in c.words] == words  # same objects: nothing moved or retimed
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2
        assert all(len(line) <= 42 for line in cue.line_texts()), cue.line_texts()
        assert cue.end - cue.start <= 7.0
        assert cue.shown_until >= cue.end
    for cue, following in itertools.pairwise(cues):
        assert cue.shown_until <= following.start  # never overlaps the next cue
    assert all(len(c.words) > 2 for c in cues), [c.text for c in cues if len(c.words) <= 2]


def test_two_lines_are_balanced_and_break_after_punctuation_or_before_a_conjunction() -> None:
    # A comma would allow 21 + 44 (too long) or 55 + 9; the best break is before the preposition עד.
    text = "ולא זו בלבד אמרו, אלא כל מה שאמרו חכמים עד חצות, מצותן עד שיעלה עמוד השחר."
    (cue,) = layout_cues(timed(text))
    assert cue.line_texts() == [
        "ולא זו בלבד אמרו, אלא כל מה שאמרו חכמים",
        "עד חצות, מצותן עד שיעלה עמוד השחר.",
    ]
    text = "שלום לכולם וברוכים הבאים, לשיעור הדף היומי במסכת ברכות."
    (cue,) = layout_cues(timed(text))
    assert cue.line_texts() == ["שלום לכולם וברוכים הבאים,", "לשיעור הדף היומי במסכת ברכות."]


def test_a_colon_does_not_end_a_cue_on_its_own() -> None:
    cues = layout_cues(timed("המשנה אומרת: מאימתי קורין את שמע בערבית?"))
    assert texts(cues) == ["המשנה אומרת: מאימתי קורין את שמע בערבית?"]


def test_no_break_after_a_title_or_an_abbreviation_mark() -> None:
    # Without the rule, 30-character lines break after רש"י (before מפרש).
    text = "אמר ר' אליעזר שמותר לקרות את שמע עד שיעלה עמוד השחר ורש\"י מפרש שם שכך היא ההלכה בכל מקום"
    for rules in (CueRules(), CueRules(max_line_chars=36), CueRules(max_line_chars=30)):
        for cue in layout_cues(timed(text), rules=rules):
            for line in cue.line_texts():
                assert not line.endswith(("ר'", 'רש"י', "רבי")), cue.line_texts()


def test_an_abbreviation_that_ends_a_sentence_may_end_a_line() -> None:
    text = 'כך אמרו רבותינו ז"ל. ועכשיו נמשיך ללמוד את המשנה, ונראה מה כתוב בה לגבי זמן קריאת שמע.'
    lines = [line for cue in layout_cues(timed(text)) for line in cue.line_texts()]
    assert lines[0] == 'כך אמרו רבותינו ז"ל.', lines


def test_a_quotation_is_not_split() -> None:
    text = 'אמר רבי יוחנן "כל האומר דבר בשם אומרו מביא גאולה לעולם" וכך נהגו חכמים בכל הדורות כולם.'
    lines = [line for cue in layout_cues(timed(text)) for line in cue.line_texts()]
    assert '"כל האומר דבר בשם אומרו מביא גאולה לעולם"' in lines


def test_no_stray_words_at_the_end_of_a_sentence() -> None:
    text = "וכך אמרו חכמים בכל הדורות שהלכה כמותו בכל מקום ובכל זמן לעולם ועד. ON THE LEFT."
    cues = layout_cues(timed(text), rules=CueRules(max_line_chars=30))
    assert all(len(c.text) >= 16 for c in cues), texts(cues)


def test_a_line_break_in_the_text_always_ends_a_cue() -> None:
    text = "שלום לכולם\nהיום נלמד\nדף ב"
    cues = layout_cues(timed(text), line_ends(text))
    assert texts(cues) == ["שלום לכולם", "היום נלמד", "דף ב"]


def test_a_short_cue_stays_up_into_the_following_silence_but_not_past_the_next() -> None:
    first = TimedWord("אמר", 0.0, 0.3, 0.9)
    rest = [TimedWord("להם", 0.35, 0.6, 0.9), TimedWord("שלום.", 4.0, 4.3, 0.9)]
    text_words = [first, *rest]
    cues = layout_cues(text_words, frozenset({1}), audio_end=4.4)
    assert cues[0].shown_until == 5 / 6  # the minimum, in the pause (the words still end at 0.6)
    assert cues[0].words[-1].end == 0.6
    assert cues[1].shown_until == 4.4  # up to the end of the audio, not beyond
    crowded = [first, TimedWord("להם.", 0.35, 0.6, 0.9), TimedWord("שלום", 0.7, 1.0, 0.9)]
    cues = layout_cues(crowded, frozenset({1}))
    assert cues[0].shown_until == 0.7  # the next cue starts: no overlap


def test_a_dense_cue_stays_up_long_enough_to_read() -> None:
    text = "ואי בעית אימא יליף מברייתו של עולם."
    cues = layout_cues(timed(text, seconds_per_char=0.02, gap=0.0), audio_end=10.0)
    (cue,) = cues
    assert len(cue.text) / (cue.shown_until - cue.start) <= 17.0 + 1e-9


def test_settings_change_the_layout() -> None:
    words = timed(LECTURE)
    narrow = layout_cues(words, rules=CueRules(max_line_chars=30, max_lines=1))
    assert all(len(c.lines) == 1 and len(c.text) <= 30 for c in narrow)
    short = layout_cues(words, rules=CueRules(max_seconds=3.0))
    assert all(c.end - c.start <= 3.0 for c in short)
    assert len(short) > len(layout_cues(words))
