"""Alignment accuracy benchmark: `uv run python -m bench [--configs A,B] [--sets en,he]`.

Runs each configuration through the worker's own alignment core (`Aligner.align`, faster-whisper
base, int8 on CPU) on each set, always together with the baseline (stable-ts defaults) so real-time
factors come from the same run on the same (noisy) machine. Writes results.md, results.json and
errors.png to bench/results/<run name>/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np

from bench.configs import BASELINE, CONFIGS
from bench.datasets import REPO, SETS, Dataset, load_set
from bench.metrics import (
    Fidelity,
    Score,
    boundary_errors,
    fidelity,
    score,
    sentence_end_flags,
    sentence_errors,
    spoken_only,
)
from bench.report import table, write
from worker.engine.alignment import Aligner
from worker.engine.models import fetch_model
from worker.inputs.text import split_words
from worker.publish.verdict import SENTENCE_IN_SPEECH, judge
from worker.settings import Backend, Device

RESULTS = REPO / "bench" / "results"


def run_config(aligner: Aligner, config: str, data: Dataset, dump: Path | None = None) -> Score:
    options = CONFIGS[config].options
    signed, sentence_abs = [], []
    fid, repairs, wall = Fidelity(), 0, 0.0
    unspoken = flagged = wrongly = 0
    ends = [0, 0, 0, 0]  # sentence ends, flagged, flagged and off, off
    suspicious = 0.0
    for clip in data.clips:
        clip_options = dataclasses.replace(options, language=clip.language)
        started = time.perf_counter()
        result = aligner.align(clip.audio, clip.text, clip_options)  # logs stable-ts's warnings itself
        wall += time.perf_counter() - started
        if dump is not None:  # the published words, to study where a configuration goes wrong
            dump.mkdir(parents=True, exist_ok=True)
            (dump / f"{config}-{clip.name}.json").write_text(
                json.dumps(
                    {
                        "words": [dataclasses.asdict(w) for w in result.words],
                        "suspicious": [dataclasses.asdict(r) for r in result.suspicious],
                    },
                    ensure_ascii=False,
                )
            )
        fid = fid + fidelity(split_words(clip.text), [w.word for w in result.words])
        repairs += result.repairs.total
        signed.append(spoken_only(boundary_errors(clip.words, result.words), clip.spoken))
        if clip.spoken and fid.total == 0:
            said = [w.spoken for w in result.words]
            unspoken += clip.spoken.count(False)
            flagged += sum(not t and not o for t, o in zip(clip.spoken, said, strict=True))
            wrongly += sum(t and not o for t, o in zip(clip.spoken, said, strict=True))
        suspicious += sum(r.end - r.start for r in result.suspicious)
        if clip.sentences:
            sentence_abs.append(sentence_errors(clip.words, result.words, clip.sentences))
        if clip.sentences and fid.total == 0:  # words pair one to one
            review = judge(result).suspicious
            in_speech = {r.first_word for r in review if r.reason == SENTENCE_IN_SPEECH}
            found = sentence_end_flags(clip.words, result.words, clip.sentences, in_speech)
            ends = [a + b for a, b in zip(ends, found, strict=True)]
    result_score = score(
        np.concatenate(signed),
        fid,
        repairs,
        data.duration,
        wall,
        np.concatenate(sentence_abs) if sentence_abs else None,
    )
    result_score.unspoken, result_score.unspoken_flagged = unspoken, flagged
    result_score.flagged_wrongly, result_score.suspicious_s = wrongly, suspicious
    (
        result_score.sentence_ends,
        result_score.sentence_ends_flagged,
        result_score.sentence_flags_right,
        result_score.sentence_ends_off,
    ) = ends
    return result_score


def with_heads(model: Path, heads: str) -> Path:
    """A copy of a CTranslate2 model dir (weights linked) whose word timing uses other attention heads."""
    pairs = [[int(x) for x in pair.split(":")] for pair in heads.split(",")]
    target = RESULTS / "cache" / f"{model.name}-heads-{heads.replace(':', '_').replace(',', '-')}"
    target.mkdir(parents=True, exist_ok=True)
    for item in model.iterdir():
        if item.name != "config.json" and not (target / item.name).exists():
            (target / item.name).symlink_to(item.resolve())
    config = json.loads((model / "config.json").read_text())
    config["alignment_heads"] = pairs
    (target / "config.json").write_text(json.dumps(config))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="all", help=f"comma-separated, or 'all' ({', '.join(CONFIGS)})")
    parser.add_argument("--sets", default="en,en_concat,he", help=f"comma-separated of {', '.join(SETS)}")
    parser.add_argument("--run", default="latest", help="results folder name under bench/results/")
    parser.add_argument("--model", default="base")
    parser.add_argument("--cache", type=Path, default=REPO / "models", help="model cache (WHISPER_CACHE)")
    parser.add_argument("--backend", default=Backend.FASTER_WHISPER.value, choices=[b.value for b in Backend])
    parser.add_argument(
        "--heads",
        default=None,
        help="faster-whisper only: cross-attention heads for word timing, e.g. 5:1,5:4",
    )
    parser.add_argument(
        "--encoder-batch",
        type=int,
        default=0,
        help="windows per encoder call (ENCODER_BATCH; 0: the device's default, 1 on this CPU)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline row (exploration only)")
    parser.add_argument(
        "--dump", action="store_true", help="also write every output's words to the run folder"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("faster_whisper", "worker.engine.alignment", "stable_whisper"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    names = list(CONFIGS) if args.configs == "all" else args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configurations: {', '.join(unknown)}")
    if not args.no_baseline and BASELINE not in names:
        names.insert(0, BASELINE)

    backend = Backend(args.backend)
    model = str(fetch_model(args.model, backend, args.cache))
    if args.heads:
        model = str(with_heads(Path(model), args.heads))
    compute = "int8" if backend is Backend.FASTER_WHISPER else "float32"
    aligner = Aligner.load(model, backend, args.cache, Device.CPU, compute, encoder_batch=args.encoder_batch)
    datasets = [load_set(s, RESULTS / "cache") for s in args.sets.split(",")]
    for data in datasets:
        logging.info("%s: %d clips, %.1f s, %d words", data.name, len(data.clips), data.duration,
                     sum(len(c.words) for c in data.clips))  # fmt: skip

    results: dict[str, dict[str, Score]] = {}
    for name in names:
        results[name] = {}
        for data in datasets:
            s = score_ = run_config(aligner, name, data, RESULTS / args.run / "words" if args.dump else None)
            results[name][data.name] = s
            logging.info(
                "%-28s %-22s ≤50 %5.1f%% ≤100 %5.1f%% ≤200 %5.1f%% median %4.0f mean %5.0f fid %d "
                "sent≤200 %5.1f%% worst %.2f s RTF %.3f",
                name, data.name, 100 * s.within[50], 100 * s.within[100], 100 * s.within[200],
                s.median_ms, s.mean_ms, score_.fidelity.total, 100 * s.sentence_within_200,
                s.sentence_max_s, s.rtf,
            )  # fmt: skip
    header = (
        f"Whisper {args.model} ({backend.value}, {compute}, CPU"
        f"{', heads ' + args.heads if args.heads else ''}"
        f"{f', {args.encoder_batch} windows per encoder call' if args.encoder_batch > 1 else ''}), "
        f"{platform.processor() or platform.machine()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}. RTF = wall seconds of Aligner.align / audio seconds.\n\n"
    )
    folder = write(results, RESULTS / args.run, header)
    print(table(results))
    print(f"written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
