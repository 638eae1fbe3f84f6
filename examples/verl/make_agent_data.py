"""Write the task rows verl's dataloader feeds grpokit's agent loop (train.parquet, val.parquet).

A row is not a prompt: the ``grpokit_agent`` agent loop builds every turn's prompt from the environment. The row
names the agent loop and the task: ``extra_info.seed`` picks the game (ALFWorld) or the goal (WebShop), and
``extra_info.env_params`` on validation rows switches the environment to its held-out split. verl runs
``actor_rollout_ref.rollout.n`` episodes of each row (a group playing the same task). Each row gets its own seed, so
training sees ``--train-tasks`` different tasks (verl-agent instead reuses 16 placeholder rows and lets each
environment draw a random game).

    python examples/verl/make_agent_data.py --env alfworld --out ~/data/grpokit-alfworld
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HELD_OUT = {"alfworld": "eval_out_of_distribution", "webshop": "test"}  # ALFWorld's unseen split; WebShop's test goals
VALIDATION_SEEDS = 10_000_000  # validation tasks never share a seed with training tasks


def rows(env: str, count: int, first_seed: int, split: str | None) -> list[dict]:
    placeholder = f"(the {env} episode is played by grpokit's agent loop; its prompts come from the environment)"
    result = []
    for i in range(count):
        extra_info = {"index": first_seed + i, "seed": first_seed + i}
        if split is not None:
            extra_info["env_params"] = {"split": split}
        result.append(
            {
                "data_source": f"grpokit/{env}",
                "agent_name": "grpokit_agent",
                "prompt": [{"role": "user", "content": placeholder}],
                "ability": "agent",
                "reward_model": {"style": "environment", "ground_truth": ""},
                "extra_info": extra_info,
            }
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="alfworld", help="grpokit environment (alfworld, webshop)")
    parser.add_argument("--out", required=True, type=Path, help="folder for train.parquet and val.parquet")
    parser.add_argument("--train-tasks", type=int, default=2400, help="150 steps x 16 tasks, as in the ProxMO runs")
    parser.add_argument("--val-tasks", type=int, default=128)
    parser.add_argument("--val-split", default=None, help=f"held-out split (default: {HELD_OUT})")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    split = args.val_split or HELD_OUT.get(args.env)
    pq.write_table(pa.Table.from_pylist(rows(args.env, args.train_tasks, 0, None)), args.out / "train.parquet")
    validation = rows(args.env, args.val_tasks, VALIDATION_SEEDS, split)
    pq.write_table(pa.Table.from_pylist(validation), args.out / "val.parquet")
    print(f"wrote {args.train_tasks} training and {args.val_tasks} validation tasks of {args.env} to {args.out}")


if __name__ == "__main__":
    main()
