"""Every setting of the worker, in one place: names, defaults, validation.

The names and defaults of the original worker are kept exactly (AWS_REGION … SQS_FINAL_QUEUE_URL);
the rest were added for reliability, drain mode and alignment tuning. The Helm chart renders its
environment from this model's fields (tests/chart checks the two agree), so a new setting only
needs adding here and to the chart's `worker.env` values.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import DirectoryPath, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# AWS SQS quotas (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html)
MAX_WAIT_TIME_SECONDS = 20
MAX_VISIBILITY_TIMEOUT_SECONDS = 12 * 60 * 60
OUTPUT_FORMATS = ("vtt", "srt", "words.vtt", "tsv", "json")  # worker.publish.outputs writes each


class Backend(StrEnum):
    OPENAI = "openai"  # openai-whisper PyTorch weights (the original worker's engine)
    FASTER_WHISPER = "faster-whisper"  # CTranslate2 weights


class Device(StrEnum):
    CUDA = "cuda"
    CPU = "cpu"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    """The worker's configuration, read from environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # --- storage and queues (names and defaults of the original worker) ---
    aws_region: str = "us-east-1"
    audio_bucket: str = "portal-daf-yomi-audio"
    text_bucket: str = "final-transcription"
    output_bucket: str = "final-transcription"
    sqs_queue_url: str | None = None
    sqs_final_queue_url: str | None = None
    # boto3 reads AWS_ENDPOINT_URL itself; declared so it is validated, documented and in the chart.
    aws_endpoint_url: str | None = None

    # --- model (names and defaults of the original worker) ---
    whisper_model: str = Field("base", min_length=1)
    device: Device = Device.CUDA
    language: str = Field("he", pattern=r"^[a-z]{2,3}$")
    token_step: Annotated[int, Field(ge=1, le=1000)] = 200
    # Recordings at least this long are aligned in windows cut at the speaker's long pauses, so one
    # misaligned passage cannot drag the rest (bench/README.md); 0: one pass over the whole recording.
    anchor_min_audio_seconds: Annotated[float, Field(ge=0)] = 60.0
    # Shortest pause that may cut a window, and the longest window anchored pieces merge into.
    anchor_pause_seconds: Annotated[float, Field(ge=0.05, le=10)] = 0.2
    anchor_window_seconds: Annotated[float, Field(gt=0, le=600)] = 4.0
    # Word boundaries within this distance of a detected pause move onto it; 0: keep the engine's.
    snap_distance_seconds: Annotated[float, Field(ge=0, le=5)] = 0.6
    # Added to every engine word time before snapping (a bias correction; see bench/README.md).
    boundary_shift_seconds: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    # Take steady background noise out of what the VAD hears (pause edges in noise; see bench/README.md).
    vad_denoise: bool = True
    # Mark written words the speaker never said as spoken=false, shrunk to a point (see bench/README.md).
    unsaid_check: bool = True
    whisper_cache: Path = Path("/opt/models/whisper")
    whisper_backend: Backend = Backend.FASTER_WHISPER
    # int8 on CPU, float16 on GPU when unset (CTranslate2 compute types; ignored by openai-whisper).
    compute_type: str | None = Field(
        None,
        pattern=r"^(default|auto|int8|int8_float16|int8_float32|int8_bfloat16|int16|float16|bfloat16|float32)$",
    )

    # Threads for the models on the CPU (CTranslate2's intra_threads, torch's intra-op threads):
    # 0 = the CPUs this container may use (its cgroup CPU limit, else its CPU affinity).
    cpu_threads: Annotated[int, Field(ge=0, le=256)] = 0
    # Anchored windows per encoder call (faster-whisper): 0 = by device, 16 on cuda, 1 on cpu
    # (worker.engine.batching: batches pay off on a GPU and cost on a CPU).
    encoder_batch: Annotated[int, Field(ge=0, le=256)] = 0

    # --- input limits: checked before a job aligns (and before `timestamp align` loads the model) ---
    # Longer audio is refused from its header before decoding (memory grows with the duration: 2 h
    # took 3.46 GB); decoding also stops here if the header lied. Lectures run 30-60 minutes.
    max_audio_seconds: Annotated[float, Field(gt=0)] = 5400.0
    # Larger transcripts are refused (a 60-minute lecture is about 100 KB of Hebrew UTF-8).
    max_text_bytes: Annotated[int, Field(ge=1)] = 1_000_000
    # More words per second of audio than anyone speaks: the text does not belong to this audio.
    max_words_per_second: Annotated[float, Field(gt=0)] = 8.0

    # --- output keys ---
    # S3 event records for other text keys are skipped (logged, the message deleted): the worker's
    # own .vtt/.json outputs and other files beside a lecture's text start no job. Comma-separated
    # suffixes; empty: every key. Explicit messages name their keys and are not filtered.
    text_key_suffixes: str = Field(".txt", pattern=r"^(\.[^,\s]+(,\.[^,\s]+)*)?$")
    # Prepended to `<text_key without extension>` for the .vtt/.json outputs.
    output_prefix: str = ""
    # Derives the audio key from a text key for S3 event messages. Fields: {stem} = the key without
    # its extension, {name} = its last path part without extension, {dir} = the folder ('' at top).
    audio_key_template: str = "{stem}.mp3"

    # --- subtitles: cue layout (Netflix Hebrew timed-text norms) and formats ---
    cue_max_line_chars: Annotated[int, Field(ge=10, le=200)] = 42
    cue_max_lines: Annotated[int, Field(ge=1, le=4)] = 2
    # A cue stays up at least this long (its display runs on into the following silence) …
    cue_min_seconds: Annotated[float, Field(ge=0, le=10)] = 0.833
    # … and at most this long.
    cue_max_seconds: Annotated[float, Field(ge=1, le=60)] = 7.0
    # Reading-speed ceiling, characters per second.
    cue_max_cps: Annotated[float, Field(gt=0, le=100)] = 17.0
    # U+200F at the start of each subtitle line for right-to-left languages (Latin-first lines stay RTL).
    cue_rtl_mark: bool = True
    # Comma-separated, from vtt, srt, words.vtt (word-highlight cues), tsv (one row per word), json.
    output_formats: str = Field("vtt,srt,json", pattern=r"^[a-z.]+(,[a-z.]+)*$")
    # Also write <stem>.review.html beside the outputs: the review page, its audio by a presigned URL.
    review_page: bool = False

    # --- drain mode: how a ScaledJob pod ends ---
    max_messages: Annotated[int, Field(ge=0)] = 0  # 0 = no limit
    idle_timeout_seconds: Annotated[float, Field(ge=0)] = 0  # 0 = never exit when idle
    # While a job aligns, receive the next message (never past MAX_MESSAGES), hold it with a heartbeat
    # and download and decode its audio and text, so the GPU does not wait for S3 and ffmpeg. At most
    # one message ahead (a decoded 60-minute lecture is ~230 MB); released at once on shutdown.
    prefetch: bool = True

    # --- queue reliability ---
    wait_time_seconds: Annotated[int, Field(ge=0, le=MAX_WAIT_TIME_SECONDS)] = MAX_WAIT_TIME_SECONDS
    visibility_timeout_seconds: Annotated[int, Field(ge=10, le=MAX_VISIBILITY_TIMEOUT_SECONDS)] = 120
    # How long a message that failed for good (bad input) stays hidden before its next receive, when
    # the work queue has no redrive policy (with one, it moves to the dead-letter queue at once).
    failed_retry_delay_seconds: Annotated[int, Field(ge=0, le=MAX_VISIBILITY_TIMEOUT_SECONDS)] = 300
    # Seconds to let a running alignment finish after SIGTERM before releasing its message.
    shutdown_grace_seconds: Annotated[float, Field(ge=0)] = 20
    # How long to keep retrying a message's notice, deletion or move to the dead-letter queue
    # through an AWS outage (the heartbeat holds the message meanwhile) before retrying it later.
    settle_patience_seconds: Annotated[float, Field(ge=0, le=3600)] = 300
    # Attempts for transient AWS errors (throttling, network) before a job is given up for now.
    aws_max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    # Where audio is downloaded while aligning (an emptyDir in the cluster).
    scratch_dir: DirectoryPath | None = None

    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    # text: one readable line per event; json: one JSON object per line (CloudWatch Logs, Loki), with
    # per-job metrics in CloudWatch embedded metric format.
    log_format: LogFormat = LogFormat.TEXT

    @model_validator(mode="after")
    def _heartbeat_fits(self) -> Settings:
        if self.visibility_timeout_seconds <= self.wait_time_seconds:
            raise ValueError("VISIBILITY_TIMEOUT_SECONDS must be longer than WAIT_TIME_SECONDS")
        return self

    @field_validator("output_formats")
    @classmethod
    def _formats_known(cls, value: str) -> str:
        names = value.split(",")
        if unknown := [name for name in names if name not in OUTPUT_FORMATS]:
            raise ValueError(f"unknown format {', '.join(unknown)} (known: {', '.join(OUTPUT_FORMATS)})")
        if "json" not in names:
            raise ValueError("json is required (it is written last and marks a complete set)")
        return value

    @property
    def formats(self) -> tuple[str, ...]:
        """OUTPUT_FORMATS as a tuple, duplicates dropped, JSON last (written last: the completion marker)."""
        names = dict.fromkeys(self.output_formats.split(","))
        return (*(name for name in names if name != "json"), "json")

    @property
    def heartbeat_seconds(self) -> float:
        """Extend visibility three times per timeout, so one missed beat never releases the message."""
        return self.visibility_timeout_seconds / 3

    @property
    def text_suffixes(self) -> tuple[str, ...]:
        return tuple(suffix for suffix in self.text_key_suffixes.split(",") if suffix)

    @property
    def effective_compute_type(self) -> str:
        if self.compute_type:
            return self.compute_type
        return "float16" if self.device is Device.CUDA else "int8"


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line naming the variable."""


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first bad variable and what is wrong with it."""
    first = error.errors()[0]
    name = "_".join(str(part) for part in first["loc"]).upper() or "configuration"
    value = first.get("input")
    shown = f" (got {value!r})" if value is not None and not isinstance(value, dict) else ""
    return f"{name}: {first['msg']}{shown}"


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus explicit overrides from the CLI), or raise ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from error
