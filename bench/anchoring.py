"""The anchoring alone, without the model: `uv run python -m bench.anchoring --sets lecture_60`.

Finds the pauses (Silero VAD, as the worker does), places them at word boundaries
(`worker.engine.anchors.place_pauses`, without a first pass) and scores each placed pause against
the truth: the time of the boundary it was placed at against the pause itself. `--all-pauses`
anchors on every VAD pause, as before the programme kept only the ones the VAD is sure of
(`worker.engine.vad.reliable`), for comparison. A pause placed at the
wrong boundary is off by the speech between the two; a drift shows as a run of them. Also reports
the candidate cells the programme evaluated per pause (its cost does not grow with the position)
and CPU seconds. `--first-pass gated` adds the worker's first pass as evidence, heard in pieces
as the worker does (`--piece-seconds 0`: in one pass over the whole recording, as before).
Without a first pass, cheap enough for the 60-minute lecture on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np

from bench.datasets import REPO, load_set
from worker.engine.alignment import AlignmentOptions
from worker.engine.anchors import place_pauses
from worker.engine.chunking import doubtful_stretches
from worker.engine.fidelity import TimedWord, reconcile
from worker.engine.first_pass import PIECE_SECONDS, heard_in_pieces, trusted_evidence
from worker.engine.vad import Pause, find_silences, reliable
from worker.inputs.audio import SAMPLE_RATE
from worker.inputs.text import split_words

CACHE = REPO / "bench" / "results" / "cache"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.anchoring", description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="lecture_10,lecture_30,lecture_60")
    parser.add_argument("--anchor-pause", type=float, default=0.2)
    parser.add_argument("--all-pauses", action="store_true", help="anchor on every VAD pause (the old way)")
    parser.add_argument(
        "--first-pass",
        choices=["none", "raw", "gated"],
        default="none",
        help="evidence from the first stable-ts pass (run once per set with Whisper base, then cached): "
        "none, as is (the old way), or gated by the rate as the worker does",
    )
    parser.add_argument(
        "--piece-seconds",
        type=float,
        default=PIECE_SECONDS,
        help="the first pass listens in pieces of about this long, as the worker does; 0: one pass over "
        "the whole recording (before it was run in pieces)",
    )
    args = parser.parse_args(argv)
    head = ["set", "audio min", "VAD pauses", "sure", "pauses placed", "at the true boundary %"]
    head += ["off > 1 s", "worst s", "cells/pause", "doubts", "CPU s"]
    print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    for name in args.sets.split(","):
        clip = load_set(name, CACHE).clips[0]
        heard = find_silences(clip.audio, denoise=AlignmentOptions().vad_denoise)  # as the worker hears
        pauses = heard.pauses
        sure = len(reliable(pauses))
        if args.all_pauses:  # levels dropped: every pause counts as sure, edges as found
            pauses = [Pause(p.start, p.end) for p in pauses]
        words = split_words(clip.text)
        evidence = (
            None
            if args.first_pass == "none"
            else first_pass(name, clip.audio, words, pauses, args.anchor_pause, args.piece_seconds)
        )
        started = time.process_time()
        if evidence is not None and args.first_pass == "gated":
            evidence = trusted_evidence(words, evidence, pauses, clip.duration, args.anchor_pause)
        anchoring = place_pauses(words, pauses, clip.duration, args.anchor_pause, evidence=evidence)
        cpu = time.process_time() - started
        errors = []
        for k, pause in anchoring.cuts:
            if 0 < k < len(words):  # the true gap at boundary k: end of word k-1 to start of word k
                lo, hi = clip.words[k - 1].end, clip.words[k].start
                errors.append(max(0.0, pause.start - hi, lo - pause.end))
        err = np.asarray(errors)
        placed = len(anchoring.cuts)
        print(
            f"| {name} | {clip.duration / 60:.1f} | {len(pauses)} | {sure} | {placed} | "
            f"{100 * np.mean(err <= 0.05):.1f} | "
            f"{int(np.sum(err > 1.0))} | {err.max():.2f} | {anchoring.cells / max(placed, 1):.0f} | "
            f"{len(doubtful_stretches(anchoring))} | {cpu:.1f} |",
            flush=True,
        )
    return 0


def first_pass(
    name: str,
    audio: np.ndarray,
    words: list[str],
    pauses: list[Pause],
    anchor_pause: float,
    piece_seconds: float,
) -> list[TimedWord]:
    """The worker's first pass (stable-ts `align()`, fast_mode, Whisper base int8) over the set, in
    pieces of about `piece_seconds` (0: in one pass), cached."""
    cached = CACHE / (
        f"firstpass-{name}.json" if not piece_seconds else f"firstpass-{name}-{piece_seconds:g}.json"
    )
    if not cached.exists():
        from worker.engine.alignment import Aligner, AlignmentOptions
        from worker.engine.models import fetch_model
        from worker.settings import Backend, Device

        fetch_model("base", Backend.FASTER_WHISPER, REPO / "models")
        aligner = Aligner.load("base", Backend.FASTER_WHISPER, REPO / "models", Device.CPU, "int8")
        duration = len(audio) / SAMPLE_RATE

        def listen(piece: np.ndarray, piece_words: list[str]) -> list[TimedWord]:
            return aligner.first_pass_words(piece, piece_words, AlignmentOptions())

        if piece_seconds:
            rate_only = place_pauses(words, pauses, duration, anchor_pause)
            heard = heard_in_pieces(listen, audio, words, rate_only, SAMPLE_RATE, piece_seconds)
        else:
            heard, _ = reconcile(words, listen(audio, words), duration)
        cached.write_text(json.dumps([dataclasses.asdict(w) for w in heard]))
    return [TimedWord(**w) for w in json.loads(cached.read_text())]


if __name__ == "__main__":
    sys.exit(main())
