"""What prefilling an agent's turns in groups of similar length saves, side by side with one padded batch.

    .venv/bin/python benchmarks/agent_prefill.py RUN [--step 0] [--games 32] [--repeats 1]

With whole-episode rows (``agent.rows: episode``) every turn prefills each game's new message into its key/value cache
(``grpokit.rollout.ConversationCache``). In one batch every message is left-padded to the batch's longest, and the
padding goes through the model too; ``ConversationCache.prefill_rows`` (8) sorts the rows by length and prefills
them 8 at a time, each group padded to its own longest. This plays RUN's held-out games with its checkpoint of
``--step`` (greedy, as the run evaluates: ``grpokit eval --run``), alternately with one batch (``prefill_rows`` the
batch size) and with groups, and prints the seconds of each, their ratio, the success of each and how many games
took other actions (the two differ only by rounding). The evaluation is written to RUN/evals/, as ``grpokit eval
--run`` writes it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from grpokit.rollout import ConversationCache
from grpokit.train.agent_trainer import last_evaluation
from grpokit.train.factory import evaluate_run

GROUPED = ConversationCache.prefill_rows


def play(run: str, step: int, games: int, prefill_rows: int) -> tuple[float, float, list[list[str]]]:
    """Seconds, success and each game's actions of one evaluation of ``games`` games."""
    ConversationCache.prefill_rows = prefill_rows
    started = time.perf_counter()
    result, folder = evaluate_run(run, [f"eval.problems={games}"], step)
    seconds = time.perf_counter() - started
    return seconds, result.accuracy, [[turn["action"] for turn in game["turns"]] for game in last_evaluation(folder)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run with agent.rows: episode")
    parser.add_argument("--step", type=int, default=0, help="its checkpoint to play (0: the cloned model)")
    parser.add_argument("--games", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}; {args.games} games, checkpoint of step {args.step}")
    times: dict[str, list[float]] = {"one batch": [], "groups": []}
    for _ in range(args.repeats):
        batch_s, batch_success, batch_actions = play(args.run, args.step, args.games, prefill_rows=args.games)
        group_s, group_success, group_actions = play(args.run, args.step, args.games, prefill_rows=GROUPED)
        times["one batch"].append(batch_s)
        times["groups"].append(group_s)
        differ = sum(a != b for a, b in zip(batch_actions, group_actions, strict=True))
        print(
            f"one batch {batch_s:.1f} s (success {batch_success:.3f}), groups of {GROUPED} {group_s:.1f} s (success "
            f"{group_success:.3f}): {batch_s / group_s:.2f}x; {differ} of {args.games} games took other actions"
        )
    batch, groups = statistics.mean(times["one batch"]), statistics.mean(times["groups"])
    print(f"mean: one batch {batch:.1f} s, groups {groups:.1f} s, {batch / groups:.2f}x")


if __name__ == "__main__":
    main()
