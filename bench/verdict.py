"""Calibration of the review verdict: `uv run python -m bench.verdict [--pairs SUBSTRING]`.

Aligns every pair of bench/pairs.py with the worker's own core (Whisper base, int8, CPU), computes
`quality.verdict` as the worker publishes it, and prints the confusion table (right pairs must be
`ok`; wrong pairs must not be) and each pair's signals. Alignments are cached in
bench/results/cache/verdict/ so tuning the verdict does not re-align (`--fresh` to redo them).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import pickle
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from bench.datasets import REPO
from bench.pairs import Pair, build
from worker.engine.alignment import Aligner, Alignment
from worker.engine.evidence import probe_text
from worker.engine.models import fetch_model
from worker.publish.verdict import judge, signals
from worker.settings import Backend, Device

RESULTS = REPO / "bench" / "results"


def _key(pair: Pair) -> str:
    digest = hashlib.sha256(pair.audio.tobytes() + pair.text.encode() + pair.language.encode())
    return digest.hexdigest()[:16]


def aligned(aligner: Aligner, pair: Pair, cache: Path, fresh: bool) -> tuple[Alignment, float]:
    """The pair's alignment (cached) and the wall seconds it took when it was made."""
    path = cache / f"{_key(pair)}.pickle"
    if path.exists() and not fresh:
        stored: tuple[Alignment, float] = pickle.loads(path.read_bytes())
        if "probes" not in vars(stored[0]):  # aligned before the probes existed: add them
            probes = probe_text(aligner._probe_words, pair.audio, stored[0].words, pair.language)
            object.__setattr__(stored[0], "probes", probes)
            path.write_bytes(pickle.dumps(stored))
        return stored
    started = time.perf_counter()
    alignment = aligner.align(
        pair.audio, pair.text, dataclasses.replace(aligner.defaults, language=pair.language)
    )
    result = (alignment, time.perf_counter() - started)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(result))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.verdict", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="", help="only pairs whose name contains this")
    parser.add_argument("--fresh", action="store_true", help="re-align instead of using cached alignments")
    parser.add_argument("--cache", type=Path, default=REPO / "models", help="model cache (WHISPER_CACHE)")
    parser.add_argument("--signals", action="store_true", help="print every signal of every pair")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("faster_whisper", "worker.engine.alignment", "stable_whisper"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    pairs = [p for p in build(RESULTS / "cache") if args.pairs in p.name]
    cache = RESULTS / "cache" / "verdict"
    model = fetch_model("base", Backend.FASTER_WHISPER, args.cache)
    aligner = Aligner.load(str(model), Backend.FASTER_WHISPER, args.cache, Device.CPU, "int8")

    table: Counter[tuple[bool, str]] = Counter()
    rows = []
    for pair in pairs:
        alignment, seconds = aligned(aligner, pair, cache, args.fresh)
        quality = judge(alignment)
        table[(pair.right, quality.verdict)] += 1
        wrong = (quality.verdict == "ok") != pair.right
        rows.append((pair, quality, seconds))
        if pair.reference:
            errors = [abs(w.start - r) for w, r in zip(alignment.words, pair.reference, strict=True)]
            logging.info(
                "    median word start error against the reference: %.2f s", statistics.median(errors)
            )
        logging.info(
            "%s %-45s %-14s %-12s %s",
            "MISS" if wrong else "    ",
            pair.name,
            pair.kind,
            quality.verdict,
            "; ".join(quality.reasons),
        )
        if args.signals:
            print("   ", signals(alignment))
    print()
    print("| pairs | ok | needs_review | failed |")
    print("|---|---|---|---|")
    for right in (True, False):
        counts = [table[(right, v)] for v in ("ok", "needs_review", "failed")]
        label = "right pairs" if right else "wrong pairs"
        print(f"| {label} ({sum(counts)}) | " + " | ".join(str(c) for c in counts) + " |")
    print()
    print("| pair | kind | audio s | verdict | why |")
    print("|---|---|---|---|---|")
    for pair, quality, _ in rows:
        why = "; ".join(quality.reasons) or "–"
        print(f"| {pair.name} | {pair.kind} | {len(pair.audio) / 16000:.0f} | {quality.verdict} | {why} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
