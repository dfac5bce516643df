"""Does a VAD change keep the pauses? `uv run python -m bench.vad_compare --against REV --sets he,lecture_60`.

Loads `worker/engine/vad.py` as it was at git revision REV beside today's, runs both on every clip
of the sets, and prints per clip the largest difference in a frame's speech probability, whether
the pauses (each revision's own, as its VAD makes them) are identical as the alignment reads
them (every pause's span, and which pauses are sure with their sure cores; a pause's level
only decides whether it is sure, and its largest change is printed), and each version's wall and
CPU seconds. The pauses are the VAD's only output: identical pauses mean identical alignments,
verdicts and accuracy figures, so a speed-up that passes here needs no re-run of `bench`. Both
hear the audio as it is: the noise the worker takes out first (`worker.engine.denoise`) is a
module of its own, and a change to it does need a `bench` re-run. Exit status 1 when any clip's
pauses differ. Both versions run with torch on the thread count the worker sets (before b051d1f
the worker's VAD in fact ran on one torch thread: `silero_vad`'s import set it).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from bench.datasets import REPO, load_set
from worker.engine import vad
from worker.engine.models import set_cpu_threads

CACHE = REPO / "bench" / "results" / "cache"


def vad_at(revision: str, folder: Path) -> ModuleType:
    """`worker/engine/vad.py` as it was at `revision`, imported as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{revision}:worker/engine/vad.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = folder / "vad_then.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("vad_then", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _read(module: ModuleType, found: list[Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """What the alignment reads of the VAD: every pause's span (snapping, the review's speech map)
    and the sure pauses' cores (anchoring). A pause's level only decides whether it is sure."""
    return [(p.start, p.end) for p in found], [(p.start, p.end) for p in module.reliable(found)]


def _heard(module: ModuleType, audio: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """The speech probability and the pauses as that revision's VAD makes them, one VAD run."""
    if hasattr(module, "directions"):  # since b3b3aa0 the pauses' edges read both passes
        forward, backward = module.directions(audio)
        probability = module.combined(forward, backward)
        return probability, module.pauses(probability, heard=(forward, backward))
    probability = module.speech_probability(audio)
    return probability, module.pauses(probability)


def _timed(module: ModuleType, audio: np.ndarray) -> tuple[np.ndarray, list[Any], float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    probability, found = _heard(module, audio)
    return probability, found, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vad_compare", description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="git revision of the VAD to compare with")
    parser.add_argument("--sets", default="he,en,en_concat,lecture_10,lecture_30,lecture_60")
    args = parser.parse_args(argv)
    vad._load()  # silero_vad's import sets torch to one thread: imported before the count is set
    threads = set_cpu_threads(0)
    differ = 0
    columns = ["clip", "frames", "max difference", "pauses", "sure", "level change"]
    columns += ["then wall / CPU s", "now wall / CPU s"]
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    with tempfile.TemporaryDirectory() as folder:
        then = vad_at(args.against, Path(folder))
        for module in (then, vad):  # TorchScript optimises on its first calls: not timed
            for _ in range(2):
                module.speech_probability(np.zeros(vad.SAMPLE_RATE, np.float32))
        for name in args.sets.split(","):
            for clip in load_set(name, CACHE).clips:
                set_cpu_threads(threads)
                old, before, old_wall, old_cpu = _timed(then, clip.audio)
                set_cpu_threads(threads)
                new, after, new_wall, new_cpu = _timed(vad, clip.audio)
                spans, sure = _read(vad, after)
                same = _read(then, before) == (spans, sure)
                differ += not same
                moved = [abs(a.level - b.level) for a, b in zip(before, after, strict=True)] if same else []
                levels = f"{max(moved, default=0.0):.1e}" if same else "–"
                print(
                    f"| {name}/{clip.name} | {len(new)} | {float(np.abs(old - new).max()):.1e} | "
                    f"{len(spans)} {'identical' if same else 'DIFFER'} | {len(sure)} | {levels} | "
                    f"{old_wall:.2f} / {old_cpu:.2f} | {new_wall:.2f} / {new_cpu:.2f} |",
                    flush=True,
                )
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
