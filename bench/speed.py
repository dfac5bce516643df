"""Speed at lecture length: encoder floor, stable-ts `align()` alone and the worker's defaults, one run.

    nice -n 10 uv run python -m bench.speed [--minutes 5,30,60] [--runs floor,align,defaults]

Input: synthetic Hebrew lectures of the given lengths (`bench/hebrew.py`: three distinct 5.5-minute
lectures, seeds 7-9, cycled and cut at a sentence end), one sentence per line, as MP3.
Each measurement runs in a fresh process (model load and imports not timed; peak RSS is that
process's, model included):
- floor: one CTranslate2 encoder pass per 30 s of audio, the least any Whisper aligner pays;
- align: stable-ts `model.align(samples, text)` alone on the decoded audio (token_step 200);
- defaults: what a Job does with one lecture: decode the MP3, `Aligner.align` with the worker's
  defaults (VAD, first pass, anchored windows, snapping), render VTT + JSON (fidelity checked).
For every run: wall seconds, CPU seconds (all threads) and peak RSS, each also as a ratio to the
floor of the same length; for the defaults, a profile (exclusive: a network inside a step counts
for the network): CPU in the networks (Whisper encoder, Whisper decoder alignment, Silero VAD), in
the log-mel front end, in each of the pipeline's own steps (the issue's non-model work: decode,
VAD pauses, anchoring, first-pass evidence, reconciliation, snapping, probes, rendering and
verdict), in stable-ts's own Python around the networks, and the glue left over, with the number
of network calls; and the time-vs-length exponent (least-squares slope of log time on log length).
Results go to bench/results/speed/results.json and print as a table.

    nice -n 10 uv run python -m bench.speed --startup [--repeat 3]

Start-up, what every Job pays before its first message: the real `timestamp` worker against a moto
SQS queue (no messages, IDLE_TIMEOUT_SECONDS=1), WHISPER_CACHE=models, DEVICE=cpu; per run the wall
seconds until it logs "worker ready" (imports, model load, VAD warm-up, the queue's redrive policy
read) and the process's CPU seconds and peak RSS (one idle 1 s poll included). Also the wall and
CPU of `timestamp` without SQS_QUEUE_URL (a configuration error: how fast a bad deploy says so),
and, with one message waiting (a `--startup-minutes` MP3 of noise, 64 kb/s, and a short text), the
seconds from the start and from "worker ready" to "aligning" (the first alignment starting) with
PREFETCH=true and false: what fetching the first message during the model load saves per Job.
Prints JSON: each run and the median of each figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from bench import hebrew
from bench.datasets import REPO
from worker.engine.vad import CPU_CHUNKS_PER_CALL, GPU_CHUNKS_PER_CALL
from worker.inputs.audio import SAMPLE_RATE, ffmpeg

CACHE = REPO / "bench" / "results" / "cache"
OUT = REPO / "bench" / "results" / "speed"
SEEDS = (7, 8, 9)
RUNS = ("floor", "align", "defaults")
MEL, ANCHORING, SILERO = "log-mel", "anchoring (non-model)", "silero vad"
SILERO_CALLS = "silero vad network calls (both directions, CPU)"
ANCHORING_FUNCTION = "place_pauses"  # worker.engine.anchors, imported by name where it is called
# The pipeline's own non-model steps, as the issue lists them (decode, VAD, anchoring, reconciliation,
# rendering, verification), each timed where the worker calls it, exclusive of the networks inside:
# label -> (module, function). stable-ts's own Python is timed apart (STABLE_TS); what no label
# claims is the worker's glue between the steps.
DECODE = "own: decode (ffmpeg and load_audio)"
OWN_STEPS = {
    "own: noise taken out for the VAD": ("worker.engine.denoise", "denoised"),
    "own: vad pauses (after Silero)": ("worker.engine.vad", "find_silences"),
    "own: first-pass evidence": ("worker.engine.first_pass", "trusted_evidence"),
    "own: reconciliation": ("worker.engine.fidelity", "reconcile"),
    "own: snapping": ("worker.engine.refine", "snap_to_pauses"),
    "own: shifts": ("worker.engine.refine", "shift_words"),
    "own: probes (outside the networks)": ("worker.engine.evidence", "probe_text"),
}
RENDER = "own: rendering and review verdict"
STABLE_TS = "stable-ts (its Python around the networks)"


# --- input -------------------------------------------------------------------------------------------


def lecture(minutes: float) -> tuple[Path, Path, Path]:
    """(MP3, decoded samples .npy, text) of a synthetic Hebrew lecture of about `minutes`, cached."""
    stem = CACHE / f"speed_he_{minutes:g}min"
    mp3, npy, txt = stem.with_suffix(".mp3"), stem.with_suffix(".npy"), stem.with_suffix(".txt")
    if mp3.exists() and npy.exists() and txt.exists():
        return mp3, npy, txt
    parts = [hebrew.load_lecture(CACHE, seed) for seed in SEEDS]
    target = round(minutes * 60 * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    lines: list[str] = []
    length, index = 0, 0
    while length < target:
        audio, sentences = parts[index % len(parts)]
        index += 1
        if length + len(audio) > target:  # cut after the last whole sentence that fits
            fits = [s for s in sentences if length + round(s.end * SAMPLE_RATE) <= target]
            if fits:
                pieces.append(audio[: round(fits[-1].end * SAMPLE_RATE) + SAMPLE_RATE // 2])
                lines += [s.text for s in fits]
            break
        pieces.append(audio)
        lines += [s.text for s in sentences]
        length += len(audio)
    samples = np.concatenate(pieces).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    wav = stem.with_suffix(".wav")
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes()
    command = [ffmpeg(), "-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(SAMPLE_RATE)]
    subprocess.run([*command, "-ac", "1", "-i", "-", str(wav)], input=pcm, check=True)
    subprocess.run([ffmpeg(), "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), str(mp3)], check=True)
    wav.unlink()
    from worker.inputs.audio import load_audio

    np.save(npy, load_audio(mp3))  # what the worker decodes: the same input for every run
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return mp3, npy, txt


# --- one measurement, in a fresh process --------------------------------------------------------------


class Profile:
    """CPU seconds and calls spent inside the networks, the log-mel front end and the pipeline's own
    steps (process CPU time: the engines' own threads included; the calls are sequential, so nothing
    else runs meanwhile). Exclusive: a wrapped call inside another (a network inside the probes) is
    counted for itself only."""

    def __init__(self) -> None:
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._inner: list[float] = []  # per open wrapped call, the CPU of the wrapped calls inside it

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            self._inner.append(0.0)
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.process_time() - started
                self.cpu[name] += spent - self._inner.pop()
                if self._inner:
                    self._inner[-1] += spent
                self.calls[name] += 1

        return timed

    def install(self, model: Any) -> None:
        """Every label timed: the networks, the log-mel, Silero, the anchoring, the pipeline's own
        steps and stable-ts's entry points on `model` (the faster-whisper model the aligner wraps)."""
        import faster_whisper.feature_extractor
        import faster_whisper.transcribe

        from worker.engine import vad

        # Class attributes of the libraries (bench only): the worker's own code runs unchanged.
        whisper = faster_whisper.transcribe.WhisperModel
        chunks = self.wrap("whisper encoder, >= 14 s (first pass, probes, long windows)", whisper.encode)
        windows = self.wrap("whisper encoder, windows", whisper.encode)

        def encode(model: Any, features: Any) -> Any:
            # CTranslate2 encodes a short window for a fraction of a long piece: count them apart
            return (chunks if features.shape[-1] >= 1400 else windows)(model, features)

        setattr(whisper, "encode", encode)  # noqa: B010
        # find_alignment: CTranslate2's decoder pass and DTW over its cross-attention (one call)
        setattr(whisper, "find_alignment", self.wrap("whisper alignment", whisper.find_alignment))  # noqa: B010
        mel = faster_whisper.feature_extractor.FeatureExtractor
        setattr(mel, "__call__", self.wrap(MEL, mel.__call__))  # noqa: B010
        # The two directions run in parallel threads on a CPU, so Silero is timed as one call of
        # `directions` (process CPU: both threads); its network calls are counted apart.
        setattr(vad, "directions", self.wrap(SILERO, vad.directions))  # noqa: B010
        counting = threading.Lock()  # both lanes' threads count

        def count() -> None:
            with counting:
                self.calls.update([SILERO_CALLS])

        vad._networks[0] = cast(Any, _Counted(vad._load(), count))
        self.install_anchoring()
        for label, (module, function) in OWN_STEPS.items():
            self.wrap_everywhere(label, module, function)
        # stable-ts's entry points: the instance methods it binds on the model, its Aligner (the first pass)
        import stable_whisper

        for method in ("align", "align_words"):
            setattr(model, method, self.wrap(STABLE_TS, getattr(model, method)))
        setattr(stable_whisper.Aligner, "align", self.wrap(STABLE_TS, stable_whisper.Aligner.align))  # noqa: B010

    def install_anchoring(self) -> list[str]:
        """Not a network: the anchoring's own cost (`worker.engine.anchors.place_pauses`), to show how
        it grows with the length."""
        return self.wrap_everywhere(ANCHORING, "worker.engine.anchors", ANCHORING_FUNCTION)

    def wrap_everywhere(self, label: str, module_name: str, function: str) -> list[str]:
        """`module_name.function` timed under `label` in every worker module that imported it by name
        (where the worker calls it); the modules wrapped. A rename fails here instead of reading 0."""
        import worker.engine.alignment  # noqa: F401 (imports every caller)

        home = sys.modules[module_name]
        original = getattr(home, function, None)
        if original is None:
            raise LookupError(f"{module_name} has no {function}: update bench.speed")
        callers = [
            module
            for name, module in sorted(sys.modules.items())
            if name.startswith("worker.")
            and module is not home
            and getattr(module, function, None) is original
        ]
        if not callers:
            raise LookupError(f"no worker module calls {module_name}.{function}: update bench.speed")
        timed = self.wrap(label, original)
        for module in callers:
            setattr(module, function, timed)
        return [module.__name__ for module in callers]


