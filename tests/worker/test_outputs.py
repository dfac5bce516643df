import json
from dataclasses import replace
from pathlib import Path

import pytest
import stable_whisper
import webvtt

from worker.engine.alignment import Alignment
from worker.engine.fidelity import Repairs, TimedWord
from worker.inputs.text import line_ends, split_words
from worker.publish.cues import MAX_CUE_CHARS, group_cues
from worker.publish.outputs import FidelityError, Rendered, render, verify_fidelity

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
        "רבי יוחנן אמר:",
        "&lt;הלכה&gt; &amp; מנהג.",
        "שלום עולם",
        "עוד מילה",
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


def test_long_speech_is_cut_into_readable_cues() -> None:
    text = " ".join(["מילה"] * 200)
    cues = group_cues(alignment_of(text).words)
    assert all(len(c.text) <= MAX_CUE_CHARS for c in cues)
    assert sum(len(c.words) for c in cues) == 200


def test_a_pause_starts_a_new_cue() -> None:
    cues = group_cues(alignment_of("א ב ג", gap=1.5).words)
    assert [c.text for c in cues] == ["א", "ב", "ג"]


def test_tampered_renderings_are_refused() -> None:
    rendered = render(alignment_of(TEXT), TEXT)
    document = json.loads(rendered.json)
    document["segments"][0]["words"].pop()
    with pytest.raises(FidelityError, match="JSON words differ"):
        verify_fidelity(TEXT, Rendered(rendered.vtt, document))
    with pytest.raises(FidelityError, match="VTT words differ"):
        verify_fidelity(TEXT, replace(rendered, vtt=rendered.vtt.replace("שלום", "שלומ")))
