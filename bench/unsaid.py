"""Words never said, on real speech: `uv run python -m bench.unsaid [--seeds 3] [--rate 0.08]`.

Real English recordings (data/realdata: MFA's spontaneous monologues, LibriVox's read sonnets) with
short words inserted into their exact texts at random (as an editor's grammar fix would), aligned
by the worker's own core with the defaults, which run the unsaid-word check (worker.engine.unsaid):
each recording alone (one pass: all are under a minute), and all of them back to back (243 s,
aligned in windows as lectures are). Prints, per seed: inserted words marked `spoken=False`, said
words wrongly marked, and on the recordings with reference timings the distance of each marked
word's point from the gap its neighbours leave (0 when it sits between them) and the error of the
inserted words' neighbours' inner edges, with the check and without it; CPU seconds of both.
Seed 0 is the clean text: every mark there is wrong.
The synthetic Hebrew lectures are scored by `python -m bench` (columns "unsaid flagged" and
"said flagged"); Whisper base hears their voice too poorly for the check, which skips them.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.configs import CONFIGS
from bench.datasets import REPO, RefWord, load_mfa
from worker.engine.alignment import Aligner
from worker.engine.fidelity import TimedWord
from worker.engine.models import fetch_model
from worker.inputs.audio import SAMPLE_RATE, load_audio
from worker.settings import Backend, Device

SONNETS = REPO / "data" / "realdata" / "en_librivox_sonnets"
INSERTED = ("the", "a", "of", "and", "to", "is", "that", "it", "so", "just", "very", "also", "in", "not")


@dataclass
class Recording:
    name: str
    audio: np.ndarray
    words: list[str]
    reference: list[RefWord] | None  # per word, where known

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def recordings() -> list[Recording]:
    found = [Recording(c.name, c.audio, c.text.split(), c.words) for c in load_mfa().clips]
    for text in sorted(SONNETS.glob("sonnet*.txt")):
        audio = load_audio(text.with_suffix(".mp3"))
        found.append(Recording(text.stem, audio, text.read_text().split(), None))
    return found


def with_insertions(words: list[str], rate: float, rng: random.Random) -> tuple[list[str], list[bool]]:
    """The text with short words inserted (never first, never after a sentence's end); per word: said."""
    out: list[str] = []
    said: list[bool] = []
    for word in words:
        if out and rate and rng.random() < rate and not out[-1].endswith((".", "?", "!")):
            out.append(rng.choice(INSERTED))
            said.append(False)
        out.append(word)
        said.append(True)
    return out, said


@dataclass
class Tally:
    inserted: int = 0
    caught: int = 0
    said: int = 0
    wrongly: int = 0
    point_off: list[float] = dataclasses.field(default_factory=list)  # marked: s outside the neighbours' gap
    edges_off: list[float] = dataclasses.field(default_factory=list)  # neighbours' inner edges, s


def score(tally: Tally, words: list[TimedWord], said: list[bool], reference: list[RefWord] | None) -> None:
    marked = [not w.spoken for w in words]
    tally.inserted += said.count(False)
    tally.caught += sum(m and not s for m, s in zip(marked, said, strict=True))
    tally.said += said.count(True)
    tally.wrongly += sum(m and s for m, s in zip(marked, said, strict=True))
    if reference is None:
        return
    truth = iter(reference)
    ref = [next(truth) if s else None for s in said]  # the said words' reference, in order
    for i, s in enumerate(said):
        before, after = ref[i - 1] if i else None, ref[i + 1] if i + 1 < len(said) else None
        if s or before is None or after is None:
            continue  # said, or inserted next to another inserted word or at an end
        w = words[i]
        if not w.spoken:
            tally.point_off.append(max(before.end - w.end, w.start - after.start, 0.0))
        tally.edges_off += [abs(words[i - 1].end - before.end), abs(words[i + 1].start - after.start)]


def row(aligner: Aligner, group: list[Recording], seed: int, rate: float, base: int) -> str:
    """One seed's insertions into each recording of `group`, aligned with the check and without it."""
    checked = dataclasses.replace(CONFIGS["default"].options, language="en")
    unchecked = dataclasses.replace(checked, unsaid_check=False)
    rng = random.Random(base + seed)
    tally, plain = Tally(), Tally()
    cpu = [0.0, 0.0]
    for item in group:
        words, said = with_insertions(item.words, rate if seed else 0.0, rng)
        for k, (options, into) in enumerate(((checked, tally), (unchecked, plain))):
            started = time.process_time()
            result = aligner.align(item.audio, " ".join(words), options)
            cpu[k] += time.process_time() - started
            score(into, result.words, said, item.reference)
    point = f"{np.median(tally.point_off):.2f} / {max(tally.point_off):.2f}" if tally.point_off else "–"
    edges = [f"{np.mean(np.asarray(t.edges_off) <= 0.1):.0%}" for t in (tally, plain) if t.edges_off]
    edges = edges or ["–", "–"]
    return (
        f"{tally.caught}/{tally.inserted} | {tally.wrongly}/{tally.said} | {point} | "
        f"{edges[0]} / {edges[1]} | {cpu[0]:.0f} / {cpu[1]:.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.unsaid", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="random insertions, seeds 1..N (and 0: none)")
    parser.add_argument("--rate", type=float, default=0.08, help="chance of a word inserted before each word")
    parser.add_argument(
        "--seed-base", type=int, default=2000, help="seed N draws random.Random(BASE + N); 1000: tuning"
    )
    parser.add_argument("--model", default="base", help="Whisper model name or path (others need network)")
    parser.add_argument("--cache", type=Path, default=REPO / "models", help="model cache (WHISPER_CACHE)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    backend = Backend.FASTER_WHISPER
    model = str(fetch_model(args.model, backend, args.cache))
    aligner = Aligner.load(model, backend, args.cache, Device.CPU, "int8")
    print("| recordings | seed | inserted marked | said marked | marked point off the gap: median / max s | "
          "neighbours' edges ≤ 100 ms: check / no check | CPU s: check / no check |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    items = recordings()
    # The same recordings back to back (1 s apart): long enough to be aligned in windows, as lectures are.
    gap = np.zeros(SAMPLE_RATE, np.float32)
    joined = Recording(
        "back to back",
        np.concatenate([part for item in items for part in (item.audio, gap)]),
        [word for item in items for word in item.words],
        None,
    )
    for name, group in (("each alone", items), ("back to back", [joined])):
        for seed in range(args.seeds + 1):
            figures = row(aligner, group, seed, args.rate, args.seed_base)
            print(f"| {name} | {seed or 'none inserted'} | {figures}", flush=True)
    seconds = sum(item.seconds for item in items)
    print(f"\n{len(items)} recordings, {seconds:.0f} s of audio (back to back: {joined.seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
