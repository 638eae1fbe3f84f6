"""Property tests of the policy losses: finite under extreme inputs, padding inert, DGPO's weight continuous."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from grpokit.core.losses import POLICY_LOSSES, compute_policy_loss

LOSSES = st.sampled_from(POLICY_LOSSES.names())
DTYPES = st.sampled_from([torch.float32, torch.bfloat16])


def extreme_batch(seed, dtype, rows=3, cols=5):
    """log-probabilities down to −1e4, log-ratios up to ±50, advantages up to ±10, some padding."""
    g = torch.Generator().manual_seed(seed)
    log_prob = -(torch.rand(rows, cols, generator=g) ** 4) * 1e4
    log_ratio = (torch.rand(rows, cols, generator=g) * 2 - 1) * 50
    advantages = (torch.rand(rows, 1, generator=g) * 2 - 1) * 10
    mask = (torch.rand(rows, cols, generator=g) > 0.2).long()
    mask[0, 0] = 1
    return log_prob.to(dtype), (log_prob - log_ratio).to(dtype), advantages.to(dtype), mask


@given(
    name=LOSSES,
    seed=st.integers(0, 2**31 - 1),
    dtype=DTYPES,
    mode=st.sampled_from(["token-mean", "seq-mean-token-mean"]),
)
def test_loss_and_gradient_stay_finite(name, seed, dtype, mode):
    log_prob, old, advantages, mask = extreme_batch(seed, dtype)
    log_prob.requires_grad_()
    loss, metrics = compute_policy_loss(name, log_prob, old, advantages, mask, loss_agg_mode=mode)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(log_prob.grad).all()
    assert all(math.isfinite(v) for v in metrics.values())


@given(
    name=LOSSES,
    seed=st.integers(0, 2**31 - 1),
    dtype=DTYPES,
    junk=st.sampled_from([math.nan, math.inf, -math.inf, 1e30]),
)
def test_padding_never_changes_the_loss_or_gets_gradient(name, seed, dtype, junk):
    log_prob, old, advantages, mask = extreme_batch(seed, dtype)
    advantages = advantages.expand_as(log_prob).contiguous()
    padding = mask == 0
    results = []
    for fill in (None, junk):
        lp, ol, adv = log_prob.clone(), old.clone(), advantages.clone()
        if fill is not None:
            lp[padding], ol[padding], adv[padding] = fill, fill, fill
        lp.requires_grad_()
        loss, _ = compute_policy_loss(name, lp, ol, adv, mask)
        loss.backward()
        assert (lp.grad[padding] == 0).all()
        results.append((loss.detach(), lp.grad))
    torch.testing.assert_close(results[0][0], results[1][0], equal_nan=False)
    torch.testing.assert_close(results[0][1], results[1][1])


def dgpo_weight(ratio, advantage, n, m):
    old = torch.tensor([[math.log(0.3)]], dtype=torch.float64)
    log_prob = (old + math.log(ratio)).requires_grad_()
    loss, _ = compute_policy_loss("dgpo", log_prob, old, torch.tensor([[advantage]]), torch.ones_like(old), n=n, m=m)
    loss.backward()
    return -log_prob.grad.item() / advantage


@given(
    ratio=st.floats(0.01, 20.0),
    advantage=st.sampled_from([-2.0, -0.5, 0.5, 2.0]),
    n=st.sampled_from([-1.0, 0.0, 1.0, 2.0, 3.0]),
    m=st.sampled_from([1.0, 2.0, 3.0, 10.0]),
)
def test_dgpo_weight_is_continuous_in_the_ratio(ratio, advantage, n, m):
    delta = 1e-7 * ratio
    left, right = dgpo_weight(ratio - delta, advantage, n, m), dgpo_weight(ratio + delta, advantage, n, m)
    assert abs(left - right) <= 1e-4 * max(1.0, abs(left))
