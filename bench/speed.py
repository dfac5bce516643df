"""Worker speed: end-to-end time per message vs the engine alone vs the encoder floor, in one run.

    uv run python -m bench.speed [--repeat 3] [--lectures 3]

Input: the test suite's Hebrew lecture (espeak-ng) repeated `--lectures` times, as MP3.
- engine alone: stable-ts `model.align(samples, text)` on the decoded audio, nothing else;
- worker_defaults: one SQS message through `QueueWorker` against a moto server on 127.0.0.1
  (download, decode, VAD, anchored windows, pause snapping, fidelity repair, render, upload, notice,
  delete), with the worker's default alignment options;
- worker_one_pass: the same message with anchored windows and snapping off (one stable-ts pass):
  the worker's own plumbing on top of the engine;
- floor: one encoder pass per 30 s window (CTranslate2 `encode`), the least any Whisper aligner pays.
Timings are the median of `--repeat` runs; ratios come from the same run since the machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import boto3
import numpy as np
from moto.server import ThreadedMotoServer

from tests.speech import synthesize
from worker.cloud.jobs import JobRunner
from worker.cloud.queue import Notifier, WorkQueue
from worker.cloud.service import QueueWorker
from worker.cloud.shutdown import Shutdown
from worker.cloud.storage import Storage, aws_client
from worker.engine.alignment import Aligner, AlignmentOptions
from worker.engine.models import fetch_model
from worker.inputs.audio import SAMPLE_RATE, ffmpeg, load_audio
from worker.settings import Backend, Device, Settings

REPO = Path(__file__).resolve().parent.parent


def encoder_floor(aligner: Aligner, samples: np.ndarray) -> float:
    """Seconds for one encoder pass over every 30 s window of `samples`."""
    import ctranslate2

    model = aligner._model  # the faster-whisper model stable-ts wrapped
    window = 30 * SAMPLE_RATE
    started = time.perf_counter()
    for offset in range(0, len(samples), window):
        chunk = np.zeros(window, np.float32)
        piece = samples[offset : offset + window]
        chunk[: len(piece)] = piece
        features = model.feature_extractor(chunk)[:, : model.feature_extractor.nb_max_frames]
        model.model.encode(ctranslate2.StorageView.from_array(features[np.newaxis].astype(np.float32)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lectures", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="speed-"))
    sentences = (REPO / "tests/data/hebrew_lecture.txt").read_text(
        encoding="utf-8"
    ).splitlines() * args.lectures
    speech = synthesize(
        sentences, work / "lecture.wav", pauses=[0.4, 1.2, 0.3, 2.5, 0.8, 6.0], rates=[150, 175, 130]
    )
    mp3 = work / "lecture.mp3"
    subprocess.run([ffmpeg(), "-nostdin", "-loglevel", "error", "-i", str(speech.wav), str(mp3)], check=True)
    samples = load_audio(mp3)
    duration = len(samples) / SAMPLE_RATE

    cache = work / "models"
    fetch_model("base", Backend.FASTER_WHISPER, cache)
    aligner = Aligner.load("base", Backend.FASTER_WHISPER, cache, Device.CPU, "int8", AlignmentOptions())

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x"
    )
    s3 = boto3.client("s3", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    for bucket in ("audio", "text", "out"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="audio", Key="l.mp3", Body=mp3.read_bytes())
    s3.put_object(Bucket="text", Key="l.txt", Body=speech.text.encode())
    work_queue = sqs.create_queue(QueueName="work")["QueueUrl"]
    settings = Settings(
        audio_bucket="audio",
        text_bucket="text",
        output_bucket="out",
        device=Device.CPU,
        sqs_queue_url=work_queue,
        sqs_final_queue_url=sqs.create_queue(QueueName="done")["QueueUrl"],
        wait_time_seconds=0,
        max_messages=1,
    )
    queue = WorkQueue(aws_client("sqs", settings), work_queue, 0, settings.visibility_timeout_seconds)
    notifier = Notifier(aws_client("sqs", settings), settings.sqs_final_queue_url)
    storage = Storage(aws_client("s3", settings))
    # The same model, without this project's anchored windows and pause snapping: what the worker's
    # own plumbing (S3, decoding, fidelity, rendering, SQS) adds to one stable-ts pass.
    plain = Aligner(
        aligner._model,
        aligner.model_name,
        replace(aligner.defaults, anchor_min_audio=None, snap_distance=None),
    )
    workers = {
        name: QueueWorker(settings, queue, notifier, JobRunner(settings, chosen, storage), Shutdown(0))
        for name, chosen in (("worker_defaults", aligner), ("worker_one_pass", plain))
    }

    timings: dict[str, list[float]] = {"engine_alone": [], "encoder_floor": [], **{n: [] for n in workers}}
    for _ in range(args.repeat):
        started = time.perf_counter()
        aligner._model.align(
            samples, " ".join(speech.text.split()), language="he", token_step=200, verbose=None
        )
        timings["engine_alone"].append(time.perf_counter() - started)
        for name, worker in workers.items():
            sqs.send_message(QueueUrl=work_queue, MessageBody='{"audio_key": "l.mp3", "text_key": "l.txt"}')
            started = time.perf_counter()
            worker.run()
            timings[name].append(time.perf_counter() - started)
        timings["encoder_floor"].append(encoder_floor(aligner, samples))
    server.stop()

    median = {name: statistics.median(values) for name, values in timings.items()}
    report: dict[str, float] = {"audio_seconds": round(duration, 1), "repeat": args.repeat}
    report |= {f"{name}_s": round(value, 2) for name, value in median.items()}
    for name in workers:
        report[f"{name}_over_engine"] = round(median[name] / median["engine_alone"], 3)
        report[f"{name}_over_floor"] = round(median[name] / median["encoder_floor"], 2)
        report[f"{name}_rtf"] = round(median[name] / duration, 4)
    report["engine_over_floor"] = round(median["engine_alone"] / median["encoder_floor"], 2)
    report["floor_rtf"] = round(median["encoder_floor"] / duration, 4)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
