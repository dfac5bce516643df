"""Aligning two local files, no cloud involved: `timestamp align AUDIO TEXT --out-dir DIR`.

Writes DIR/<TEXT stem>.<format> for each of OUTPUT_FORMATS, the JSON last (its presence marks a set).
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from worker.engine.alignment import Aligner
from worker.inputs.audio import load_audio
from worker.inputs.text import TranscriptError, decode_transcript
from worker.publish.outputs import PublishOptions, Rendered, render


class OutputExists(FileExistsError):
    """An output file exists already (and --overwrite was not given), or would replace an input."""


def output_paths(text: Path, out_dir: Path, formats: tuple[str, ...] = ("vtt", "json")) -> dict[str, Path]:
    return {name: out_dir / f"{text.stem}.{name}" for name in formats}


def check_outputs(
    audio: Path, text: Path, out_dir: Path, overwrite: bool, formats: tuple[str, ...] = ("vtt", "json")
) -> None:
    inputs = {audio.resolve(), text.resolve()}
    for path in output_paths(text, out_dir, formats).values():
        if path.resolve() in inputs:
            raise OutputExists(f"output {path} would overwrite an input; choose another --out-dir")
        if path.exists() and not overwrite:
            raise OutputExists(f"output {path} exists; pass --overwrite to replace it")


def align_files(
    aligner: Aligner,
    audio: Path,
    text_path: Path,
    out_dir: Path,
    quiet: bool = False,
    options: PublishOptions | None = None,
) -> Rendered:
    try:
        data = text_path.read_bytes()
    except OSError as error:
        raise TranscriptError(f"cannot read {text_path}: {error.strerror}") from error
    text = decode_transcript(data, str(text_path))
    samples = load_audio(audio)
    console = Console(stderr=True)
    columns = (
        TextColumn("aligning"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=quiet or not console.is_terminal) as progress:
        task = progress.add_task("align", total=len(samples) / 16_000)
        alignment = aligner.align(
            samples, text, progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
    rendered = render(alignment, text, {"audio_file": audio.name, "text_file": text_path.name}, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, path in output_paths(text_path, out_dir, tuple(rendered.files)).items():
        _write_atomically(path, rendered.files[name])  # the JSON last: its presence marks a complete set
    return rendered


def _write_atomically(path: Path, content: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(content, encoding="utf-8")
    os.replace(partial, path)
