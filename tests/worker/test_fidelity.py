from worker.engine.fidelity import TimedWord, reconcile


def timed(*spans: tuple[str, float, float]) -> list[TimedWord]:
    return [TimedWord(w, s, e, 0.9) for w, s, e in spans]


def test_identical_words_keep_the_engine_times() -> None:
    words, repairs = reconcile(["א", "ב"], timed((" א", 0.1, 0.4), (" ב", 0.5, 0.9)), 2.0)
    assert [(w.word, w.start, w.end) for w in words] == [("א", 0.1, 0.4), ("ב", 0.5, 0.9)]
    assert repairs.total == 0


def test_a_duplicated_last_word_is_discarded() -> None:
    engine = timed((" אמר", 0.0, 0.5), (" רבא", 0.5, 1.0), (" רבא", 1.0, 1.2))
    words, repairs = reconcile(["אמר", "רבא"], engine, 1.2)
    assert [w.word for w in words] == ["אמר", "רבא"]
    assert repairs.inserted == 1
    assert words[-1].end <= 1.0


def test_a_dropped_word_is_placed_between_its_neighbours() -> None:
    words, repairs = reconcile(["a", "bb", "c"], timed((" a", 0.0, 1.0), (" c", 3.0, 4.0)), 5.0)
    assert [w.word for w in words] == ["a", "bb", "c"]
    assert repairs.dropped == 1
    assert 1.0 <= words[1].start < words[1].end <= 3.0
    assert words[1].probability == 0.0


def test_words_split_or_merged_by_the_tokenizer_get_the_span_of_their_pieces() -> None:
    engine = timed((" don", 0.0, 0.2), ("'t", 0.2, 0.4), (" goaway", 0.5, 1.5))
    words, repairs = reconcile(["don't", "go", "away"], engine, 2.0)
    assert (words[0].word, words[0].start, words[0].end) == ("don't", 0.0, 0.4)
    assert words[1].start == 0.5 and words[2].end == 1.5
    assert repairs.inserted == 0 and repairs.dropped == 0


def test_times_are_monotonic_and_inside_the_audio() -> None:
    engine = timed((" a", 2.0, 3.0), (" b", 1.0, 1.5), (" c", 4.0, 9.0))
    words, _ = reconcile(["a", "b", "c"], engine, 5.0)
    ends = [0.0]
    for w in words:
        assert ends[-1] <= w.start <= w.end <= 5.0
        ends.append(w.end)


def test_an_engine_that_returns_nothing_still_yields_every_word() -> None:
    words, repairs = reconcile(["x", "y", "z"], [], 3.0)
    assert [w.word for w in words] == ["x", "y", "z"]
    assert repairs.dropped == 3
    assert words[0].start == 0.0 and words[-1].end == 3.0
