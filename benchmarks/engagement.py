"""Does a run's setting engage DGPO's or DynaMO's mechanism? Per-step figures and their mean over the run.

    .venv/bin/python benchmarks/engagement.py runs/pilots/dgpo-mb8-ep2 [more run directories]

For each run directory, from its ``metrics.jsonl``:

* the trust-region boundary (issue 36, DGPO): the share of response tokens outside [1 - eps, 1 + eps] on the side
  the loss acts on, ``loss/clipfrac_low`` (ratio < 1 - eps with A < 0) + ``loss/clipfrac_high`` (ratio > 1 + eps
  with A > 0), per step and averaged over the steps; the studies' threshold is 10%;
* the allocation objective (DynaMO), when the run logs it: sum p(1-p)/n_i of the step's allocation
  (``allocation/bernoulli_variance``), of uniform allocation of the same budget (``..._uniform``) and of the optimum
  for the step's p (``..._optimal``), each averaged over the steps, and how far below uniform the allocation is
  (1 - mean allocated / mean uniform); the threshold is 20%.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from statistics import mean

from grpokit.train.logger import read_metrics

BOUNDARY = ("loss/clipfrac_low", "loss/clipfrac_high")
OBJECTIVE = tuple(f"allocation/bernoulli_variance{suffix}" for suffix in ("", "_uniform", "_optimal"))


def engagement(run_dir: Path) -> dict[str, float]:
    """The run's averages over its training steps (rows with a training reward)."""
    steps = [row for row in read_metrics(run_dir) if "reward/mean" in row]
    if not steps:
        raise SystemExit(f"{run_dir}: no training step in metrics.jsonl")
    low, high = ([row.get(key) or 0.0 for row in steps] for key in BOUNDARY)
    out = {
        "steps": len(steps),
        "boundary": mean([a + b for a, b in zip(low, high, strict=True)]),
        "boundary_low": mean(low),
        "boundary_high": mean(high),
        "boundary_by_step": [a + b for a, b in zip(low, high, strict=True)],
    }
    if all(key in steps[0] for key in OBJECTIVE):
        allocated, uniform, optimal = (mean([row[key] for row in steps]) for key in OBJECTIVE)
        out |= {"objective": allocated, "objective_uniform": uniform, "objective_optimal": optimal}
        out["below_uniform"] = 1 - allocated / uniform if uniform else 0.0
        out["below_uniform_by_step"] = [  # a step whose groups are all right or all wrong has nothing to lower
            1 - row[OBJECTIVE[0]] / row[OBJECTIVE[1]] if row[OBJECTIVE[1]] else 0.0 for row in steps
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="run directories")
    for run_dir in parser.parse_args().runs:
        found = engagement(run_dir)
        by_step = ", ".join(f"{value:.1%}" for value in found["boundary_by_step"])
        print(f"{run_dir} ({found['steps']} steps)")
        print(
            f"  outside the trust region on the loss's side: {found['boundary']:.2%} "
            f"(low {found['boundary_low']:.2%}, high {found['boundary_high']:.2%}); by step: {by_step}"
        )
        if "objective" in found:
            by_step = ", ".join(f"{value:.0%}" for value in found["below_uniform_by_step"])
            print(
                f"  sum p(1-p)/n: {found['objective']:.4f} against uniform {found['objective_uniform']:.4f} "
                f"({found['below_uniform']:.1%} below) and the optimum {found['objective_optimal']:.4f}; "
                f"below uniform by step: {by_step}"
            )


if __name__ == "__main__":
    main()
