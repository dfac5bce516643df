"""Named alignment configurations: each is an `AlignmentOptions` (language is set per set).

Every configuration tried is kept here, negative results included, so each row of bench/README.md
can be reproduced with `uv run python -m bench --configs NAME`.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.alignment import AlignmentOptions


@dataclass(frozen=True)
class Config:
    name: str
    description: str
    options: AlignmentOptions


def _config(name: str, description: str, **fields: object) -> Config:
    return Config(name, description, AlignmentOptions(**fields))  # type: ignore[arg-type]


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in [
        _config("stable_ts_defaults", "stable-ts 2.19.1 align() defaults (token_step=100)", token_step=100),
        _config("worker_v0", "the worker before this work: align() with token_step=200", token_step=200),
    ]
}

BASELINE = "stable_ts_defaults"
