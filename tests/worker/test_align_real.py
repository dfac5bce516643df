"""The alignment core on real Whisper base weights (CPU): real English speech and Hebrew speech."""

import itertools
import json
import os
import statistics
import subprocess
from pathlib import Path

import webvtt

from tests.conftest import REALDATA
from tests.speech import Speech
from worker.engine.alignment import Aligner, AlignmentOptions
from worker.inputs.text import split_words

MFA = REALDATA / "en_mfa_word_reference"


def assert_well_formed(words: list, text: str, duration: float) -> None:
    assert [w.word for w in words] == split_words(text)  # word for word, byte for byte
    previous = 0.0
    for w in words:
        assert previous <= w.start <= w.end <= duration + 1e-6
        previous = w.end


def test_hebrew_lecture_keeps_its_text_and_finds_its_sentences(
    aligner: Aligner, hebrew_lecture: Speech
) -> None:
    alignment = aligner.align(hebrew_lecture.wav, hebrew_lecture.text, AlignmentOptions(language="he"))
    assert_well_formed(alignment.words, hebrew_lecture.text, hebrew_lecture.duration)
    assert "".join(w.word for w in alignment.words).encode() == "".join(hebrew_lecture.text.split()).encode()
    errors, index = [], 0
    for sentence in hebrew_lecture.sentences:
        errors.append(abs(alignment.words[index].start - sentence.start))
        index += len(sentence.text.split())
    assert statistics.median(errors) < 0.5, errors


def test_real_english_speech_lands_near_the_reference(aligner: Aligner) -> None:
    text = (MFA / "acoustic_corpus.txt").read_text()
    reference = json.loads((MFA / "acoustic_corpus.words.json").read_text())["words"]
    alignment = aligner.align(MFA / "acoustic_corpus.wav", text, AlignmentOptions(language="en"))
    assert_well_formed(alignment.words, text, alignment.duration)
    assert [w["word"] for w in reference] == [w.word for w in alignment.words]
    errors = [abs(a.start - r["start"]) for a, r in zip(alignment.words, reference, strict=True)]
    assert statistics.median(errors) < 0.15, errors


def test_cli_aligns_two_local_files(tmp_path: Path, whisper_cache: Path) -> None:
    text = tmp_path / "jfk.txt"
    text.write_text((REALDATA / "en_transcript_only" / "jfk.txt").read_text())
    audio = REALDATA / "en_transcript_only" / "jfk.flac"

    def align(*options: str) -> subprocess.CompletedProcess[str]:
        command = ["timestamp", "align", str(audio), str(text), "--out-dir", str(tmp_path / "out"), *options]
        env = {**os.environ, "WHISPER_CACHE": str(whisper_cache)}
        return subprocess.run(command, capture_output=True, text=True, env=env, check=False)

    model_dir = whisper_cache / "faster-whisper-base"  # WHISPER_MODEL / --model may be a path
    done = align("--language", "en", "--device", "cpu", "--model", str(model_dir))
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    assert "review verdict ok\n" in done.stdout  # the verdict is printed with the summary
    captions = webvtt.read(str(tmp_path / "out" / "jfk.vtt")).captions
    words = [w for c in captions for w in c.text.split()]
    assert words == split_words(text.read_text())
    document = json.loads((tmp_path / "out" / "jfk.json").read_text())
    americans = next(
        w for s in document["segments"] for w in s["words"] if w["word"].startswith(" Americans")
    )
    assert americans["start"] <= 1.8 <= americans["end"] + 0.3  # the upstream Whisper test's timing fact
    again = align()
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"timestamp: error: output {tmp_path / 'out' / 'jfk.vtt'} exists; pass --overwrite to replace it"
    ]


def test_the_first_pass_hears_the_lecture_in_short_chunks(aligner: Aligner, hebrew_lecture: Speech) -> None:
    """The first pass listens in `CHUNK_SECONDS` pieces (stable-ts reports its progress per piece)
    and still finds the sentences: every word of the text, the sentence starts near the truth."""
    from worker.engine.first_pass import CHUNK_SECONDS
    from worker.inputs.audio import load_audio

    samples = load_audio(hebrew_lecture.wav)
    words = split_words(hebrew_lecture.text)
    reports: list[float] = []
    heard = aligner.first_pass_words(
        samples, words, AlignmentOptions(language="he"), lambda done, _total: reports.append(done)
    )
    spelled = ["".join(w.word.split()) for w in heard]  # stable-ts's words carry their leading space
    assert "".join(spelled) == "".join(words)  # it may re-split them, never lose text
    steps = [b - a for a, b in zip([0.0, *reports], reports, strict=False)]
    assert len(steps) >= hebrew_lecture.duration / CHUNK_SECONDS - 1, reports
    assert max(steps) <= CHUNK_SECONDS + 0.5, reports  # never a 30 s chunk
    starts, index = [], 0
    joined = list(itertools.accumulate(len(w) for w in spelled))  # text length up to each heard word
    for sentence in hebrew_lecture.sentences:
        offset = len("".join(words[:index]))  # the heard word where this sentence's text begins
        first = next(i for i, length in enumerate(joined) if length > offset)
        starts.append(abs(heard[first].start - sentence.start))
        index += len(sentence.text.split())
    assert statistics.median(starts) < 0.5, starts
