"""Pause edges against the truth, the VAD alone: `uv run python -m bench.vad_edges --sets lecture_30_snr10`.

For each clip of the sets, the pauses `find_silences` finds on the audio as it is and with the steady
noise taken out (`worker.engine.denoise`), scored against the word-level truth: the true gaps are
the silences of ≥ 0.1 s between two words; a pause "inside speech" overlaps no gap; for each gap
some pause overlaps, its start against the end of the word before (a start more than 200 ms early
lost the end of the speech) and its end against the start of the word after (more than 200 ms late:
a lost onset). No alignment runs, so it takes seconds a clip (bench/README.md, "Noise taken out of
what the VAD hears").
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from bench.datasets import REPO, load_set
from worker.engine.vad import Pause, find_silences

CACHE = REPO / "bench" / "results" / "cache"
MIN_GAP = 0.1


def _within_50_ms(offsets: np.ndarray) -> str:
    return f"{100 * np.mean(np.abs(offsets) <= 0.05):.1f} %" if offsets.size else "–"


def scored(found: list[Pause], words: list[tuple[float, float]]) -> list[str]:
    """The table's cells for one clip's pauses against its words' (start, end)."""
    gaps = [(a[1], b[0]) for a, b in itertools.pairwise(words) if b[0] - a[1] >= MIN_GAP]
    starts = np.array([p.start for p in found])
    ends = np.array([p.end for p in found])
    inside = sum(1 for p in found if not any(p.start < g1 and p.end > g0 for g0, g1 in gaps))
    early, late, missed = [], [], 0
    for g0, g1 in gaps:
        overlap = np.minimum(ends, g1) - np.maximum(starts, g0)
        if not overlap.size or overlap.max() <= 0:
            missed += 1
            continue
        k = int(np.argmax(overlap))
        early.append(starts[k] - g0)
        late.append(ends[k] - g1)
    s, e = np.array(early), np.array(late)
    return [
        str(len(found)),
        str(inside),
        f"{missed}/{len(gaps)}",
        _within_50_ms(s),
        str(int(np.sum(s < -0.2))),
        _within_50_ms(e),
        str(int(np.sum(e > 0.2))),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vad_edges", description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="lecture_30_snr10,lecture_30")
    args = parser.parse_args(argv)
    head = ["clip", "audio", "pauses", "inside speech", "gaps missed", "starts ≤ 50 ms"]
    head += ["starts > 200 ms early", "ends ≤ 50 ms", "ends > 200 ms late"]
    print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    for name in args.sets.split(","):
        for index, clip in enumerate(load_set(name, CACHE).clips):
            words = [(w.start, w.end) for w in clip.words]
            for label, denoise in (("as it is", False), ("noise taken out", True)):
                cells = scored(find_silences(clip.audio, denoise=denoise).pauses, words)
                print(f"| {name}[{index}] | {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
