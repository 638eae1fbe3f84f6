"""``grpokit plot RUN_DIR``: PNG curves of a run from its ``metrics.jsonl``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grpokit.train.logger import read_metrics

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANELS = [
    ("reward", ["reward/mean", "reward/accuracy"]),
    ("held-out accuracy (± SE)", ["eval/accuracy"]),
    ("entropy", ["train/entropy"]),
    ("clipped or decayed fraction", ["loss/clipfrac_low", "loss/clipfrac_high"]),
    ("KL", ["loss/ppo_kl", "train/kl_ref"]),
    ("gradient norm", ["train/grad_norm"]),
    ("response length", ["response/length"]),
]


@dataclass
class Series:
    """One metric's points over the steps; ``errors`` are the ± SE bars, from ``<key>_se``, when the rows have one."""

    steps: list[int]
    values: list[float]
    errors: list[float] | None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float)


def series(rows: list[dict], key: str) -> Series:
    """``key`` at the steps where it is defined (not missing, null, or NaN as older files have it), with the
    standard errors ``<key>_se`` when the rows carry them (NaN, drawn as no bar, at a step without one)."""
    points = [row for row in rows if _is_number(row.get(key)) and math.isfinite(row[key])]
    errors = [row.get(f"{key}_se") for row in points]
    has_errors = any(_is_number(error) for error in errors)
    return Series(
        [row["step"] for row in points],
        [row[key] for row in points],
        [error if _is_number(error) else math.nan for error in errors] if has_errors else None,
    )


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display is needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves_figure(rows: list[dict]) -> Figure:
    """One panel per metric group of ``PANELS`` that has points; a metric with standard errors gets ± SE bars."""
    plt = _pyplot()
    panels = [(title, keys) for title, keys in PANELS if any(series(rows, k).steps for k in keys)]
    columns = 2
    figure, axes = plt.subplots(
        (len(panels) + 1) // columns, columns, figsize=(11, 3 * ((len(panels) + 1) // columns)), squeeze=False
    )
    for axis, (title, keys) in zip(axes.flat, panels, strict=False):
        for key in keys:
            curve = series(rows, key)
            if curve.steps:
                style = {"marker": "o" if len(curve.steps) < 30 else None, "markersize": 3, "label": key}
                if curve.errors is None:
                    axis.plot(curve.steps, curve.values, **style)
                else:
                    axis.errorbar(curve.steps, curve.values, yerr=curve.errors, capsize=2, **style)
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    figure.tight_layout()
    return figure


def plot_run(run_dir: str | Path) -> list[Path]:
    """Write ``plots/curves.png`` (one panel per metric group) and ``plots/allocation.png``; return their paths."""
    plt = _pyplot()
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    figure = curves_figure(rows)
    written = [out_dir / "curves.png"]
    figure.savefig(written[0], dpi=110)
    plt.close(figure)

    counts = [c for row in rows for c in row.get("allocation/counts", [])]
    if counts:
        figure, axis = plt.subplots(figsize=(5, 3))
        axis.hist(counts, bins=range(min(counts), max(counts) + 2), align="left", rwidth=0.8)
        axis.set_title("rollouts per prompt (all steps)")
        axis.set_xlabel("rollouts")
        figure.tight_layout()
        written.append(out_dir / "allocation.png")
        figure.savefig(written[-1], dpi=110)
        plt.close(figure)
    return written
