"""``grpokit plot RUN_DIR``: PNG curves of a run from its ``metrics.jsonl``."""

from __future__ import annotations

from pathlib import Path

from grpokit.train.logger import read_metrics

PANELS = [
    ("reward", ["reward/mean", "reward/accuracy"]),
    ("held-out accuracy", ["eval/accuracy"]),
    ("entropy", ["train/entropy"]),
    ("clipped or decayed fraction", ["loss/clipfrac_low", "loss/clipfrac_high"]),
    ("KL", ["loss/ppo_kl", "train/kl_ref"]),
    ("gradient norm", ["train/grad_norm"]),
    ("response length", ["response/length"]),
]


def _series(rows, key):
    points = [(row["step"], row[key]) for row in rows if isinstance(row.get(key), int | float)]
    return [p[0] for p in points], [p[1] for p in points]


def plot_run(run_dir: str | Path) -> list[Path]:
    """Write ``plots/curves.png`` (one panel per metric group) and ``plots/allocation.png``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    panels = [(title, keys) for title, keys in PANELS if any(_series(rows, k)[0] for k in keys)]
    columns = 2
    figure, axes = plt.subplots(
        (len(panels) + 1) // columns, columns, figsize=(11, 3 * ((len(panels) + 1) // columns)), squeeze=False
    )
    for axis, (title, keys) in zip(axes.flat, panels, strict=False):
        for key in keys:
            steps, values = _series(rows, key)
            if steps:
                axis.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=key)
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    figure.tight_layout()
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
