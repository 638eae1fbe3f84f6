"""Where bf16 compute departs from float32 on the main job's first batch, measured on the same tokens.

    .venv/bin/python benchmarks/precision_mismatch.py                 # the five arms below, seed 0
    .venv/bin/python benchmarks/precision_mismatch.py --seed 2 --gradient-rows 0
    .venv/bin/python benchmarks/precision_mismatch.py --emulate-bf16     # bf16 products as in bf16_emulation.py

The main job (`configs/cpu-demo.yaml`) draws its first batch (6 prompts x 8 samples at T=0.6) in each arm; the arm's
sampler, its trainer and a float32 reference then score the same tokens with the same weights:

* ``float32``: float32 weights and compute (the reference itself: its rows compare the sampler with the trainer);
* ``bf16 weights, float32 compute``: the frozen base rounded to bf16, computed in float32 (weight rounding alone);
* ``bf16 before the fix``: bf16 compute under autocast, the output layer in bf16, LoRA branches added in bf16;
* ``bf16, float32 lm_head``: the output layer and the log-softmax in float32, LoRA branches still added in bf16;
* ``bf16 with the fix``: grpokit's defaults, the output layer in float32 and LoRA branches added in float32.

Columns: the sampler's log-probabilities (KV-cache decoding) against the trainer's forward pass over the first
update's micro-batches, as importance ratios of the first update when ``recompute_old_log_probs: false``; the same for
a recomputed pi_old (the trainer's no-grad pass over the whole batch, ``recompute_old_log_probs: true``); the trainer
against the float32 reference: log-probabilities, entropy, total-variation distance of the next-token distribution
at the sampling temperature, and how often the most likely token agrees; and the cosine between the arm's LoRA
gradient and the float32 one for the same loss on the first ``--gradient-rows`` rows (0 skips it: bf16 backward
passes are emulated, and slow, on a CPU without native bf16).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from grpokit.config import load_config
from grpokit.models import Precision
from grpokit.rollout import _logits, _response_hidden
from grpokit.train.trainer import TrainBatch, Trainer

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.yaml"
ARMS = {
    "float32": ["model.dtype=float32"],
    "bf16 weights, float32 compute": ["model.dtype=bfloat16"],  # then computed in float32 (see build)
    "bf16 before the fix": ["model.dtype=bfloat16", "model.float32_lm_head=false", "model.float32_lora_sum=false"],
    "bf16, float32 lm_head": ["model.dtype=bfloat16", "model.float32_lora_sum=false"],
    "bf16 with the fix": ["model.dtype=bfloat16"],
}


def build(arm: str, seed: int, run_dir: Path) -> Trainer:
    config = load_config(CONFIG, [*ARMS[arm], f"seed={seed}", "eval.problems=1"])
    trainer = Trainer(config, run_dir / arm.replace(" ", "_").replace(",", ""), quiet=True)
    if arm == "bf16 weights, float32 compute":
        trainer.model.float()
        trainer.precision = Precision(trainer.precision.device, torch.float32)
    return trainer


def first_batch(trainer: Trainer) -> TrainBatch:
    """The batch ``train_step`` samples first, with the sampler's log-probabilities as ``old_log_probs``."""
    config = trainer.config
    problems = trainer.next_prompts(config.prompts_per_step)
    rollout = trainer.sample([p for p in problems for _ in range(config.group_size)])
    return TrainBatch.from_rollout(rollout, torch.zeros(len(rollout)))


def response_log_softmax(trainer: Trainer, sub: TrainBatch) -> torch.Tensor:
    """``(rows, response, vocabulary)`` log-softmax at the sampling temperature, as ``token_log_probs`` computes it."""
    hidden = _response_hidden(trainer.model, sub.input_ids, sub.attention_mask, sub.response_length)
    logits = _logits(trainer.model, hidden.reshape(-1, hidden.shape[-1]), trainer.config.temperature)
    return torch.log_softmax(logits, dim=-1).view(*hidden.shape[:2], -1)


@torch.no_grad()
def scored(trainer: Trainer, batch: TrainBatch, groups: list[torch.Tensor], reference: Trainer | None = None):
    """Log-probs and entropies of every row, micro-batch by micro-batch over ``groups`` of rows as the trainer
    forms them; with ``reference``, also per-token TV distance to it and top-1 agreement."""
    shape = batch.old_log_probs.shape
    log_probs, entropy, tv, top1 = (torch.zeros(shape) for _ in range(4))
    for group in groups:
        for micro in batch.micro_batches(group, trainer.config.micro_batch_tokens):
            sub = batch.select(micro, trainer.device)
            width = sub.response_length
            with trainer.precision.autocast():
                log_softmax = response_log_softmax(trainer, sub)
            targets = sub.input_ids[:, -width:, None]
            log_probs[micro, :width] = log_softmax.gather(-1, targets)[..., 0]
            entropy[micro, :width] = -(log_softmax.exp() * log_softmax).sum(-1)
            if reference is not None:
                ref = response_log_softmax(reference, sub)
                tv[micro, :width] = 0.5 * (log_softmax.exp() - ref.exp()).abs().sum(-1)
                top1[micro, :width] = (log_softmax.argmax(-1) == ref.argmax(-1)).float()
    return log_probs, entropy, tv, top1


