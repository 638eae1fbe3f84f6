"""An agent RL step with step rows against whole-episode rows, side by side on the same games.

    .venv/bin/python benchmarks/agent_rows.py [--config configs/alfworld-proxmo-cpu.yaml] [--steps 3] [KEY=VALUE ...]

For each of ``agent.rows: step`` and ``episode``, the preset's trainer (no behaviour cloning: the base model plays,
so nearly every episode runs to the turn limit in both layouts: equal episodes and turns) runs ``--steps`` RL steps on
the same task seeds; every row is forwarded and backpropagated (``skip_zero_advantage_rows=false``), as when
advantages are non-zero. Printed per layout: seconds per step (play: generation and environments; update), agent
steps, rows, tokens through the model in the update (prompts and responses) and tokens trained (answers), and the
ratio step / episode. The first step of each layout is left out of the means (start-up).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from grpokit.config import load_config
from grpokit.train.factory import build_trainer
from grpokit.train.trainer import Trainer


def measure(config_path: str, rows: str, steps: int, overrides: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as run_dir:
        config = load_config(
            config_path,
            [
                *overrides,
                f"run_dir={run_dir}",
                f"agent.rows={rows}",
                "agent.warm_start_steps=0",
                "agent.curriculum=[]",
                "skip_zero_advantage_rows=false",
                "tensorboard=false",
            ],
        )
        trainer = build_trainer(config, quiet=True)
        forwarded: list[float] = []

        def update(batch):
            forwarded.append(float(batch.attention_mask.sum()))
            return Trainer.update(trainer, batch)

        trainer.update = update
        results = [trainer.train_step() for _ in range(steps)][1:]
    return {
        "play_s": statistics.mean(r["time/play_s"] for r in results),
        "update_s": statistics.mean(r["time/update_s"] for r in results),
        "step_s": statistics.mean(r["time/step_s"] for r in results),
        "agent_steps": statistics.mean(r["agent/steps"] for r in results),
        "rows": statistics.mean(r["agent/rows"] for r in results),
        "tokens_forwarded": statistics.mean(forwarded[1:]),
        "tokens_trained": statistics.mean(r["response/length"] * r["agent/rows"] for r in results),
        "success": statistics.mean(r["agent/success"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/alfworld-proxmo-cpu.yaml")
    parser.add_argument("--steps", type=int, default=3, help="RL steps per layout (the first is left out)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    measured = {rows: measure(args.config, rows, args.steps, args.overrides) for rows in ("step", "episode")}
    keys = list(measured["step"])
    print(f"{'':>18} {'step rows':>12} {'episode rows':>12} {'step/episode':>12}")
    for key in keys:
        step, episode = measured["step"][key], measured["episode"][key]
        ratio = step / episode if episode else float("nan")
        print(f"{key:>18} {step:>12.1f} {episode:>12.1f} {ratio:>12.2f}")


if __name__ == "__main__":
    main()
