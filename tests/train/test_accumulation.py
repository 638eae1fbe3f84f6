"""Gradient accumulation: micro-batches of a mini-batch sum to one full pass, in every aggregation mode."""

import pytest
import torch

from grpokit.core.losses import LOSS_AGG_MODES
from grpokit.train.trainer import TrainBatch, Trainer
from tests.helpers import tiny_config


def ragged_batch(vocab: int, pad: int) -> TrainBatch:
    """Three prompts × three responses of very different lengths (short and long answers in one mini-batch)."""
    generator = torch.Generator().manual_seed(0)
    prompts, responses = [], []
    for prompt_length in (5, 9, 7):
        prompt = torch.randint(3, vocab, (prompt_length,), generator=generator)
        for response_length in (2, 11, 23):
            prompts.append(prompt)
            responses.append(torch.randint(3, vocab, (response_length,), generator=generator))
    advantages = torch.linspace(-1.0, 1.0, len(prompts))
    noise = [-2.0 + 0.3 * torch.randn(len(r), generator=generator) for r in responses]  # ratios off 1: clipping acts
    return TrainBatch.from_sequences(prompts, responses, noise, advantages, pad)


def accumulated_gradient(trainer: Trainer, batch: TrainBatch, token_budget: int) -> torch.Tensor:
    trainer.config.micro_batch_tokens = token_budget
    rows = torch.arange(len(batch))
    trainer.optimizer.zero_grad(set_to_none=True)
    assert trainer.accumulate_gradients(batch, rows, {})
    return torch.cat([p.grad.flatten() for p in trainer.model.parameters()])


@pytest.mark.parametrize("mode", LOSS_AGG_MODES)
def test_micro_batches_sum_to_one_full_pass_with_kl_and_entropy(tmp_path, mode):
    config = tiny_config(tmp_path, f"loss_agg_mode={mode}", "kl_coef=0.1", "entropy_coef=0.01", "max_new_tokens=32")
    trainer = Trainer(config, quiet=True)
    batch = ragged_batch(len(trainer.tokenizer), trainer.tokenizer.pad_token_id)
    with torch.no_grad():  # a reference that differs from the policy, so the KL term has a gradient
        for p in trainer.reference.parameters():
            p.add_(0.05 * torch.randn_like(p))
    trainer._fill_reference_log_probs(batch)

    assert len(batch.micro_batches(torch.arange(len(batch)), 60)) >= 4
    full = accumulated_gradient(trainer, batch, 10**6)
    accumulated = accumulated_gradient(trainer, batch, 60)
    assert full.abs().max() > 0
    torch.testing.assert_close(accumulated, full, rtol=1e-4, atol=1e-7)
