"""Refusing bad input before any alignment work: one place for every limit a job is checked against.

The queue worker checks a job in this order, each before the next costs anything: keys and id
(worker.cloud.messages), language, the transcript's size and shape (after reading it), the audio's
container and stated duration (probed, not decoded), the words per second of stated audio, then it
decodes (bounded by MAX_AUDIO_SECONDS) and checks the words per second of the real duration.
`timestamp align` calls `check_inputs` before it loads the model. Every refusal is one line naming
the input, the number found and the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worker.inputs.audio import AudioError, AudioInfo, probe_audio
from worker.inputs.keys import KeyRefused
from worker.inputs.language import UnknownLanguage, check_language
from worker.inputs.text import TranscriptError, decode_transcript, split_words
from worker.settings import Settings


class ImplausibleInput(ValueError):
    """The text cannot belong to the audio (far more words than the audio could hold)."""


# Every refusal of a job's input: permanent (retrying the same input cannot help).
BAD_INPUT: tuple[type[ValueError], ...] = (
    AudioError,
    ImplausibleInput,
    KeyRefused,
    TranscriptError,
    UnknownLanguage,
)


def read_transcript(data: bytes, name: str, settings: Settings) -> str:
    """The transcript's text, refused when larger than MAX_TEXT_BYTES (before it is parsed)."""
    if len(data) > settings.max_text_bytes:
        raise TranscriptError(f"{name} is {len(data):,} bytes; MAX_TEXT_BYTES is {settings.max_text_bytes:,}")
    return decode_transcript(data, name)


def check_audio(path: Path, name: str, settings: Settings) -> AudioInfo:
    """The audio's container and stated duration, refused when over MAX_AUDIO_SECONDS."""
    info = probe_audio(path, name)
    if info.seconds is not None and info.seconds > settings.max_audio_seconds:
        raise AudioError(
            f"audio {name} lasts {info.seconds:.0f} s; MAX_AUDIO_SECONDS is {settings.max_audio_seconds:.0f}"
        )
    return info


def check_words_per_second(words: int, seconds: float, name: str, settings: Settings) -> None:
    """Refuse a text with more words than MAX_WORDS_PER_SECOND × the audio's duration."""
    rate = words / max(seconds, 0.1)
    if rate > settings.max_words_per_second:
        raise ImplausibleInput(
            f"{name}: {words} words for {seconds:.1f} s of audio ({rate:.1f} words/s; "
            f"MAX_WORDS_PER_SECOND is {settings.max_words_per_second:g})"
        )


@dataclass(frozen=True)
class CheckedInputs:
    text: str  # the transcript's text, decoded
    audio: AudioInfo


def check_inputs(
    audio_path: Path, text_path: Path, settings: Settings, language: str | None = None
) -> CheckedInputs:
    """Every check `timestamp align` can make before loading the model; raises one of BAD_INPUT.

    For the CLI (worker/cli.py, worker/app.py): call it first and report `str(error)` as the one-line
    error; pass `CheckedInputs.text` on rather than reading the file again. The audio is probed, not
    decoded; decode it with `load_audio(path, max_seconds=settings.max_audio_seconds)`, and call
    `check_words_per_second` again with the decoded duration when `audio.seconds` was None."""
    check_language(language or settings.language, settings.whisper_backend)
    size = text_path.stat().st_size
    if size > settings.max_text_bytes:  # before reading it
        raise TranscriptError(f"{text_path} is {size:,} bytes; MAX_TEXT_BYTES is {settings.max_text_bytes:,}")
    try:
        data = text_path.read_bytes()
    except OSError as error:
        raise TranscriptError(f"cannot read {text_path}: {error.strerror}") from error
    text = read_transcript(data, str(text_path), settings)
    audio = check_audio(audio_path, str(audio_path), settings)
    if audio.seconds is not None:
        check_words_per_second(len(split_words(text)), audio.seconds, str(text_path), settings)
    return CheckedInputs(text, audio)
