"""The `timestamp` command.

    timestamp                      run the SQS worker (same as `timestamp worker`)
    timestamp align AUDIO TEXT     align two local files, writing DIR/<TEXT stem>.vtt and .json
    timestamp batch ITEMS_FILE     align S3 items without a queue (the operator's Jobs)
    timestamp fetch-model NAME     put a model into WHISPER_CACHE (the Docker build runs it)

Bad input ends with one line on stderr and a non-zero status: 2 for configuration, 1 for input.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from worker.settings import Backend, ConfigError, Device, Settings, load_settings

EXIT_INPUT = 1
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timestamp", description="Re-align corrected transcripts with their audio."
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("worker", help="process the SQS queue (the default)")

    align = commands.add_parser("align", help="align a local audio file with a local transcript")
    align.add_argument("audio", type=Path)
    align.add_argument("text", type=Path)
    align.add_argument(
        "--out-dir", type=Path, default=Path("."), help="where to write .vtt and .json (default: .)"
    )
    align.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    align.add_argument("--quiet", action="store_true", help="no progress bar")
    _model_options(align)

    batch = commands.add_parser("batch", help="align the S3 items of a JSON file, without a queue")
    batch.add_argument("items", type=Path)
    batch.add_argument("--index", type=int, help="only this item (default: $JOB_COMPLETION_INDEX, else all)")
    batch.add_argument("--outcome-file", type=Path, help="where to write the last outcome")
    _model_options(batch)

    fetch = commands.add_parser("fetch-model", help="put a model into WHISPER_CACHE")
    fetch.add_argument("name", help="model name, e.g. base, small, large-v3")
    fetch.add_argument("--backend", choices=[b.value for b in Backend])
    fetch.add_argument("--cache", type=Path, help="default: $WHISPER_CACHE")
    return parser


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name or local path (default: $WHISPER_MODEL)")
    parser.add_argument("--backend", choices=[b.value for b in Backend], help="default: $WHISPER_BACKEND")
    parser.add_argument("--language", help="language code (default: $LANGUAGE)")
    parser.add_argument(
        "--device", choices=[d.value for d in Device], help="default: $DEVICE, or cpu without a GPU"
    )
    parser.add_argument("--token-step", type=int, help="default: $TOKEN_STEP")
    parser.add_argument("--compute-type", help="CTranslate2 compute type (default: $COMPUTE_TYPE)")


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    names = {
        "model": "whisper_model",
        "backend": "whisper_backend",
        "language": "language",
        "device": "device",
        "token_step": "token_step",
        "compute_type": "compute_type",
    }
    chosen = {
        field: getattr(args, option)
        for option, field in names.items()
        if getattr(args, option, None) is not None
    }
    if (
        args.command == "align"
        and "device" not in chosen
        and "DEVICE" not in os.environ
        and not _gpu_present()
    ):
        chosen["device"] = Device.CPU  # a laptop run should just work
    return chosen


def _gpu_present() -> bool:
    from worker.engine.models import cuda_devices

    return bool(cuda_devices(Backend.FASTER_WHISPER))


def _setup_logging(settings: Settings) -> None:
    from worker.logs import setup

    setup(settings)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "worker"
    try:
        settings = load_settings(**_overrides(args)) if command != "fetch-model" else load_settings()
    except ConfigError as error:
        return _fail(str(error), EXIT_CONFIG)
    _setup_logging(settings)
    from worker import app  # heavy imports (torch) only once the arguments are known to be sane

    try:
        if command == "worker":
            return app.run_worker(settings)
        if command == "align":
            return app.run_align(settings, args.audio, args.text, args.out_dir, args.overwrite, args.quiet)
        if command == "batch":
            return app.run_batch_file(settings, args.items, args.index, args.outcome_file)
        backend = Backend(args.backend) if args.backend else settings.whisper_backend
        return app.run_fetch_model(args.name, backend, args.cache or settings.whisper_cache)
    except app.ConfigurationProblem as error:
        return _fail(str(error), EXIT_CONFIG)
    except app.InputProblem as error:
        return _fail(str(error), EXIT_INPUT)


def _fail(message: str, status: int) -> int:
    print(f"timestamp: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