def lora_gradient(trainer: Trainer, batch: TrainBatch, rows: torch.Tensor) -> torch.Tensor:
    """The gradient of the mean log-probability of ``rows``' tokens with respect to the trainable weights."""
    trainer.model.zero_grad(set_to_none=True)
    sub = batch.select(rows, trainer.device)
    with trainer.precision.autocast():
        log_softmax = response_log_softmax(trainer, sub)
    log_probs = log_softmax.gather(-1, sub.input_ids[:, -sub.response_length :, None])[..., 0]
    ((log_probs * sub.response_mask).sum() / sub.response_mask.sum()).backward()
    return torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.requires_grad])


def ratio_stats(new: torch.Tensor, old: torch.Tensor, mask: torch.Tensor) -> list[str]:
    on = mask.bool()
    delta = (new - old)[on]
    ratio = delta.exp()
    return [
        f"{delta.abs().mean():.1e}",
        f"{delta.abs().max():.2f}",
        f"{delta.mean():+.1e}",
        f"{100 * ((ratio < 0.8) | (ratio > 1.2)).float().mean():.1f}%",
        f"{100 * ((ratio < 0.95) | (ratio > 1.05)).float().mean():.1f}%",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gradient-rows", type=int, default=8)
    parser.add_argument("--arms", nargs="*", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--emulate-bf16", action="store_true", help="bf16 products in float32 (bf16_emulation.py)")
    args = parser.parse_args()
    if args.emulate_bf16:
        from bf16_emulation import EmulatedBF16Matmul

        EmulatedBF16Matmul().__enter__()  # for the whole process
    run_dir = Path(tempfile.mkdtemp(prefix="precision-mismatch-"))
    reference = build("float32", args.seed, run_dir)
    reference.model.eval()
    print(f"main job's first batch, seed {args.seed}; torch threads {torch.get_num_threads()}")
    print(
        "| arm | tokens | sampler vs trainer: mean / max abs d log p, mean d log p "
        "| ratios outside [0.8, 1.2] / [0.95, 1.05] "
        "| recomputed pi_old vs trainer: mean / max | outside [0.8, 1.2] / [0.95, 1.05] "
        "| trainer vs float32: mean / max abs d log p | mean abs d entropy | mean TV | top-1 agrees | LoRA gradient "
        "cosine to float32 | seconds |"
    )
    print("| --- " * 12 + "|")
    for arm in args.arms:
        started = time.perf_counter()
        trainer = reference if arm == "float32" else build(arm, args.seed, run_dir)
        batch = first_batch(trainer)
        mask = batch.response_mask
        trainer.model.eval()  # no dropout either way; eval keeps peft and transformers on their inference paths
        everything = [torch.arange(len(batch))]
        shuffle = torch.Generator().manual_seed(args.seed)  # the trainer's first shuffle
        update_groups = list(torch.randperm(len(batch), generator=shuffle).chunk(trainer.config.mini_batches))
        recomputed, _, _, _ = scored(trainer, batch, everything)
        updated, entropy, tv, top1 = scored(trainer, batch, update_groups, reference)
        ref_log_probs, ref_entropy, _, _ = scored(reference, batch, update_groups)
        on = mask.bool()
        sampler = ratio_stats(updated, batch.old_log_probs, mask)
        recompute = ratio_stats(updated, recomputed, mask)
        versus = ratio_stats(updated, ref_log_probs, mask)[:2]
        cosine = "-"
        if args.gradient_rows and arm != "float32":
            rows = torch.arange(min(args.gradient_rows, len(batch)))
            reference.model.train()
            trainer.model.train()
            mine, theirs = lora_gradient(trainer, batch, rows), lora_gradient(reference, batch, rows)
            reference.model.eval()
            cosine = f"{torch.nn.functional.cosine_similarity(mine, theirs, dim=0):.4f}"
        print(
            f"| {arm} | {int(mask.sum())} | {sampler[0]} / {sampler[1]}, {sampler[2]} | {sampler[3]} / {sampler[4]} "
            f"| {recompute[0]} / {recompute[1]} | {recompute[3]} / {recompute[4]} | {versus[0]} / {versus[1]} "
            f"| {(entropy - ref_entropy)[on].abs().mean():.1e} | {tv[on].mean():.1e} | {100 * top1[on].mean():.1f}% "
            f"| {cosine} | {time.perf_counter() - started:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
