"""The align command's progress bar: it names every phase, moves with the engine's reports, prints
log lines above itself, and keeps drawing while the engine's stderr is redirected."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys

from rich.console import Console

from worker.local import phase_bar, terminal

ENGINE = logging.getLogger("worker.engine.alignment")


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", text)


def test_the_bar_follows_the_phases_and_logs_print_above_it() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    root = logging.getLogger()
    before, level = root.handlers[:], root.level
    root.setLevel(logging.INFO)
    with phase_bar(console, quiet=False) as bar:
        bar.phase("decoding audio")
        bar.duration = 80.0
        ENGINE.info("finding pauses in %.0f s of audio", 80.0)
        bar.report(0.0, 80.0)  # the VAD's liveness calls: no movement
        ENGINE.info("first pass over %.0f s of audio", 80.0)
        ENGINE.info("aligning in windows")
        with contextlib.redirect_stderr(io.StringIO()):  # as the engine does around stable-ts
            bar.report(40.0, 80.0)
        logging.getLogger("worker.engine.alignment").warning("stable-ts: 1 segment failed to align")
        bar.phase("publishing")
    root.setLevel(level)
    assert root.handlers == before  # the terminal handler is gone with the bar
    shown = plain(screen.getvalue())
    order = [
        "decoding audio",
        "finding pauses (VAD)",
        "first pass",
        "aligning windows",
        "40/80 s",
        "publishing",
    ]
    positions = [shown.find(text) for text in order]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "stable-ts: 1 segment failed to align" in shown


def test_the_terminal_console_is_bound_to_the_real_stderr() -> None:
    console = terminal()
    real = sys.stderr
    with contextlib.redirect_stderr(io.StringIO()):
        assert console.file is real  # rich's default console would follow the redirect and go blank
