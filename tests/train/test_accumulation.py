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


def with_zero_advantages(batch: TrainBatch, zero_rows: list[int]) -> TrainBatch:
    batch.advantages = batch.advantages.clone()
    batch.advantages[zero_rows] = 0.0
    return batch


@pytest.mark.parametrize("loss", ["ppo", "dgpo", "cispo", "gppo", "sapo", "gspo"])
@pytest.mark.parametrize("mode", LOSS_AGG_MODES)
def test_skipping_zero_advantage_rows_leaves_the_gradient_unchanged(tmp_path, loss, mode):
    config = tiny_config(tmp_path, f"loss={loss}", f"loss_agg_mode={mode}", "max_new_tokens=32")
    trainer = Trainer(config, quiet=True)
    batch = ragged_batch(len(trainer.tokenizer), trainer.tokenizer.pad_token_id)
    batch = with_zero_advantages(batch, [0, 1, 2, 5, 7])  # one prompt's whole group, and single rows of others

    full = accumulated_gradient(trainer, batch, 60)
    trainer.config.skip_zero_advantage_rows = True
    sums: dict[str, float] = {}
    trainer.optimizer.zero_grad(set_to_none=True)
    assert trainer.accumulate_gradients(batch, torch.arange(len(batch)), sums)
    skipped = torch.cat([p.grad.flatten() for p in trainer.model.parameters()])

    assert full.abs().max() > 0
    torch.testing.assert_close(skipped, full, rtol=1e-4, atol=1e-7)
    kept_tokens = batch.response_mask[batch.advantages != 0].sum().item()
    assert sums["tokens"] == kept_tokens < batch.response_mask.sum().item()


def test_a_mini_batch_of_zero_advantages_still_steps_adamw_when_skipped(tmp_path):
    """AdamW moves weights on a zero gradient (its momentum): a skipped mini-batch must take that step too."""
    params = []
    for skip in (False, True):
        config = tiny_config(tmp_path / str(skip), "mini_batches=2", f"skip_zero_advantage_rows={skip}")
        trainer = Trainer(config, quiet=True)
        batch = ragged_batch(len(trainer.tokenizer), trainer.tokenizer.pad_token_id)
        trainer.update(batch)  # a first update gives AdamW momentum
        trainer.shuffle_generator.manual_seed(0)
        metrics = trainer.update(with_zero_advantages(batch, list(range(len(batch)))))
        assert metrics["train/skipped_updates"] == 0
        if skip:  # nothing was backpropagated: no loss metric exists, and the step line shows "-" for them
            assert not {"loss/ppo_kl", "loss/clipfrac", "train/entropy"} & metrics.keys()
        params.append(torch.cat([p.detach().flatten() for p in trainer.model.parameters() if p.requires_grad]))
    torch.testing.assert_close(params[1], params[0])  # the first update skipped its one row of advantage 0
