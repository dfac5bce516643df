"""The benchmark's outputs: a markdown table, a JSON file and a PNG of the error distribution."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from bench.metrics import COLLARS_MS, THRESHOLDS_MS, Score


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}"


def _ms(value: float) -> str:
    return "–" if math.isnan(value) or math.isinf(value) else f"{value:.0f}"


def table(results: dict[str, dict[str, Score]]) -> str:
    """One row per (configuration, set)."""
    head = (
        ["config", "set"]
        + [f"≤{t} ms %" for t in THRESHOLDS_MS]
        + ["median ms", "mean ms", "bias ms"]
        + [f"F1@{c}" for c in COLLARS_MS]
        + ["fidelity ins/drop/chg", "engine repairs", "sentence max s", "sent. >0.5 s", "sent. ≤200 ms %"]
        + ["unsaid flagged", "said flagged", "suspicious s", "sentence ends flagged (> 0.5 s off)"]
        + ["> 0.5 s off flagged", "RTF"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for config, per_set in results.items():
        for name, s in per_set.items():
            sentence = (
                (
                    f"{s.sentence_max_s:.2f}",
                    f"{s.sentences_over_half_s}/{s.sentence_boundaries}",
                    _pct(s.sentence_within_200),
                )
                if s.sentence_boundaries
                else ("–", "–", "–")
            )
            unsaid = (
                (f"{s.unspoken_flagged}/{s.unspoken}", str(s.flagged_wrongly)) if s.unspoken else ("–", "–")
            )
            flags = (
                (
                    f"{s.sentence_ends_flagged}/{s.sentence_ends} ({s.sentence_flags_right})",
                    f"{s.sentence_flags_right}/{s.sentence_ends_off}",
                )
                if s.sentence_ends
                else ("–", "–")
            )
            row = (
                [config, name]
                + [_pct(s.within[t]) for t in THRESHOLDS_MS]
                + [_ms(s.median_ms), _ms(s.mean_ms), _ms(s.bias_ms)]
                + [_pct(s.f1[c]) for c in COLLARS_MS]
                + [f"{s.fidelity.inserted}/{s.fidelity.dropped}/{s.fidelity.changed}", str(s.engine_repairs)]
                + list(sentence)
                + list(unsaid)
                + [f"{s.suspicious_s:.0f}"]
                + list(flags)
                + [f"{s.rtf:.3f}"]
            )
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def to_json(results: dict[str, dict[str, Score]]) -> str:
    out = {
        config: {
            name: {
                "boundaries": s.boundaries,
                "within": {str(k): v for k, v in s.within.items()},
                "median_ms": s.median_ms,
                "mean_ms": s.mean_ms,
                "bias_ms": s.bias_ms,
                "f1": {str(k): v for k, v in s.f1.items()},
                "fidelity": {
                    "inserted": s.fidelity.inserted,
                    "dropped": s.fidelity.dropped,
                    "changed": s.fidelity.changed,
                },
                "engine_repairs": s.engine_repairs,
                "audio_s": s.audio_s,
                "wall_s": s.wall_s,
                "rtf": s.rtf,
                "sentence_max_s": None if math.isnan(s.sentence_max_s) else s.sentence_max_s,
                "sentences_over_half_s": s.sentences_over_half_s,
                "sentence_within_200": None if math.isnan(s.sentence_within_200) else s.sentence_within_200,
                "unspoken": s.unspoken,
                "unspoken_flagged": s.unspoken_flagged,
                "flagged_wrongly": s.flagged_wrongly,
                "suspicious_s": s.suspicious_s,
                "sentence_ends": s.sentence_ends,
                "sentence_ends_flagged": s.sentence_ends_flagged,
                "sentence_flags_right": s.sentence_flags_right,
                "sentence_ends_off": s.sentence_ends_off,
                "abs_errors_ms": [
                    None if not np.isfinite(e) else round(float(e) * 1000, 1) for e in s.abs_errors
                ],
            }
            for name, s in per_set.items()
        }
        for config, per_set in results.items()
    }
    return json.dumps(out, indent=1)


HIGHLIGHT = {"stable_ts_defaults": ("black", "--"), "worker_v0": ("0.4", ":"), "default": ("tab:red", "-")}


def plot(results: dict[str, dict[str, Score]], path: Path) -> None:
    """Cumulative share of boundaries within an error, per set, one line per configuration
    (the baseline, the old worker and the new defaults drawn bold, the other trials thin)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = sorted({name for per_set in results.values() for name in per_set})
    fig, axes = plt.subplots(1, len(sets), figsize=(6.5 * len(sets), 4.5), squeeze=False)
    grid = np.logspace(np.log10(5), np.log10(20_000), 400)
    for ax, name in zip(axes[0], sets, strict=True):
        for config, per_set in results.items():
            if name not in per_set:
                continue
            errors_ms = np.sort(per_set[name].abs_errors) * 1000
            cdf = np.searchsorted(errors_ms, grid, side="right") / max(len(errors_ms), 1)
            if config in HIGHLIGHT:
                color, style = HIGHLIGHT[config]
                ax.plot(grid, 100 * cdf, color=color, ls=style, lw=2.2, label=config, zorder=3)
            else:
                ax.plot(grid, 100 * cdf, lw=0.8, alpha=0.6, label=config)
        for t in THRESHOLDS_MS:
            ax.axvline(t, color="0.85", lw=0.8, zorder=0)
        ax.set_xscale("log")
        ax.set_ylim(0, 100)
        ax.set_xlabel("boundary error (ms, log scale)")
        ax.set_ylabel("boundaries within (%)")
        ax.set_title(name)
        ax.legend(fontsize=6, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict[str, dict[str, Score]], folder: Path, header: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.md").write_text(header + table(results))
    (folder / "results.json").write_text(to_json(results))
    plot(results, folder / "errors.png")
    return folder
