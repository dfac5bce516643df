"""Aligning two local files, no cloud involved: `timestamp align AUDIO TEXT --out-dir DIR`.

Writes DIR/<TEXT stem>.<format> for each of OUTPUT_FORMATS, the JSON last (its presence marks a set).
On a terminal one progress bar follows every phase (inputs, model, decoding, pauses, first pass,
windows, publishing) and log lines print above it, through the same rich Console.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from worker.engine.alignment import Aligner
from worker.inputs.audio import SAMPLE_RATE, load_audio
from worker.inputs.checks import check_inputs, check_words_per_second
from worker.inputs.text import split_words
from worker.publish.outputs import PublishOptions, Rendered, render
from worker.settings import Settings


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


# The engine names its phases in its log (worker.engine.alignment); the bar shows them.
_ENGINE_PHASES = {
    "finding pauses": "finding pauses (VAD)",
    "first pass": "first pass",
    "aligning in windows": "aligning windows",
    "aligning in one pass": "aligning (one pass)",
}


class PhaseBar:
    """One bar row: the phase's name, and its progress in seconds of audio where the engine reports it."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID = progress.add_task("starting", total=None, detail="")
        self._measured = False
        self.duration = 0.0  # seconds of audio, once decoded

    def phase(self, name: str, total: float | None = None) -> None:
        """A new phase: a pulsing bar until it reports progress (`total` given: a measured one)."""
        self._measured = total is not None
        self._progress.update(self._task, description=name, total=total, completed=0, detail="")
        self._progress.refresh()  # shown at once, not at the next tick

    def report(self, done: float, total: float) -> None:
        """The engine's progress callback (seconds of audio aligned so far)."""
        if not self._measured and done <= 0:
            # Pauses, the first pass and a single stable-ts pass (its tqdm is off, so its count stays 0)
            # only report that they are alive: keep pulsing.
            return
        if not self._measured:
            self.phase("aligning", total)
        self._progress.update(self._task, completed=done, total=total, detail=f"{done:.0f}/{total:.0f} s")
        self._progress.refresh()

    def log_phase(self, record: logging.LogRecord) -> bool:
        """A logging filter: moves the bar to the phase an engine log line announces."""
        for start, name in _ENGINE_PHASES.items():
            if isinstance(record.msg, str) and record.msg.startswith(start):
                self.phase(name, self.duration if name == "aligning windows" else None)
        return True


def terminal() -> Console:
    """stderr as it is now: the engine's stderr redirect (it drops stable-ts's tqdm) cannot swallow it."""
    return Console(file=sys.stderr)


@contextmanager
def phase_bar(console: Console, quiet: bool) -> Iterator[PhaseBar]:
    """The bar, with the root logger printing through the same console above it while it lasts."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<24}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    shown = console.is_terminal and not quiet
    progress = Progress(*columns, console=console, disable=not shown, transient=True)
    bar = PhaseBar(progress)
    root = logging.getLogger()
    saved = root.handlers[:]
    if shown:  # a pipe or a file keeps the plain one-line log format
        handler = RichHandler(console=console, show_path=False, log_time_format="%H:%M:%S")
        handler.addFilter(bar.log_phase)
        root.handlers = [handler]
    try:
        with progress:
            yield bar
    finally:
        root.handlers = saved


def align_files(
    load_aligner: Callable[[], Aligner],
    audio: Path,
    text_path: Path,
    out_dir: Path,
    bar: PhaseBar,
    settings: Settings,
) -> Rendered:
    """Check the inputs, decode, load the model, align, publish: every refusal comes before the model."""
    bar.phase("checking inputs")
    checked = check_inputs(audio, text_path, settings)
    bar.phase("decoding audio")
    samples = load_audio(audio, str(audio), settings.max_audio_seconds)
    bar.duration = len(samples) / SAMPLE_RATE
    if checked.audio.seconds is None:  # the container did not state it: check the decoded length
        check_words_per_second(len(split_words(checked.text)), bar.duration, str(text_path), settings)
    bar.phase("loading the model")
    aligner = load_aligner()
    bar.phase("aligning")  # pulsing until the engine reports (pauses and the first pass come first)
    alignment = aligner.align(samples, checked.text, progress=bar.report)
    bar.phase("publishing")
    source = {"audio_file": audio.name, "text_file": text_path.name}
    rendered = render(alignment, checked.text, source, PublishOptions.from_settings(settings))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, path in output_paths(text_path, out_dir, tuple(rendered.files)).items():
        _write_atomically(path, rendered.files[name])  # the JSON last: its presence marks a complete set
    return rendered


def _write_atomically(path: Path, content: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(content, encoding="utf-8")
    os.replace(partial, path)
