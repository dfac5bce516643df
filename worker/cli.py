"""The `timestamp` command.

    timestamp                      run the SQS worker (same as `timestamp worker`)
    timestamp align AUDIO TEXT     align two local files, writing DIR/<TEXT stem>.vtt, .srt, .json …
    timestamp batch ITEMS_FILE     align S3 items without a queue (the operator's Jobs)
    timestamp fetch-model NAME     put a model into WHISPER_CACHE (the Docker build runs it)
    timestamp review RESULT AUDIO  write a one-file HTML page to check an alignment (-o PAGE)

Bad input ends with one line on stderr and a non-zero status: 2 for configuration, 1 for input (and
for a failed `fetch-model`), 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Callable
from pathlib import Path

from worker.settings import Backend, ConfigError, Device, Settings, load_settings

EXIT_INPUT = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT


def _parser(now: Settings | None) -> argparse.ArgumentParser:
    """The command line; each option's help shows the value in effect (from the environment or default)."""

    def shown(field: str, variable: str) -> str:
        if now is None:  # the environment does not validate: the error comes after parsing
            return f"${variable}"
        value = getattr(now, field)
        return f"{'unset' if value is None else getattr(value, 'value', value)} (${variable})"

    parser = argparse.ArgumentParser(
        prog="timestamp", description="Re-align corrected transcripts with their audio."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("worker", help="process the SQS queue (the default)")

    align = commands.add_parser("align", help="align a local audio file with a local transcript")
    align.add_argument("audio", type=Path)
    align.add_argument("text", type=Path)
    align.add_argument(
        "--out-dir", type=Path, default=Path("."), help="where to write the outputs (default: .)"
    )
    align.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    align.add_argument("--quiet", action="store_true", help="no progress bar")
    _model_options(align, shown)
    subtitles = align.add_argument_group("subtitles")
    formats = shown("output_formats", "OUTPUT_FORMATS")
    subtitles.add_argument("--formats", help=f"vtt srt words.vtt tsv json, comma-separated (now: {formats})")
    subtitles.add_argument(
        "--max-line-chars",
        type=int,
        help=f"characters per line (now: {shown('cue_max_line_chars', 'CUE_MAX_LINE_CHARS')})",
    )
    subtitles.add_argument(
        "--max-lines", type=int, help=f"lines per cue (now: {shown('cue_max_lines', 'CUE_MAX_LINES')})"
    )
    subtitles.add_argument(
        "--min-cue-seconds",
        type=float,
        help=f"shortest cue display (now: {shown('cue_min_seconds', 'CUE_MIN_SECONDS')})",
    )
    subtitles.add_argument(
        "--max-cue-seconds",
        type=float,
        help=f"longest cue (now: {shown('cue_max_seconds', 'CUE_MAX_SECONDS')})",
    )
    subtitles.add_argument(
        "--max-cps",
        type=float,
        help=f"characters per second ceiling (now: {shown('cue_max_cps', 'CUE_MAX_CPS')})",
    )
    subtitles.add_argument(
        "--no-rtl-mark",
        action="store_true",
        help=f"no U+200F at the start of right-to-left lines (now: {shown('cue_rtl_mark', 'CUE_RTL_MARK')})",
    )

    batch = commands.add_parser("batch", help="align the S3 items of a JSON file, without a queue")
    batch.add_argument("items", type=Path)
    batch.add_argument("--index", type=int, help="only this item (default: $JOB_COMPLETION_INDEX, else all)")
    batch.add_argument("--outcome-file", type=Path, help="where to write the last outcome")
    _model_options(batch, shown)

    fetch = commands.add_parser("fetch-model", help="put a model into WHISPER_CACHE")
    fetch.add_argument("name", help="model name, e.g. base, small, large-v3")
    fetch.add_argument(
        "--backend",
        choices=[b.value for b in Backend],
        help=f"now: {shown('whisper_backend', 'WHISPER_BACKEND')}",
    )
    fetch.add_argument("--cache", type=Path, help=f"now: {shown('whisper_cache', 'WHISPER_CACHE')}")

    review = commands.add_parser("review", help="write an HTML page to check an alignment by ear")
    review.add_argument("result", type=Path, help="the .json an alignment wrote")
    review.add_argument("audio", type=Path, help="its audio (the page refers to it by relative path)")
    review.add_argument("-o", "--out", type=Path, help="the page (default: RESULT with .review.html)")
    review.add_argument("--embed-audio", action="store_true", help="put the audio inside the page")
    return parser


def _model_options(parser: argparse.ArgumentParser, shown: Callable[[str, str], str]) -> None:
    parser.add_argument(
        "--model", help=f"model name or local path (now: {shown('whisper_model', 'WHISPER_MODEL')})"
    )
    parser.add_argument(
        "--backend",
        choices=[b.value for b in Backend],
        help=f"now: {shown('whisper_backend', 'WHISPER_BACKEND')}",
    )
    parser.add_argument("--language", help=f"language code (now: {shown('language', 'LANGUAGE')})")
    parser.add_argument(
        "--device",
        choices=[d.value for d in Device],
        help=f"now: {shown('device', 'DEVICE')}; `align` uses cpu without a GPU unless DEVICE is set",
    )
    parser.add_argument("--token-step", type=int, help=f"now: {shown('token_step', 'TOKEN_STEP')}")
    parser.add_argument(
        "--compute-type",
        help=f"CTranslate2 compute type (now: {shown('compute_type', 'COMPUTE_TYPE')}; unset: by device)",
    )


def _version() -> str:
    try:
        return importlib.metadata.version("gpu-timestamp")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    names = {
        "model": "whisper_model",
        "backend": "whisper_backend",
        "language": "language",
        "device": "device",
        "token_step": "token_step",
        "compute_type": "compute_type",
        "formats": "output_formats",
        "max_line_chars": "cue_max_line_chars",
        "max_lines": "cue_max_lines",
        "min_cue_seconds": "cue_min_seconds",
        "max_cue_seconds": "cue_max_seconds",
        "max_cps": "cue_max_cps",
    }
    chosen = {
        field: getattr(args, option)
        for option, field in names.items()
        if getattr(args, option, None) is not None
    }
    if getattr(args, "no_rtl_mark", False):
        chosen["cue_rtl_mark"] = False
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


def _current_settings() -> Settings | None:
    try:
        return load_settings()
    except ConfigError:
        return None


def _setup_logging(settings: Settings) -> None:
    from worker.logs import setup

    setup(settings)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's status for SIGINT, nothing half-written
        print("timestamp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    args = _parser(_current_settings()).parse_args(argv)
    command = args.command or "worker"
    if command == "review":
        return _review(args)
    try:
        settings = load_settings(**_overrides(args)) if command != "fetch-model" else load_settings()
    except ConfigError as error:
        return _fail(str(error), EXIT_CONFIG)
    _setup_logging(settings)
    if command == "align" and (problem := _input_problem(args.audio, args.text, settings)):
        return _fail(problem, EXIT_INPUT)
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
    except (app.InputProblem, app.FetchFailed) as error:
        return _fail(str(error), EXIT_INPUT)


def _input_problem(audio: Path, text: Path, settings: Settings) -> str | None:
    """Bad local input, found in about a second: before torch is imported and the model loads."""
    from worker.inputs.checks import BAD_INPUT, check_inputs

    for path in (audio, text):
        if not path.is_file():
            return f"{path} does not exist or is not a file"
    try:
        check_inputs(audio, text, settings)
    except BAD_INPUT as error:
        return str(error)
    return None


def _review(args: argparse.Namespace) -> int:
    from worker.publish.review_page import PageError, write_page

    out = args.out or args.result.with_suffix(".review.html")
    try:
        write_page(args.result, args.audio, out, embed=args.embed_audio)
    except PageError as error:
        return _fail(str(error), EXIT_INPUT)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _fail(message: str, status: int) -> int:
    print(f"timestamp: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
