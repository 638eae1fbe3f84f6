"""Overhead of the core functions, as ratios measured side by side in one run.

    .venv/bin/python benchmarks/core_overhead.py [--rows 256] [--tokens 2048] [--repeats 15]

Prints each policy loss's forward+backward time relative to "ppo" on a (rows, tokens) float32 batch, the
DynaMO modulation relative to "ppo", and the ProxMO advantage (both variants) relative to GiGPO on 1,024
agent-step rows (16 tasks × 8 rollouts × 8 steps of ALFWorld-like observations).
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from grpokit.core import POLICY_LOSSES, compute_policy_loss, dynamo_modulate, gigpo_advantages, proxmo_advantages


def best_times(fns: dict, repeats: int) -> dict[str, float]:
    """Best of ``repeats`` wall times of each function, measured round-robin so drift hits all alike."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def loss_batch(rows: int, tokens: int):
    g = torch.Generator().manual_seed(0)
    old = -torch.rand(rows, tokens, generator=g) * 3
    log_prob = old + (torch.rand(rows, tokens, generator=g) - 0.5) * 0.8
    advantages = torch.randn(rows, 1, generator=g).expand(rows, tokens)
    mask = (torch.arange(tokens) < torch.randint(tokens // 4, tokens + 1, (rows, 1), generator=g)).long()
    return log_prob, old, advantages, mask


def agent_rows(tasks: int = 16, group: int = 8, steps: int = 8):
    rng = random.Random(0)
    places = [f"{kind} {i}" for kind in ("cabinet", "drawer", "countertop", "shelf", "fridge") for i in range(1, 6)]
    things = ["apple", "mug", "knife", "plate", "sponge", "bowl", "lettuce", "egg"]
    groups, trajs, obs, rewards = [], [], [], []
    for task in range(tasks):
        for rollout in range(group):
            success = rng.random() < 0.4
            for step in range(steps):
                groups.append(task)
                trajs.append((task, rollout))
                place = rng.choice(places)
                obs.append(
                    f"You arrive at {place}. On the {place}, you see a {rng.choice(things)} {rng.randint(1, 3)}."
                )
                rewards.append(10.0 if success and step == steps - 1 else 0.0)
    return groups, trajs, obs, rewards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    log_prob, old, advantages, mask = loss_batch(args.rows, args.tokens)
    entropy = torch.rand_like(log_prob) * 3

    def loss_step(name):
        def run():
            lp = log_prob.clone().requires_grad_()
            loss, _ = compute_policy_loss(name, lp, old, advantages, mask)
            loss.backward()

        return run

    steps = {name: loss_step(name) for name in POLICY_LOSSES.names()}
    steps["dynamo_modulate"] = lambda: dynamo_modulate(advantages, log_prob, old, entropy, mask)
    timings = best_times(steps, args.repeats)
    base = timings["ppo"]
    print(f"\npolicy loss forward+backward on ({args.rows}, {args.tokens}); ppo = {base * 1e3:.1f} ms")
    for name, seconds in timings.items():
        print(f"  {name:<16} {seconds / base:5.2f}x ppo")

    rows = agent_rows()
    credit = best_times(
        {
            "gigpo": lambda: gigpo_advantages(*rows),
            "proxmo paper": lambda: proxmo_advantages(*rows, variant="paper"),
            "proxmo official": lambda: proxmo_advantages(*rows, variant="official"),
        },
        args.repeats,
    )
    base = credit["gigpo"]
    print(f"\ncredit on {len(rows[0])} step rows; gigpo = {base * 1e3:.1f} ms")
    for name, seconds in credit.items():
        print(f"  {name:<16} {seconds / base:5.2f}x gigpo ({seconds * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
