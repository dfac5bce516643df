"""The operator's own image: its dependency set (the `operator` group) has no torch, CUDA or model,
and the operator runs from it alone, importing nothing of the alignment engine.

The venv test installs exactly what the Dockerfile installs (`uv export` of the group, hashes
checked) into an empty venv and copies the Dockerfile's COPY sources beside it, then imports the
handlers there: a missing dependency, or an import that reaches the engine (torch is absent), fails it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.operator.k8s_schemas import REPO

DOCKERFILE = REPO / "operator" / "Dockerfile"
NEEDED = {"kopf", "kubernetes-asyncio", "boto3", "pydantic", "pydantic-settings", "pyyaml"}
# Nothing of the alignment engine or a GPU stack may come along.
HEAVY = re.compile(
    r"^(torch|torchaudio|nvidia-.*|triton|stable-ts|faster-whisper|ctranslate2|openai-whisper|numpy|numba|onnxruntime|silero-vad|av)$"
)
NOT_IMPORTED = (
    "torch",
    "numpy",
    "stable_whisper",
    "faster_whisper",
    "ctranslate2",
    "worker.engine",
    "worker.publish",
    "worker.app",
    "worker.inputs.audio",
)


def uv() -> str:
    found = shutil.which("uv")
    assert found, "uv is needed to export the operator's dependency group"
    return found


def exported(*extra: str) -> str:
    command = [uv(), "export", "--locked", "--only-group", "operator", "--no-emit-project", *extra]
    return subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout


def test_the_operator_group_is_the_framework_client_and_cloud_libraries_only() -> None:
    names = {
        line.split("==")[0].lower()
        for line in exported("--no-hashes").splitlines()
        if line and not line.startswith((" ", "#"))
    }
    assert names >= NEEDED
    assert sorted(n for n in names if HEAVY.match(n)) == []
    assert len(names) < 40  # the whole closure: a handful of pure-Python libraries and their helpers


def _dockerfile_copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context (not --from=stage)."""
    copies = []
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            copies.append((words[1:-1], words[-1]))
    return copies


def _lay_out_sources(root: Path) -> None:
    for sources, destination in _dockerfile_copies():
        target = root / destination.removeprefix("/app/src/").strip("/")
        for source in sources:
            path = REPO / source
            if path.is_dir():
                shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target / path.name)


@pytest.mark.timeout(300)
def test_the_operator_runs_from_its_dependency_set_alone(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(exported())
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    subprocess.run([uv(), "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv(), "pip", "install", "-q", "--python", str(python), "--require-hashes", "-r", str(requirements)],
        check=True,
        env=env,
    )
    installed = subprocess.run(
        [uv(), "pip", "list", "--python", str(python), "--format", "freeze"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    names = {line.split("==")[0].lower() for line in installed.splitlines() if line}
    assert names >= NEEDED and sorted(n for n in names if HEAVY.match(n)) == []

    src = tmp_path / "src"
    _lay_out_sources(src)
    check = (
        "import sys, timestamp_operator.handlers, timestamp_operator.kube; "
        f"loaded = [m for m in {NOT_IMPORTED!r} if m in sys.modules]; "
        "assert not loaded, loaded; print('ok')"
    )
    result = subprocess.run(
        [str(python), "-c", check],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
