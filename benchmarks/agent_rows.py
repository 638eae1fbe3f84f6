"""An agent RL step with step rows against whole-episode rows, side by side on the same games.

    .venv/bin/python benchmarks/agent_rows.py [--config configs/alfworld-proxmo-cpu.yaml] [--steps 3] [KEY=VALUE ...]

Three layouts, on the same task seeds: step rows and episode rows with ``agent.prompt_style=compact``, and episode
rows with ``compact_moves`` (later turns name their moves by one phrase; with step rows that style is ``compact``).
In each the preset's trainer (no behaviour cloning: the base model plays, so nearly every episode runs to the turn
limit in every layout: equal episodes and turns) runs ``--steps`` RL steps; every row is forwarded and
backpropagated (``skip_zero_advantage_rows=false``), as when advantages are non-zero. Printed per layout: seconds per
step (play: generation and environments; update), agent steps, rows, tokens through the model in the update (prompts
and responses) and tokens trained (answers), and the ratio of step rows' number to each episode layout's. The first
step of each layout is left out of the means (start-up).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from grpokit.config import load_config
from grpokit.train.factory import build_trainer
from grpokit.train.trainer import Trainer

LAYOUTS = {
    "step": ["agent.rows=step", "agent.prompt_style=compact"],
    "episode": ["agent.rows=episode", "agent.prompt_style=compact"],
    "episode moves": ["agent.rows=episode", "agent.prompt_style=compact_moves"],
}


def measure(config_path: str, layout: list[str], steps: int, overrides: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as run_dir:
        config = load_config(
            config_path,
            [
                *overrides,
                f"run_dir={run_dir}",
                *layout,
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
    measured = {name: measure(args.config, layout, args.steps, args.overrides) for name, layout in LAYOUTS.items()}
    episodes = [name for name in LAYOUTS if name != "step"]
    print(f"{'':>18} {'step':>10}" + "".join(f" {name:>14} {'step/' + name:>19}" for name in episodes))
    for key in measured["step"]:
        step = measured["step"][key]
        values = [measured[name][key] for name in episodes]
        cells = "".join(f" {v:>14.1f} {step / v if v else float('nan'):>19.2f}" for v in values)
        print(f"{key:>18} {step:>10.1f}{cells}")


if __name__ == "__main__":
    main()
