"""Can Whisper tell a written word that was never said? `python -m bench.unsaid --set lecture_30 --run RUN`.

Reads the words a `python -m bench --configs default --sets SET --dump --run RUN` run published and
tries two detectors against the lecture's truth (which words were never said):
- the word's own alignment probability (what the JSON carries as `probability`);
- a likelihood ratio: the decoder's forced log-probability of the text around the word (4 words
  either side, the audio they were aligned to) with the word against without it. A word never said
  should make the text less likely than leaving it out.
Prints, per threshold, how many unsaid words each catches and how many said words it wrongly flags
(said words: every short word, ≤ 3 letters, as the unsaid ones are; sampled for the ratio).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

import numpy as np

from bench.datasets import REPO, load_set
from worker.inputs.audio import SAMPLE_RATE

CACHE = REPO / "bench" / "results" / "cache"
CONTEXT_WORDS = 4
SAID_SAMPLE = 250


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.unsaid", description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="lecture_30")
    parser.add_argument("--run", required=True, help="a bench run folder holding words/default-SET.json")
    args = parser.parse_args(argv)
    import ctranslate2
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer

    clip = load_set(args.set, CACHE).clips[0]
    said = np.asarray(clip.spoken)
    words = json.loads(
        (REPO / "bench" / "results" / args.run / "words" / f"default-{args.set}.json").read_text()
    )
    words = words["words"]
    prob = np.array([w["probability"] for w in words])
    short = np.array([len(w["word"]) <= 3 for w in words])
    print(f"{args.set}: {int((~said).sum())} words never said, {int((said & short).sum())} short said words")
    print("| detector | threshold | unsaid caught | said flagged |\n|---|---|---|---|")
    for threshold in (0.002, 0.005, 0.01, 0.02):
        flag = prob < threshold
        print(
            f"| probability < {threshold} | {threshold} | {int(flag[~said].sum())}/{int((~said).sum())} | "
            f"{int((flag & short)[said].sum())}/{int((said & short).sum())} |"
        )

    model = WhisperModel(str(REPO / "models" / "faster-whisper-base"), device="cpu", compute_type="int8")
    tokenizer = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="he")
    rng = random.Random(1)
    said_short = [i for i in range(len(words)) if said[i] and short[i]]
    candidates = [i for i in range(len(words)) if not said[i]]
    candidates += rng.sample(said_short, min(SAID_SAMPLE, len(said_short)))
    deltas, labels = [], []
    started = time.process_time()
    for i in candidates:
        lo, hi = max(i - CONTEXT_WORDS, 0), min(i + CONTEXT_WORDS + 1, len(words))
        start = max(words[lo]["start"] - 0.3, 0.0)
        end = min(words[hi - 1]["end"] + 0.3, clip.duration)
        features = model.feature_extractor(clip.audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)])
        encoded = np.asarray(model.encode(features))
        text = [w["word"] for w in words[lo:hi]]
        with_word = tokenizer.encode(" " + " ".join(text))
        without = tokenizer.encode(" " + " ".join(text[: i - lo] + text[i - lo + 1 :]))
        both = ctranslate2.StorageView.from_array(np.repeat(encoded, 2, axis=0))
        results = model.model.align(both, tokenizer.sot_sequence, [with_word, without], features.shape[1])
        logp = [float(np.sum(np.log(np.maximum(r.text_token_probs, 1e-9)))) for r in results]
        deltas.append(logp[0] - logp[1])
        labels.append(bool(said[i]))
    delta, is_said = np.asarray(deltas), np.asarray(labels)
    for threshold in (-10.0, -8.0, -6.0):
        flag = delta < threshold
        print(
            f"| log p(with) − log p(without) < {threshold} | {threshold} | "
            f"{int(flag[~is_said].sum())}/{int((~is_said).sum())} | "
            f"{int(flag[is_said].sum())}/{int(is_said.sum())} |"
        )
    print(
        f"median ratio: unsaid {np.median(delta[~is_said]):.1f}, said {np.median(delta[is_said]):.1f} nats; "
        f"{(time.process_time() - started) / len(candidates):.2f} CPU s per word"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