class _Counted:
    """Silero's network (`worker.engine.vad.Network`) with its calls counted (the rest passes through)."""

    def __init__(self, module: Any, count: Callable[[], None]) -> None:
        self._module, self._count = module, count

    def __call__(self, *args: Any) -> Any:
        self._count()
        return self._module(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished child processes (ffmpeg)
    return usage.ru_utime + usage.ru_stime


def measure(run: str, minutes: float) -> dict[str, Any]:
    from worker.engine.alignment import Aligner, _quiet_engine
    from worker.engine.models import fetch_model
    from worker.inputs.audio import load_audio
    from worker.publish.outputs import render
    from worker.settings import Backend, Device, Settings

    mp3, npy, txt = lecture(minutes)
    text = txt.read_text(encoding="utf-8")
    settings = Settings(whisper_cache=REPO / "models", device=Device.CPU)
    fetch_model(settings.whisper_model, Backend.FASTER_WHISPER, settings.whisper_cache)
    aligner = Aligner.from_settings(settings)
    model = aligner._model  # the faster-whisper model stable-ts wrapped
    profile = Profile()
    if run == "defaults":
        profile.install(model)
    samples = np.load(npy)
    wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    if run == "floor":
        window = 30 * SAMPLE_RATE
        for offset in range(0, len(samples), window):
            chunk = np.zeros(window, np.float32)
            piece = samples[offset : offset + window]
            chunk[: len(piece)] = piece
            features = model.feature_extractor(chunk)[:, : model.feature_extractor.nb_max_frames]
            model.encode(features)
    elif run == "align":
        with _quiet_engine():
            model.align(samples, " ".join(text.split()), language="he", token_step=200, verbose=None)
    else:
        decoding = time.process_time()
        samples = load_audio(mp3)
        profile.cpu[DECODE] += time.process_time() - decoding  # + ffmpeg's CPU, below
        alignment = aligner.align(samples, text)
        profile.wrap(RENDER, render)(alignment, text, {"audio_key": mp3.name, "text_key": txt.name})
    decode_cpu = _children_cpu() - children  # ffmpeg's decode (a child process) is the job's work too
    profile.cpu[DECODE] += decode_cpu
    report: dict[str, Any] = {
        "run": run,
        "minutes": minutes,
        "audio_s": round(len(samples) / SAMPLE_RATE, 1),
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu + decode_cpu, 2),
        "child_cpu_s": round(decode_cpu, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if run == "defaults":
        report["model_cpu_s"] = {k: round(v, 2) for k, v in profile.cpu.items()}
        report["model_calls"] = dict(profile.calls)
    return report


# --- the run ------------------------------------------------------------------------------------------


def exponent(lengths: list[float], seconds: list[float]) -> float:
    """Slope of log(seconds) against log(length): 1 = linear."""
    slope = np.polyfit(np.log(lengths), np.log(seconds), 1)[0]
    return round(float(slope), 3)


def table(results: list[dict[str, Any]]) -> str:
    floors = {r["minutes"]: r for r in results if r["run"] == "floor"}
    rows = [
        "| audio | run | wall s | CPU s | peak RSS MB | wall × floor | CPU × floor | RSS × floor | RTF |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        floor = floors.get(r["minutes"])

        def ratio(key: str, r: dict[str, Any] = r, floor: dict[str, Any] | None = floor) -> str:
            return f"{r[key] / floor[key]:.2f}" if floor else "–"

        rows.append(
            f"| {r['audio_s'] / 60:.1f} min | {r['run']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
            f"{r['peak_rss_mb']} | {ratio('wall_s')} | {ratio('cpu_s')} | {ratio('peak_rss_mb')} | "
            f"{r['wall_s'] / r['audio_s']:.4f} |"
        )
    return "\n".join(rows)


def _network(label: str) -> bool:
    """A network's label in the profile: not the log-mel, the anchoring or one of the pipeline's own steps."""
    return label not in (MEL, ANCHORING, STABLE_TS) and not label.startswith("own: ")


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by = {(r["run"], r["minutes"]): r for r in results}
    for run in RUNS:
        rs = sorted((r for r in results if r["run"] == run), key=lambda r: r["audio_s"])
        if len(rs) >= 2:
            lengths = [r["audio_s"] for r in rs]
            out[f"{run}_exponent_cpu"] = exponent(lengths, [r["cpu_s"] for r in rs])
            out[f"{run}_exponent_wall"] = exponent(lengths, [r["wall_s"] for r in rs])
    for r in results:
        if r["run"] != "defaults":
            continue
        minutes = r["minutes"]
        networks = sum(v for k, v in r["model_cpu_s"].items() if _network(k))
        mel = r["model_cpu_s"].get(MEL, 0.0)
        key = f"{minutes:g}min"
        out[f"defaults_{key}_network_share"] = round(networks / r["cpu_s"], 3)
        out[f"defaults_{key}_logmel_share"] = round(mel / r["cpu_s"], 3)
        # The non-model work (decode, VAD, anchoring, reconciliation, rendering,
        # verification): the pipeline's own steps, Silero included
        own = sum(v for k, v in r["model_cpu_s"].items() if k.startswith("own: ") or k in (SILERO, ANCHORING))
        out[f"defaults_{key}_non_model_share"] = round(own / r["cpu_s"], 3)
        out[f"defaults_{key}_anchoring_share"] = round(r["model_cpu_s"].get(ANCHORING, 0.0) / r["cpu_s"], 3)
        # the alignment engine's own Python (stable-ts around the networks), and the glue no label claims
        engine_python = r["model_cpu_s"].get(STABLE_TS, 0.0)
        out[f"defaults_{key}_stable_ts_python_share"] = round(engine_python / r["cpu_s"], 3)
        out[f"defaults_{key}_glue_cpu_s"] = round(r["cpu_s"] - sum(r["model_cpu_s"].values()), 2)
        # a broader count: all the CPU outside Whisper's networks and log-mel (Silero, stable-ts's
        # Python and the glue in it)
        silero = r["model_cpu_s"].get(SILERO, 0.0)
        out[f"defaults_{key}_outside_whisper_share"] = round(1 - (networks - silero + mel) / r["cpu_s"], 3)
        if ("align", minutes) in by:
            align = by[("align", minutes)]
            out[f"defaults_over_align_{key}_cpu"] = round(r["cpu_s"] / align["cpu_s"], 3)
            out[f"defaults_over_align_{key}_wall"] = round(r["wall_s"] / align["wall_s"], 3)
        # GPU projection (not a measurement): the networks 30x / 100x faster, one call costing at
        # least 1 ms of launch latency, everything else as on this CPU.
        # (Silero's calls are its network calls, not the one call of `directions`; on a GPU
        # both directions share a call, and a call takes GPU_CHUNKS_PER_CALL chunks, not the CPU's)
        calls = sum(v for k, v in r["model_calls"].items() if _network(k) and k not in (SILERO, SILERO_CALLS))
        calls += math.ceil(r["model_calls"].get(SILERO_CALLS, 0) * CPU_CHUNKS_PER_CALL / GPU_CHUNKS_PER_CALL)
        rest = r["cpu_s"] - networks
        for speedup in (30, 100):
            projected = rest + max(networks / speedup, calls * 0.001)
            out[f"defaults_{key}_gpu_projection_{speedup}x_s"] = round(projected, 1)
            out[f"defaults_{key}_gpu_projection_{speedup}x_rtf"] = round(projected / r["audio_s"], 4)
    return out


def _first_alignment(env: dict[str, str]) -> dict[str, Any]:
    """Seconds from the start and from "worker ready" until the first alignment starts; then stopped."""
    command = [str(Path(sys.executable).parent / "timestamp")]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    ready = None
    for line in process.stderr:
        if ready is None and "worker ready" in line:
            ready = time.perf_counter() - started
        if "aligning " in line and ready is not None:
            aligning = time.perf_counter() - started
            process.kill()
            process.wait()
            return {
                "start_to_aligning_s": round(aligning, 2),
                "ready_to_aligning_s": round(aligning - ready, 2),
            }
    raise RuntimeError(f"timestamp ended before aligning (status {process.wait()})")


def _timestamp(env: dict[str, str], until: str | None = None) -> dict[str, Any]:
    """Run the `timestamp` worker to its end: wall seconds until a log line containing `until`, and
    the process's CPU seconds and peak RSS."""
    command = [str(Path(sys.executable).parent / "timestamp")]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    seen, lines = None, []
    for line in process.stderr:
        lines.append(line)
        if until and seen is None and until in line:
            seen = round(time.perf_counter() - started, 2)
    _, status, usage = os.wait4(process.pid, 0)
    if until and seen is None:
        raise RuntimeError(f"timestamp never logged {until!r}: {''.join(lines)[-2000:]}")
    return {
        "wall_s": seen if until else round(time.perf_counter() - started, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "status": os.waitstatus_to_exitcode(status),
    }


def startup(repeat: int, minutes: float) -> dict[str, Any]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        env = {
            **os.environ,
            **credentials,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        }

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=env["AWS_ENDPOINT_URL"],
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        sqs = client("sqs")
        url = sqs.create_queue(QueueName="startup")["QueueUrl"]
        worker_env = {
            **env,
            "SQS_QUEUE_URL": url,
            "WHISPER_CACHE": str(REPO / "models"),
            "DEVICE": "cpu",
            "IDLE_TIMEOUT_SECONDS": "1",
            "WAIT_TIME_SECONDS": "1",
            "VISIBILITY_TIMEOUT_SECONDS": "30",
        }
        from worker.engine.models import fetch_model
        from worker.settings import Backend

        fetch_model("base", Backend.FASTER_WHISPER, REPO / "models")
        bad_env = {k: v for k, v in env.items() if k != "SQS_QUEUE_URL"}
        runs: dict[str, list[dict[str, Any]]] = {"worker ready": [], "configuration error": []}
        for _ in range(repeat):
            runs["worker ready"].append(_timestamp(worker_env, until="worker ready"))
            runs["configuration error"].append(_timestamp(bad_env))
        if minutes:
            mp3 = CACHE / f"startup_noise_{minutes:g}min.mp3"
            if not mp3.exists():
                CACHE.mkdir(parents=True, exist_ok=True)
                noise = f"anoisesrc=d={minutes * 60:g}:c=pink:r=44100:a=0.05"
                command = [ffmpeg(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", noise]
                subprocess.run([*command, "-ac", "1", "-b:a", "64k", str(mp3)], check=True)
            s3 = client("s3")
            for bucket in ("audio", "text"):
                s3.create_bucket(Bucket=bucket)
            s3.upload_file(str(mp3), "audio", "lecture.mp3")
            s3.put_object(Bucket="text", Key="lecture.txt", Body="שלום עולם ".encode() * 200)
            body = json.dumps({"audio_key": "lecture.mp3", "text_key": "lecture.txt"})
            first_env = {
                **worker_env,
                "AUDIO_BUCKET": "audio",
                "TEXT_BUCKET": "text",
                "OUTPUT_BUCKET": "text",
                "MAX_MESSAGES": "1",
            }
            for run in range(repeat):
                for prefetch in ("true", "false"):
                    fresh = sqs.create_queue(QueueName=f"first-{run}-{prefetch}")["QueueUrl"]
                    sqs.send_message(QueueUrl=fresh, MessageBody=body)
                    name = f"first alignment, PREFETCH={prefetch}"
                    found = _first_alignment({**first_env, "SQS_QUEUE_URL": fresh, "PREFETCH": prefetch})
                    runs.setdefault(name, []).append(found)
    finally:
        server.stop()
    medians = {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0] if key != "status"}
        for name, rs in runs.items()
    }
    return {"runs": runs, "median": medians, "cpus": os.cpu_count()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", default="5,30,60", help="lecture lengths, comma-separated")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated of {', '.join(RUNS)}")
    parser.add_argument("--startup", action="store_true", help="measure the worker's start-up instead")
    parser.add_argument("--repeat", type=int, default=3, help="start-up runs (default 3)")
    parser.add_argument(
        "--startup-minutes", type=float, default=10, help="audio of the first message (0: no first-job runs)"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: RUN:MINUTES in this process
    args = parser.parse_args(argv)
    if args.startup:
        print(json.dumps(startup(args.repeat, args.startup_minutes), indent=1))
        return
    if args.one:
        run, minutes = args.one.split(":")
        print(json.dumps(measure(run, float(minutes))))
        return
    results = []
    for minutes in (float(m) for m in args.minutes.split(",")):
        lecture(minutes)
        for run in args.runs.split(","):
            command = [sys.executable, "-m", "bench.speed", "--one", f"{run}:{minutes:g}"]
            done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    report = {"results": results, "summary": summary(results), "cpus": os.cpu_count()}
    (OUT / "results.json").write_text(json.dumps(report, indent=1))
    print(table(results))
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
