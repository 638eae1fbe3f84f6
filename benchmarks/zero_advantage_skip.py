"""What `skip_zero_advantage_rows` saves in an agent update, side by side with the full update.

    .venv/bin/python benchmarks/zero_advantage_skip.py [--zero-share 0.28] [--repeats 3]

The ALFWorld CPU preset's trainer (SmolLM2-135M, rank-16 LoRA, micro-batches of 2048 tokens, 2 mini-batches)
updates on the rows of 16 episodes of its training games played by the observed expert (4 tasks × 4, the preset's
rooms and prompts). A share ``--zero-share`` of the rows gets advantage 0 (0.28: the rows of seed 2's 24-step run
whose logged advantage rounds to 0.0000; exactly 0 were 16% in seed 1's run), the others a random one. Each repeat times
one update without skipping and one with it, alternately; the ratio of medians is the speed-up. Skipping is exact
(tests/train/test_accumulation.py), so only time is compared.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from grpokit.agent.manager import EnvPool, run_episodes, step_rows
from grpokit.config import load_config
from grpokit.envs import make
from grpokit.train.behaviour_cloning import expert_batch, expert_policy
from grpokit.train.factory import build_trainer
from grpokit.train.trainer import TrainBatch, Trainer

REPO = Path(__file__).resolve().parents[1]


def preset_trainer_and_expert_rows(run_dir: str) -> tuple[Trainer, TrainBatch]:
    """The ALFWorld CPU preset's trainer (no cloning) and the rows of 16 episodes the observed expert plays."""
    config = load_config(REPO / "configs" / "alfworld-proxmo-cpu.yaml", ["agent.warm_start_steps=0"])
    trainer = build_trainer(config, run_dir, quiet=True)
    agent = config.agent
    envs = EnvPool(lambda: make(agent.env, **agent.env_params))
    seeds = [20_000_000 + i for i in range(agent.tasks_per_step)]
    episodes = run_episodes(
        envs,
        seeds,
        config.group_size,
        expert_policy(agent.prompt_style),
        history_length=agent.history_length,
        prompt_style=agent.prompt_style,
    )
    rows = step_rows(episodes)
    return trainer, expert_batch(trainer.tokenizer, [r.prompt for r in rows], [r.answer.text for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zero-share", type=float, default=0.28)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--run-dir", default="/tmp/grpokit-zero-advantage-skip")
    args = parser.parse_args()

    trainer, batch = preset_trainer_and_expert_rows(args.run_dir)
    generator = torch.Generator().manual_seed(0)
    batch.advantages = torch.randn(len(batch), generator=generator)
    batch.advantages[torch.rand(len(batch), generator=generator) < args.zero_share] = 0.0
    batch.old_log_probs = -0.1 * torch.ones_like(batch.old_log_probs)

    seconds: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for skip in (False, True):
            trainer.config.skip_zero_advantage_rows = skip
            started = time.perf_counter()
            trainer.update(batch)
            seconds[skip].append(time.perf_counter() - started)
    zero = (batch.advantages == 0).float().mean().item()
    full, skipped = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"rows {len(batch)}, of advantage 0: {zero:.2f}; response tokens {int(batch.response_mask.sum())}")
    print(f"update s, full:    {' '.join(f'{s:.1f}' for s in seconds[False])} (median {full:.1f})")
    print(f"update s, skipped: {' '.join(f'{s:.1f}' for s in seconds[True])} (median {skipped:.1f})")
    print(f"speed-up {full / skipped:.2f}x; threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
