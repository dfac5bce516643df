import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import stable_whisper
import webvtt

from worker.engine.alignment import Alignment
from worker.engine.fidelity import Repairs, TimedWord
from worker.inputs.text import line_ends, split_words
from worker.publish.cues import RLM
from worker.publish.outputs import FidelityError, PublishOptions, render, verify_fidelity
from worker.settings import OUTPUT_FORMATS

TEXT = "רבי יוחנן אמר: <הלכה> & מנהג.\nשלום עולם\nעוד מילה"


def alignment_of(text: str, gap: float = 0.1) -> Alignment:
    words, t = [], 0.0
    for word in split_words(text):
        words.append(TimedWord(word, t, t + 0.3, 0.8))
        t += 0.3 + gap
    return Alignment(
        words, line_ends(text), t, "he", Repairs(0, 0, 0), len(words), 0.5, "faster-whisper:base"
    )


def test_vtt_is_valid_and_carries_the_text_untouched() -> None:
    rendered = render(alignment_of(TEXT), TEXT)
    captions = webvtt.from_string(rendered.vtt).captions
    assert [c.text for c in captions] == [
        f"{RLM}רבי יוחנן אמר: &lt;הלכה&gt; &amp; מנהג.",
        f"{RLM}שלום עולם",
        f"{RLM}עוד מילה",
    ]
    starts = [c.start_in_seconds for c in captions]
    assert starts == sorted(starts)


def test_json_loads_in_stable_ts_and_has_quality_and_source(tmp_path: Path) -> None:
    rendered = render(alignment_of(TEXT), TEXT, {"text_key": "t.txt"})
    path = tmp_path / "out.json"
    path.write_text(rendered.json, encoding="utf-8")
    result = stable_whisper.WhisperResult(str(path))
    assert [w.word.strip() for s in result.segments for w in s.words] == split_words(TEXT)
    document = json.loads(rendered.json)
    assert "ori_dict" not in document
    assert document["quality"]["words"] == len(split_words(TEXT))
    assert document["source"]["text_key"] == "t.txt"
    assert len(document["source"]["vtt_sha256"]) == 64


def test_tampered_renderings_are_refused() -> None:
    rendered = render(alignment_of(TEXT), TEXT, options=PublishOptions(formats=OUTPUT_FORMATS))
    document = json.loads(rendered.json)
    document["segments"][0]["words"].pop()
    tampered_json = {**rendered.files, "json": json.dumps(document, ensure_ascii=False)}
    with pytest.raises(FidelityError, match="JSON words differ"):
        verify_fidelity(TEXT, replace(rendered, files=tampered_json))
    for name in ("vtt", "srt", "words.vtt", "tsv"):
        tampered = {**rendered.files, name: rendered.files[name].replace("שלום", "שלומ")}
        with pytest.raises(FidelityError, match="words differ"):
            verify_fidelity(TEXT, replace(rendered, files=tampered))


def test_every_format_carries_the_same_words_and_times(tmp_path: Path) -> None:
    text = "OK, אז נמשיך: <הלכה> & מנהג.\nZoom הוא הכלי שבו נשתמש היום, ונראה את דברי הראשונים בסוגיה.\n"
    rendered = render(alignment_of(text), text, options=PublishOptions(formats=OUTPUT_FORMATS))
    assert list(rendered.files) == ["vtt", "srt", "words.vtt", "tsv", "json"]  # JSON last
    source = rendered.json_document["source"]
    for name in ("vtt", "srt", "words.vtt", "tsv"):
        assert (
            source[f"{name.replace('.', '_')}_sha256"]
            == hashlib.sha256(rendered.files[name].encode()).hexdigest()
        )
    srt = rendered.files["srt"]
    assert srt.startswith("1\n00:00:00,000 --> ") and f"{RLM}OK, אז נמשיך: <הלכה> & מנהג." in srt
    rows = [line.split("\t") for line in rendered.files["tsv"].splitlines()]
    words = [w for s in rendered.json_document["segments"] for w in s["words"]]
    assert [(int(a), int(b), c) for a, b, c in rows] == [
        (round(w["start"] * 1000), round(w["end"] * 1000), w["word"].strip()) for w in words
    ]
    karaoke = webvtt.from_string(rendered.files["words.vtt"]).captions
    assert "<00:00:00.300>" in karaoke[0].raw_text  # a timestamp tag between the first two words
    assert rendered.files["words.vtt"].count(RLM) == rendered.files["vtt"].count(RLM)


def test_rtl_mark_only_for_rtl_languages_and_can_be_turned_off() -> None:
    hebrew = render(alignment_of(TEXT), TEXT)
    assert all(line.startswith(RLM) for c in webvtt.from_string(hebrew.vtt).captions for line in c.lines)
    english = replace(alignment_of("Hello world.\nGood bye."), language="en")
    assert RLM not in render(english, "Hello world.\nGood bye.").vtt
    unmarked = render(alignment_of(TEXT), TEXT, options=PublishOptions(rtl_mark=False))
    assert RLM not in unmarked.vtt
