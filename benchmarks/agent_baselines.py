"""The reference policies of an agent preset on its held-out games, without training anything (how hard is a slice?).

    .venv/bin/python benchmarks/agent_baselines.py --config configs/alfworld-proxmo-cpu.yaml [KEY=VALUE ...] [--games N]

Plays the preset's first ``--games`` evaluation games (the games every run of the preset is scored on) with a
uniformly random admissible action, the environment's goal-taking random walk and its expert
(``grpokit.agent.baselines``) and prints each success rate ± SE, and the seconds it took. Overrides change the slice,
e.g. ``eval.params.max_receptacles=8``; a new slice's games are generated (and cached) on first use.
"""

from __future__ import annotations

import argparse
import json
import time

from grpokit.agent import baselines
from grpokit.config import load_config
from grpokit.train.agent_trainer import EVAL_SEED_OFFSET, held_out_env_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--games", type=int, default=None, help="games to play (default: the preset's eval.problems)")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    params = held_out_env_params(config)
    seeds = [EVAL_SEED_OFFSET + i for i in range(args.games or config.eval.problems)]
    started = time.perf_counter()
    measured = baselines.measure(config.agent.env, params, seeds, config.agent.max_turns)
    print(json.dumps({"env_params": params, "games": len(seeds)}))
    for name in baselines.policies(config.agent.env):
        print(f"{name:>12}: {measured[f'baseline_{name}']:.3f} ± {measured[f'baseline_{name}_se']:.3f}")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
