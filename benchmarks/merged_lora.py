"""What folding LoRA's adapters into the base weights saves at inference (``grpokit.models.merged_lora``), side by side.

    .venv/bin/python benchmarks/merged_lora.py [--repeats 5]                  # forward passes of SmolLM2 with LoRA r16
    .venv/bin/python benchmarks/merged_lora.py --run RUN --games 64           # and RUN's held-out evaluation

Without a run: SmolLM2-135M-Instruct with LoRA r16 adapters (B drawn non-zero) in float32, a decoding-like forward
pass (64 rows of one token) and a prefill-like one (8 rows of 40 tokens), each timed ``--repeats`` times unmerged,
merged and without adapters, in turn. With ``--run``: RUN's checkpoint of ``--step`` plays its held-out evaluation as
``grpokit eval --run`` does, after an untimed warm-up, with the adapters unmerged, merged, merged, unmerged; prints
the mean seconds of each, their ratio, and (for an agent) how many games took other actions (the two differ only by
rounding).
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

import grpokit.train.agent_trainer
import grpokit.train.trainer
from grpokit.models import LoraSettings, load_policy, merged_lora
from grpokit.train.agent_trainer import EVAL_EPISODES_FILE, last_evaluation
from grpokit.train.factory import evaluate_run


def forward_seconds(model, ids: torch.Tensor, repeats: int) -> float:
    with torch.no_grad():
        model(input_ids=ids, use_cache=False, logits_to_keep=1)  # warm-up
        started = time.perf_counter()
        for _ in range(repeats):
            model(input_ids=ids, use_cache=False, logits_to_keep=1)
    return (time.perf_counter() - started) / repeats


def forward_passes(repeats: int) -> None:
    torch.manual_seed(0)
    model, _ = load_policy("smollm2-135m-instruct", dtype="float32", device="cpu", lora=LoraSettings(r=16))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.01)
    model.eval()
    for rows, width, label in ((64, 1, "decoding"), (8, 40, "prefill")):
        ids = torch.randint(0, 10_000, (rows, width))
        unmerged = forward_seconds(model, ids, repeats)
        with merged_lora(model):
            merged = forward_seconds(model, ids, repeats)
        with model.disable_adapter():
            bare = forward_seconds(model, ids, repeats)
        print(
            f"{label} ({rows} rows x {width} tokens): unmerged {1000 * unmerged:.1f} ms, merged {1000 * merged:.1f} ms "
            f"({unmerged / merged:.2f}x), base model alone {1000 * bare:.1f} ms"
        )


def evaluation(run: str, step: int | None, games: int, merge: bool) -> tuple[float, float, list]:
    """Seconds, accuracy and the games' actions (agents; else []) of RUN's evaluation, merged or not."""
    context = merged_lora if merge else (lambda model: contextlib.nullcontext())
    grpokit.train.trainer.merged_lora = grpokit.train.agent_trainer.merged_lora = context
    started = time.perf_counter()
    result, folder = evaluate_run(run, [f"eval.problems={games}"], step)
    seconds = time.perf_counter() - started
    games = last_evaluation(folder) if (folder / EVAL_EPISODES_FILE).exists() else []
    return seconds, result.accuracy, [[turn["action"] for turn in game["turns"]] for game in games]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run", help="also time this run's held-out evaluation, unmerged and merged")
    parser.add_argument("--step", type=int, help="its checkpoint to evaluate (default: the latest)")
    parser.add_argument("--games", type=int, default=64, help="held-out problems or games")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    forward_passes(args.repeats)
    if args.run:
        evaluation(args.run, args.step, min(args.games, 8), merge=False)  # warm-up: loading, parse caches
        played: dict[bool, list[tuple[float, float, list]]] = {False: [], True: []}
        for merge in (False, True, True, False):  # ABBA: neither arm always plays first
            played[merge].append(evaluation(args.run, args.step, args.games, merge))
        (plain, _), (merged, _) = played[False], played[True]
        plain_s, merged_s = (sum(run[0] for run in played[merge]) / 2 for merge in (False, True))
        each = {merge: ", ".join(f"{run[0]:.1f}" for run in played[merge]) for merge in (False, True)}
        differ = sum(a != b for a, b in zip(plain[2], merged[2], strict=True))
        print(
            f"evaluation of {args.games}, twice each (ABBA): unmerged {plain_s:.1f} s ({each[False]}; accuracy "
            f"{plain[1]:.3f}), merged {merged_s:.1f} s ({each[True]}; accuracy {merged[1]:.3f}): "
            f"{plain_s / merged_s:.2f}x" + (f"; {differ} of {args.games} games took other actions" if plain[2] else "")
        )


if __name__ == "__main__":
    main()
