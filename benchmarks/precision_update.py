"""How much of a training update does a bf16 forward pass see? The main job's first steps, float32 against bf16.

    .venv/bin/python benchmarks/precision_update.py                  # seed 0, bf16 products as in bf16_emulation.py
    .venv/bin/python benchmarks/precision_update.py --seed 2 --native-bf16   # torch's own bf16 kernels (slow on AVX2)

The main job (`configs/cpu-demo.yaml`) trains in float32 for a few steps; its LoRA adapters after 0, 1, 2 and 4 steps
are then loaded into float32 and bf16 models that score the same tokens (the float32 sampler's first batch). For each
step k, the change of every token's log-probability since step 0 in bf16 is regressed on its change in float32:
a slope of 1 means bf16 compute sees the whole update, below 1 that part of it is rounded away. Arms: bf16 with the
LoRA branch added in bf16 (peft's default, ``model.float32_lora_sum=false``) and in float32 (grpokit's default).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from grpokit.config import load_config
from grpokit.rollout import token_log_probs
from grpokit.train.trainer import TrainBatch, Trainer

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.yaml"
STEPS = (1, 2, 4)


def build(seed: int, *overrides: str) -> Trainer:
    config = load_config(CONFIG, [f"seed={seed}", "eval.problems=1", *overrides])
    return Trainer(config, Path(tempfile.mkdtemp(prefix="precision-update-")), quiet=True)


def adapters(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in trainer.model.named_parameters() if p.requires_grad}


@torch.no_grad()
def log_probs(trainer: Trainer, weights: dict[str, torch.Tensor], batch: TrainBatch) -> torch.Tensor:
    for name, p in trainer.model.named_parameters():
        if name in weights:
            p.copy_(weights[name])
    out = torch.zeros_like(batch.old_log_probs)
    for micro in batch.micro_batches(torch.arange(len(batch)), trainer.config.micro_batch_tokens):
        sub = batch.select(micro, trainer.device)
        with trainer.precision.autocast():  # a region per pass: autocast caches its bf16 copies of the weights
            values, _ = token_log_probs(
                trainer.model, sub.input_ids, sub.attention_mask, sub.response_length, temperature=0.6
            )
        out[micro, : sub.response_length] = values
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--native-bf16", action="store_true", help="torch's bf16 kernels instead of the emulation")
    args = parser.parse_args()
    if not args.native_bf16:
        from bf16_emulation import EmulatedBF16Matmul

        EmulatedBF16Matmul().__enter__()  # for the whole process
    reference = build(args.seed, "model.dtype=float32")
    problems = reference.next_prompts(reference.config.prompts_per_step)
    rows = [p for p in problems for _ in range(reference.config.group_size)]
    batch = TrainBatch.from_rollout(reference.sample(rows), torch.zeros(len(rows)))
    reference.position = 0  # training then starts from the same prompts, as the main job does
    states = [adapters(reference)]
    for _ in range(max(STEPS)):
        reference.train_step()
        states.append(adapters(reference))
    arms = {
        "float32": reference,
        "bf16, LoRA added in bf16": build(args.seed, "model.dtype=bfloat16", "model.float32_lora_sum=false"),
        "bf16, LoRA added in float32": build(args.seed, "model.dtype=bfloat16"),
    }
    mask = batch.response_mask.bool()
    start = {name: log_probs(trainer, states[0], batch) for name, trainer in arms.items()}
    print(f"main job, seed {args.seed}, {int(mask.sum())} tokens of the first batch")
    print("| arm | " + " | ".join(f"after {k} step{'s' * (k > 1)}: mean abs change, slope, corr" for k in STEPS) + " |")
    print("| --- " * (len(STEPS) + 1) + "|")
    changes = {name: {} for name in arms}
    for k in STEPS:
        for name, trainer in arms.items():
            changes[name][k] = (log_probs(trainer, states[k], batch) - start[name])[mask]
    for name in arms:
        cells = []
        for k in STEPS:
            exact, seen = changes["float32"][k], changes[name][k]
            slope = (seen * exact).sum() / (exact * exact).sum()
            corr = torch.corrcoef(torch.stack([seen, exact]))[0, 1]
            cells.append(f"{seen.abs().mean():.3f}, {slope:.2f}, {corr:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
