"""Do the credit estimators differ the way the ProxMO paper claims? Cheap evidence without an LLM.

    .venv/bin/python benchmarks/credit_study.py --env webshop --tasks 16 --iterations 30 --seeds 3
    .venv/bin/python benchmarks/credit_study.py --env alfworld --env-param task_types=pick_and_place_simple

A tabular softmax policy over the admissible actions (one logit per (observation, action) pair, so nothing but
credit assignment is learned; WebShop's free-text search is replaced by a search for the instruction) plays a fixed
set of tasks, ``--group`` episodes per task per iteration, and is updated with REINFORCE on the step advantages of
each estimator:

* GRPO (episode-level only), GiGPO (exact-match step groups), ProxMO paper and official variants,
* ProxMO without PSC (β = 0) and without PSA (τ = 1e-4: the soft baseline collapses to exact matching).

It writes ``docs/credit-study-<env>.png`` (success rate against episodes played, mean ± standard error over seeds)
and prints a Markdown table of the final success rates. Advantages are scaled to unit standard deviation per batch
before the update, so every estimator takes steps of the same size and only the direction of its credit differs.
"""

from __future__ import annotations

import argparse
import math
import random
import re
from pathlib import Path

import yaml

from grpokit.agent.manager import Answer, EnvPool, Turn, run_episodes, step_rows
from grpokit.core.credit import CREDIT_ESTIMATORS
from grpokit.envs import make
from grpokit.evaluate import standard_error

ESTIMATORS = {
    "GRPO": ("grpo", {}),
    "GiGPO": ("gigpo", {}),
    "ProxMO (paper)": ("proxmo", {"variant": "paper"}),
    "ProxMO (official)": ("proxmo", {"variant": "official"}),
    "ProxMO w/o PSC": ("proxmo", {"variant": "official", "beta": 0.0}),
    "ProxMO w/o PSA": ("proxmo", {"variant": "official", "tau": 1e-4}),
}


class TabularPolicy:
    """Softmax over admissible actions with one logit per (observation, action): only credit assignment is learned.

    ``prior`` stands in for a language model's prior, which makes the first successes possible in ALFWorld (where
    a uniform random walk essentially never wins): an unseen pair's logit starts at ``prior`` × the number of the
    task's words the action names (``go to toilet 1`` for "put a soapbar in toilet").
    """

    def __init__(self, rng: random.Random, prior: float = 0.0):
        self.logits: dict[tuple[str, str], float] = {}
        self.rng = rng
        self.prior = prior

    def logit(self, observation: str, action: str, task: str) -> float:
        key = (observation, action)
        if key not in self.logits:
            self.logits[key] = self.prior * len(words(action) & words(task))
        return self.logits[key]

    def probabilities(self, observation: str, actions: list[str], task: str) -> list[float]:
        values = [self.logit(observation, a, task) for a in actions]
        top = max(values)
        weights = [math.exp(v - top) for v in values]
        total = sum(weights)
        return [w / total for w in weights]

    def __call__(self, turns: list[Turn]) -> list[Answer]:
        answers = []
        for turn in turns:
            # A table cannot write a query: WebShop's free-text search becomes a search for the task's own words.
            actions = [f"search[{turn.task}]" if a == "search[<your query>]" else a for a in turn.admissible_actions]
            weights = self.probabilities(turn.observation, actions, turn.task)
            choice = self.rng.choices(actions, weights=weights)[0]
            answers.append(Answer(f"<think>.</think><action>{choice}</action>", (turn, actions, choice)))
        return answers

    def reinforce(self, rows, advantages, lr: float) -> None:
        """One REINFORCE step: ``θ[s, a'] += lr · A · (1[a' = a] − π(a'|s))`` for every row."""
        for row, advantage in zip(rows, advantages.tolist(), strict=True):
            turn, actions, choice = row.answer.extra
            for action, p in zip(actions, self.probabilities(turn.observation, actions, turn.task), strict=True):
                self.logits[(turn.observation, action)] += lr * advantage * ((action == choice) - p)


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2}


def learning_curve(envs: EnvPool, estimator, params, args, seed) -> list[float]:
    """Success rate per iteration of one policy trained with one estimator (the environments are reused)."""
    policy = TabularPolicy(random.Random(seed), args.prior)
    task_seeds = [seed * 100_000 + i for i in range(args.tasks)]
    curve = []
    for _ in range(args.iterations):
        episodes = run_episodes(
            envs,
            task_seeds,
            args.group,
            policy,
            max_turns=args.max_turns,
            step_timeout_s=None,
        )
        rows = step_rows(episodes)
        advantages = CREDIT_ESTIMATORS.call(
            estimator,
            [r.group_id for r in rows],
            [r.traj_id for r in rows],
            [r.anchor for r in rows],
            [10.0 * r.reward for r in rows],
            [float(r.valid) for r in rows],
            **params,
        )
        # The estimators' scales differ (GRPO is z-scored; GiGPO/ProxMO centre 0/10 rewards without dividing):
        # unit batch std gives every estimator the same step size, so only the direction of credit differs.
        policy.reinforce(rows, advantages / (advantages.std() + 1e-8), args.lr)
        curve.append(sum(e.won for e in episodes) / len(episodes))
    return curve


def mean_and_se(values: list[float]) -> tuple[float, float]:
    return sum(values) / len(values), standard_error(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="webshop")
    parser.add_argument("--env-param", action="append", default=[], metavar="KEY=VALUE", help="environment parameter")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-turns", type=int, default=None)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--prior", type=float, default=0.0, help="logit bonus per task word an action names")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    env_params = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.env_param)}
    envs = EnvPool(lambda: make(args.env, **env_params))

    curves = {
        label: [learning_curve(envs, name, params, args, seed) for seed in range(args.seeds)]
        for label, (name, params) in ESTIMATORS.items()
    }

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    episodes_per_iteration = args.tasks * args.group
    for label, runs in curves.items():
        stats = [mean_and_se([run[i] for run in runs]) for i in range(args.iterations)]
        x = [(i + 1) * episodes_per_iteration for i in range(args.iterations)]
        means = [m for m, _ in stats]
        axis.plot(x, means, label=label)
        axis.fill_between(x, [m - e for m, e in stats], [m + e for m, e in stats], alpha=0.15)
    axis.set_xlabel("episodes played")
    axis.set_ylabel("success rate")
    axis.set_title(f"{args.env}: tabular softmax policy, {args.seeds} seeds (mean ± SE)")
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    out = Path(args.out) / f"credit-study-{args.env}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)

    last = max(1, args.iterations // 5)
    print(f"| estimator | success, first iteration | success, last {last} iterations (mean ± SE over seeds) |")
    print("| --- | --- | --- |")
    for label, runs in curves.items():
        first = mean_and_se([run[0] for run in runs])
        final = mean_and_se([sum(run[-last:]) / last for run in runs])
        print(f"| {label} | {first[0]:.3f} ± {first[1]:.3f} | {final[0]:.3f} ± {final[1]:.3f} |")
    print(f"\nplot: {out}")


if __name__ == "__main__":
    main()
