"""DynaMO token-level advantage modulation against dynamo.md §3.7, plus sign and bound properties."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grpokit.core.modulation import dynamo_modulate


def worked_example(dtype=torch.float64):
    """dynamo.md §3.7: 2 sequences × 3 positions, the last position of sequence 1 is padding."""
    log_prob = torch.tensor([[0.9, 0.5, 0.2], [0.6, 0.95, 1.0]], dtype=dtype).log()
    old = torch.tensor([[0.85, 0.5, 0.25], [0.6, 0.9, 1.0]], dtype=dtype).log()
    entropy = torch.tensor([[0.4, 1.2, 2.0], [0.9, 0.2, 0.0]], dtype=dtype)
    advantages = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, 0.0]], dtype=dtype)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    return advantages, log_prob, old, entropy, mask


def test_reproduces_the_worked_example():
    got = dynamo_modulate(*worked_example())
    expected = [[1.17778, 1.08889, 0.75102], [-1.0, -1.0, 0.0]]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), atol=1e-4, rtol=0)


def test_stabilisation_and_compensation_can_be_switched_off():
    args = worked_example()
    no_comp = dynamo_modulate(*args, mu_max=1.0)
    assert no_comp[0].tolist() == pytest.approx([0.99999925, 1.0, 0.75102], abs=1e-5)
    no_stab = dynamo_modulate(*args, lambda_min=1.0)
    assert no_stab[0].tolist() == pytest.approx([1.17778, 1.08889, 1.0], abs=1e-5)


def test_padding_keeps_its_advantage_and_the_result_has_no_gradient():
    advantages, log_prob, old, entropy, mask = worked_example()
    advantages[1, 2] = 5.0  # an advantage left on a padded position is not touched
    log_prob.requires_grad_()
    got = dynamo_modulate(advantages, log_prob, old, entropy, mask)
    assert got[1, 2].item() == 5.0
    assert not got.requires_grad


def test_clipped_tokens_do_not_drive_the_entropy_change():
    """A token outside the clip region has ξ = 0, so its x is 0 and its β_stab is ≈ 1."""
    advantages, log_prob, old, entropy, mask = worked_example()
    old[0, 2] = torch.log(torch.tensor(0.1, dtype=torch.float64))  # r = 2 > 1.28 with A > 0: clipped
    got = dynamo_modulate(advantages, log_prob, old, entropy, mask)
    assert got[0, 2].item() == pytest.approx(1.0, abs=1e-4)  # lowest β_comp (highest H) and no damping


def test_all_padding_returns_the_advantages_unchanged():
    advantages, log_prob, old, entropy, mask = worked_example()
    torch.testing.assert_close(dynamo_modulate(advantages, log_prob, old, entropy, torch.zeros_like(mask)), advantages)


def test_per_sequence_advantages_broadcast():
    _, log_prob, old, entropy, mask = worked_example()
    per_sequence = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    got = dynamo_modulate(per_sequence, log_prob, old, entropy, mask)
    assert got.shape == (2, 3)
    assert got[0].tolist() == pytest.approx([1.17778, 1.08889, 0.75102], abs=1e-4)


@given(seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from([torch.float32, torch.bfloat16]))
def test_sign_is_kept_and_magnitude_is_at_most_mu_max_times(seed, dtype):
    g = torch.Generator().manual_seed(seed)
    shape = (4, 9)
    old = -torch.rand(shape, generator=g) * 8
    log_prob = (old + (torch.rand(shape, generator=g) - 0.5)).clamp(max=0)
    entropy = torch.rand(shape, generator=g) * 5
    advantages = torch.randn(shape[0], 1, generator=g).expand(shape) * (torch.rand(shape, generator=g) > 0.1)
    mask = (torch.rand(shape, generator=g) > 0.2).long()
    got = dynamo_modulate(advantages.to(dtype), log_prob.to(dtype), old.to(dtype), entropy.to(dtype), mask).float()
    a = advantages.to(dtype).float()
    assert torch.isfinite(got).all()
    assert (torch.sign(got) == torch.sign(a)).all()
    assert (got.abs() <= 1.2 * a.abs() * (1 + 1e-2 if dtype == torch.bfloat16 else 1 + 1e-6)).all()
    assert (got.abs() >= 0.6 * a.abs() * (1 - 1e-2)).all()
