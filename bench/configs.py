"""Named alignment configurations: each is an `AlignmentOptions` (language is set per set).

Every configuration tried is kept here, negative results included, so each row of bench/README.md
can be reproduced with `uv run python -m bench --configs NAME`.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.engine.alignment import AlignmentOptions


@dataclass(frozen=True)
class Config:
    name: str
    description: str
    options: AlignmentOptions


def _config(name: str, description: str, **fields: object) -> Config:
    return Config(name, description, AlignmentOptions(**fields))  # type: ignore[arg-type]


_OFF = {"anchor_min_audio": None, "snap_distance": None}  # the engine alone, as before this work

CONFIGS: dict[str, Config] = {
    c.name: c
    for c in [
        _config(
            "stable_ts_defaults", "stable-ts 2.19.1 align() defaults (token_step=100)", token_step=100, **_OFF
        ),
        _config(
            "worker_v0", "the worker before this work: align() with token_step=200", token_step=200, **_OFF
        ),
        # stable-ts's own knobs (each alone, on top of worker_v0)
        _config("st_fast_mode", "stable-ts fast_mode=True", engine={"fast_mode": True}, **_OFF),
        _config(
            "st_only_voice_freq", "stable-ts only_voice_freq=True", engine={"only_voice_freq": True}, **_OFF
        ),
        _config(
            "st_q_levels_40",
            "stable-ts q_levels=40 (finer silence quantisation)",
            engine={"q_levels": 40},
            **_OFF,
        ),
        _config(
            "st_no_suppress", "stable-ts suppress_silence=False", engine={"suppress_silence": False}, **_OFF
        ),
        _config(
            "st_nonspeech_skip_off", "stable-ts nonspeech_skip=None", engine={"nonspeech_skip": None}, **_OFF
        ),
        # ours: pause snapping (worker.engine.refine) and pause-anchored windows (worker.engine.chunking)
        _config("snap", "boundaries snapped onto VAD pauses (0.6 s)", anchor_min_audio=None),
        _config("windows", "windows ≤ 4 s cut at pauses ≥ 0.2 s (audio ≥ 60 s), no snap", snap_distance=None),
        _config(
            "windows_length_only_snap",
            "windows anchored on text length alone (no first pass) + snap",
            anchor_first_pass=False,
        ),
        _config("windows_pieces_snap", "every anchored piece alone (window 0) + snap", anchor_window=0.01),
        _config("windows_8s_snap", "windows ≤ 8 s + snap", anchor_window=8.0),
        _config("windows_12s_snap", "windows ≤ 12 s + snap", anchor_window=12.0),
        _config("windows_28s_snap", "windows ≤ 28 s + snap", anchor_window=28.0),
        _config("windows_pause0.5_snap", "windows cut at pauses ≥ 0.5 s only + snap", anchor_pause=0.5),
        _config(
            "windows_all_audio_snap",
            "windows for any length of audio (also < 60 s) + snap",
            anchor_min_audio=0.0,
        ),
        _config(
            "windows_align_fallback",
            "defaults, but windows aligned by align() (with its fallback passes) instead of align_words()",
            window_align_words=False,
        ),
        _config(
            "default_shift_60ms",
            "defaults + every engine time +60 ms (the bias measured on real English)",
            boundary_shift=0.06,
        ),
        _config(
            "vad_plain", "defaults, the VAD hearing the audio as it is (no noise out)", vad_denoise=False
        ),
        _config(
            "unsaid_unchecked",
            "defaults without the unsaid-word check (no word marked unsaid or shrunk)",
            unsaid_check=False,
        ),
        _config(
            "default",
            "the worker's defaults now: windows ≤ 4 s at pauses ≥ 0.2 s (first pass votes) + snap 0.6 s",
        ),
    ]
}

BASELINE = "stable_ts_defaults"
