"""Start-up refusals of the `timestamp` command: one line naming the problem, exit status 2."""

import os
import subprocess
from pathlib import Path


def timestamp(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SQS_QUEUE_URL", "WHISPER_MODEL", "DEVICE"}}
    return subprocess.run(
        ["timestamp", *args], env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False
    )


def test_worker_mode_needs_a_queue() -> None:
    done = timestamp()
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "timestamp: error: SQS_QUEUE_URL: required in worker mode (or use `timestamp align` for local files)"
    )


def test_a_model_missing_from_the_cache_is_named(tmp_path: Path) -> None:
    done = timestamp(SQS_QUEUE_URL="http://127.0.0.1:9/q", WHISPER_CACHE=str(tmp_path), WHISPER_MODEL="small")
    assert done.returncode == 2
    assert done.stderr.strip().startswith(
        "timestamp: error: WHISPER_MODEL: 'small' is not a local path and not in"
    )


def test_cuda_without_a_visible_gpu_is_refused(whisper_cache: Path) -> None:
    done = timestamp(
        SQS_QUEUE_URL="http://127.0.0.1:9/q",
        WHISPER_CACHE=str(whisper_cache),
        DEVICE="cuda",
        CUDA_VISIBLE_DEVICES="",
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "timestamp: error: DEVICE: cuda requested but no CUDA device is visible (set DEVICE=cpu)"
    )


def test_an_unknown_backend_is_refused() -> None:
    done = timestamp("align", "a.mp3", "a.txt", WHISPER_BACKEND="whisper.cpp")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "timestamp: error: WHISPER_BACKEND: Input should be 'openai' or 'faster-whisper' (got 'whisper.cpp')"
    )
