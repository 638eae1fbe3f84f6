"""avg@k and pass@k of the cloned and the RL-trained agent of finished runs, beside their greedy success.

    .venv/bin/python benchmarks/agent_sampled_eval.py runs/credit-study/ProxMO--paper/seed0 --samples 4

Greedy success on 32 games moves in steps of 3 points and one game flips often; avg@k (the mean success of k sampled
episodes per held-out game, at ``eval.temperature``) is a second measure of what RL added, with its own paired SE.
For each finished agent run with behaviour cloning (``grpokit train`` with ``agent.warm_start_steps``): its trainer
is rebuilt from the run's ``config.yaml`` with ``eval.samples=k`` in a scratch directory, clones again (seeded, so
the clone's greedy success must equal the run's ``accuracy_before``: checked), is evaluated, then takes the weights
of the run's last checkpoint (greedy success must equal ``accuracy_after``: checked) and is evaluated again. The
numbers go to ``<run>/sampled_eval.json`` and a Markdown row per run is printed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from grpokit.config import load_config
from grpokit.train.checkpoint import latest_checkpoint, load_model_weights
from grpokit.train.factory import build_trainer


def sampled_eval(run_dir: Path, samples: int) -> dict[str, float]:
    """``Trainer.summary`` of the run's cloned (before) and trained (after) model evaluated with ``samples``."""
    recorded = json.loads((run_dir / "eval.json").read_text())
    checkpoint = latest_checkpoint(run_dir)
    with tempfile.TemporaryDirectory() as scratch:
        config = load_config(run_dir / "config.yaml", [f"run_dir={scratch}", f"eval.samples={samples}"])
        if config.agent.warm_start_steps == 0:
            raise SystemExit(f"{run_dir}: not an agent run with behaviour cloning (agent.warm_start_steps is 0)")
        trainer = build_trainer(config, quiet=True)
        started = time.perf_counter()
        trainer.warm_start()
        trainer.baseline_eval = trainer.run_eval()
        load_model_weights(trainer.model, checkpoint)
        summary = trainer.summary(trainer.run_eval())
    for name in ("accuracy_before", "accuracy_after"):
        if summary[name] != recorded[name]:
            raise SystemExit(f"{run_dir}: greedy success {summary[name]} is not the run's {name} {recorded[name]}")
    del summary["steps"]  # the scratch trainer's, not the run's
    return summary | {
        "temperature": config.eval.temperature,
        "checkpoint": checkpoint.name,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="finished run directories (with eval.json)")
    parser.add_argument("--samples", type=int, default=4, help="k sampled episodes per held-out game")
    args = parser.parse_args()
    print("| run | greedy before → after, gain ± SE | avg@k before → after, gain ± SE | pass@k before → after | s |")
    print("| --- | --- | --- | --- | --- |")
    for run_dir in args.runs:
        out = sampled_eval(run_dir, args.samples)
        (run_dir / "sampled_eval.json").write_text(json.dumps(out, indent=2) + "\n")
        print(
            f"| {run_dir} | {100 * out['accuracy_before']:.1f} → {100 * out['accuracy_after']:.1f}, "
            f"{100 * out['gain']:+.1f} ± {100 * out['gain_se']:.1f} "
            f"| {100 * out['avg_at_k_before']:.1f} → {100 * out['avg_at_k_after']:.1f}, "
            f"{100 * out['avg_at_k_gain']:+.1f} ± {100 * out['avg_at_k_gain_se']:.1f} "
            f"| {100 * out['pass_at_k_before']:.1f} → {100 * out['pass_at_k_after']:.1f} | {out['seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
