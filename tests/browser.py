"""A real headless Chromium for tests of what a browser shows (subtitles, the review page).

`served(folder)` serves a folder over HTTP on 127.0.0.1 (pages, tracks and audio load as they would
from a web server; file:// would hit Chromium's cross-origin rules for <track>). `dump_dom(url)`
loads a page, lets its scripts and loads run, and returns the DOM as text: a test page writes what
it measured into the DOM and the test parses it. `screenshot(url, png)` keeps a picture.

Chromium is the Debian package (`apt-get update && apt-get install -y chromium`; .ci/run installs
it). Under CI (CI=true) a missing browser fails the test; elsewhere a test marked `needs_chromium`
is skipped, naming the install command.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

INSTALL = "apt-get update && apt-get install -y chromium"
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _found() -> str | None:
    return next((path for name in _NAMES if (path := shutil.which(name))), None)


UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Outside CI only: .ci/run installs Chromium, and under CI a missing one fails (`chromium`).
needs_chromium = pytest.mark.skipif(
    _found() is None and not UNDER_CI, reason=f"no Chromium on PATH (install it: {INSTALL})"
)


def chromium() -> str:
    """The browser's path; a test fails when there is none (`needs_chromium` skips it first outside CI)."""
    path = _found()
    if path is None:
        pytest.fail(f"no Chromium on PATH (install it: {INSTALL})")
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """The base URL (ending in /) of `folder` served over HTTP for the duration of the block."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    # A throwaway profile per run: no state shared between tests; --no-sandbox because CI runs as root.
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            f"--user-data-dir={profile}",
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)


def dump_dom(url: str, budget_ms: int = 5000, timeout: float = 60) -> str:
    """The page's DOM after its loads and scripts ran (virtual time: no waiting on the wall clock)."""
    return _run([f"--virtual-time-budget={budget_ms}", "--dump-dom", url], timeout).stdout


def screenshot(
    url: str, png: Path, size: tuple[int, int] = (800, 450), budget_ms: int = 5000, timeout: float = 60
) -> Path:
    _run(
        [
            f"--virtual-time-budget={budget_ms}",
            f"--window-size={size[0]},{size[1]}",
            "--hide-scrollbars",
            f"--screenshot={png}",
            url,
        ],
        timeout,
    )
    return png
