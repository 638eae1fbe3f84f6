"""Policy losses: gradient weights against the spec's tables (dgpo.md §6), aggregation, metrics and errors."""

import math

import pytest
import torch

from grpokit.core.losses import POLICY_LOSSES, aggregate_loss, compute_policy_loss, register_policy_loss

OLD = math.log(0.3)


def weights(name, ratios, advantage, **params):
    """Per-token ∇log π weights ``w`` by autograd, from one batch holding every ratio (token-mean over N)."""
    old = torch.full((1, len(ratios)), OLD, dtype=torch.float64)
    log_prob = (old + torch.log(torch.tensor([ratios], dtype=torch.float64))).requires_grad_()
    loss, _ = compute_policy_loss(name, log_prob, old, torch.full_like(old, advantage), torch.ones_like(old), **params)
    loss.backward()
    return (-log_prob.grad[0] * len(ratios) / advantage).tolist()


def token_values(name, ratios, advantage, **params):
    """Per-token loss values, one single-token batch each."""
    values = []
    for r in ratios:
        old = torch.tensor([[OLD]], dtype=torch.float64)
        log_prob = old + math.log(r)
        loss, _ = compute_policy_loss(name, log_prob, old, torch.tensor([[advantage]]), torch.ones_like(old), **params)
        values.append(loss.item())
    return values


RATIOS = [0.1, 0.5, 1.0, 1.28, 1.5, 4.0]

# dgpo.md §6.1 (A = +1) and §6.2 (A = −1), at ratios away from every boundary.
TABLE = [
    ("ppo", {"clip_c": 3.0}, +1, [0.1, 0.5, 1.0, 0, 0, 0]),
    ("ppo", {"clip_c": 3.0}, -1, [0, 0, 1.0, 1.28, 1.5, 0]),
    ("dgpo", {}, +1, [0.1, 0.5, 1.0, 1.239355, 1.341641, 2.190890]),
    ("dgpo", {}, -1, [0.0125, 0.3125, 1.0, 1.28, 1.5, 4.0]),
    ("dgpo", {"m": 3}, +1, [0.1, 0.5, 1.0, 1.252758, 1.392477, 2.677732]),
    ("dgpo", {"m": 1}, +1, [0.1, 0.5, 1.0, 1.2, 1.2, 1.2]),
    ("dgpo", {"n": 2}, -1, [0.0015625, 0.1953125, 1.0, 1.28, 1.5, 4.0]),
    ("dgpo", {"n": 3}, -1, [0.0001953125, 0.1220703, 1.0, 1.28, 1.5, 4.0]),
    ("cispo", {"eps_low": 0.2}, +1, [0.8, 0.8, 1.0, 1.2, 1.2, 1.2]),
    ("cispo", {"eps_low": 0.2}, -1, [0.8, 0.8, 1.0, 1.2, 1.2, 1.2]),
    ("cispo", {}, +1, [0.1, 0.5, 1.0, 1.2, 1.2, 1.2]),
    ("cispo", {}, -1, [0.1, 0.5, 1.0, 1.2, 1.2, 1.2]),
    ("gppo", {"clip_c": 3.0}, +1, [0.1, 0.5, 1.0, 1.2, 1.2, 1.2]),
    ("gppo", {"clip_c": 3.0}, -1, [0.8, 0.8, 1.0, 1.28, 1.5, 0]),
    ("cegppo", {"clip_c": 3.0}, +1, [0.1, 0.5, 1.0, 1.2, 1.2, 1.2]),
    ("cegppo", {"clip_c": 3.0}, -1, [0.4, 0.4, 1.0, 1.28, 1.5, 0]),
    ("sapo", {}, +1, [0.0822, 0.4700, 1.0, 1.2552, 1.4100, 0.7228]),
    ("sapo", {}, -1, [0.0806, 0.4671, 1.0, 1.2527, 1.4012, 0.6304]),
]


@pytest.mark.parametrize(("name", "params", "advantage", "expected"), TABLE)
def test_gradient_weight_matches_spec_table(name, params, advantage, expected):
    tolerance = 1e-4 if name == "sapo" else 1e-6
    assert weights(name, RATIOS, advantage, **params) == pytest.approx(expected, abs=tolerance)


@pytest.mark.parametrize(("name", "params", "advantage", "expected"), [row for row in TABLE if row[0] != "sapo"])
def test_forward_value_is_minus_advantage_times_weight(name, params, advantage, expected):
    got = token_values(name, RATIOS, advantage, **params)
    want = [-advantage * w for w in expected]
    if name in ("ppo", "gppo", "cegppo"):  # clipped tokens keep the clipped objective's constant value
        got = [g for g, w in zip(got, expected, strict=True) if w != 0]
        want = [v for v, w in zip(want, expected, strict=True) if w != 0]
    assert got == pytest.approx(want, abs=1e-6)


def test_sapo_value_is_the_soft_gate():
    got = token_values("sapo", [0.5, 1.0, 2.0], +1)
    assert got == pytest.approx([-4 * torch.sigmoid(torch.tensor(r - 1.0)).item() for r in (0.5, 1.0, 2.0)])


def test_clip_higher_dgpo_matches_spec_6_3():
    assert weights("dgpo", [1.5, 3.0, 4.0], +1, eps_high=0.28) == pytest.approx(
        [1.385641, 1.959592, 2.262742], abs=1e-6
    )
    assert weights("ppo", [1.27, 1.29], +1, eps_high=0.28) == pytest.approx([1.27, 0.0])


def test_hard_clip_just_inside_and_just_outside_each_boundary():
    assert weights("ppo", [1.19, 1.21], +1) == pytest.approx([1.19, 0.0], abs=1e-9)
    assert weights("ppo", [0.79, 0.81], -1) == pytest.approx([0.0, 0.81], abs=1e-9)
    assert weights("ppo", [2.9, 3.1], -1, clip_c=3.0) == pytest.approx([2.9, 0.0], abs=1e-9)
    assert weights("ppo", [2.9, 3.1], -1) == pytest.approx([2.9, 3.1], abs=1e-9)  # dual clip off by default


@pytest.mark.parametrize(("advantage", "boundary"), [(-1, 0.8), (+1, 1.2)])
def test_dgpo_weight_is_continuous_at_each_boundary_and_ppo_jumps(advantage, boundary):
    delta = 1e-7
    dgpo = weights("dgpo", [boundary - delta, boundary + delta], advantage)
    ppo = weights("ppo", [boundary - delta, boundary + delta], advantage)
    assert abs(dgpo[0] - dgpo[1]) < 1e-5
    assert abs(ppo[0] - ppo[1]) == pytest.approx(boundary, abs=1e-5)


def test_dgpo_probability_weight_vanishes_while_gppo_and_cispo_diverge():
    """dgpo.md §6.4: on LN tokens w_π = w/π → 0 for DGPO, ∝ 1/π for the log-π soft clips."""
    ratios = [0.5, 0.1, 0.01]
    pi_old = 0.3
    for name, params, trend in [("dgpo", {}, "down"), ("gppo", {}, "up"), ("cispo", {"eps_low": 0.2}, "up")]:
        w_pi = [w / (r * pi_old) for w, r in zip(weights(name, ratios, -1, **params), ratios, strict=True)]
        assert (w_pi == sorted(w_pi, reverse=True)) if trend == "down" else (w_pi == sorted(w_pi))
    dgpo_w_pi = [w / r for w, r in zip(weights("dgpo", ratios, -1), ratios, strict=True)]
    assert dgpo_w_pi == pytest.approx([r / 0.8 for r in ratios])  # w_π ∝ π_θ^n with n = 1


def random_batch(seed, shape=(4, 7), dtype=torch.float64, spread=0.6):
    generator = torch.Generator().manual_seed(seed)
    old = -torch.rand(shape, generator=generator, dtype=dtype) * 3
    log_prob = old + (torch.rand(shape, generator=generator, dtype=dtype) - 0.5) * 2 * spread
    advantages = torch.randn(shape[0], 1, generator=generator, dtype=dtype).expand(shape).contiguous()
    mask = torch.ones(shape, dtype=torch.long)
    mask[0, -3:] = 0
    mask[2, -1:] = 0
    return log_prob, old, advantages, mask


def loss_and_grad(name, log_prob, old, advantages, mask, **params):
    log_prob = log_prob.clone().requires_grad_()
    loss, metrics = compute_policy_loss(name, log_prob, old, advantages, mask, **params)
    loss.backward()
    return loss.detach(), log_prob.grad, metrics


@pytest.mark.parametrize("seed", range(3))
def test_dgpo_with_n_minus_one_and_m_one_is_gppo(seed):
    batch = random_batch(seed)
    dgpo = loss_and_grad("dgpo", *batch, n=-1, m=1)
    gppo = loss_and_grad("gppo", *batch)
    torch.testing.assert_close(dgpo[0], gppo[0])
    torch.testing.assert_close(dgpo[1], gppo[1])


@pytest.mark.parametrize("seed", range(3))
def test_dgpo_with_n_zero_and_infinite_m_is_unclipped_importance_sampling(seed):
    log_prob, old, advantages, mask = batch = random_batch(seed)
    _, grad, metrics = loss_and_grad("dgpo", *batch, n=0, m=math.inf)
    ratio = torch.exp(log_prob - old)
    expected = -advantages * ratio * mask / mask.sum()
    torch.testing.assert_close(grad, expected)
    assert metrics["clipfrac"] > 0  # the batch does cross the boundaries: the check is not vacuous


def test_gradient_preserving_losses_differ_from_ppo_only_on_boundary_tokens():
    batch = random_batch(0)
    _, ppo_grad, ppo_metrics = loss_and_grad("ppo", *batch)
    _, gppo_grad, _ = loss_and_grad("gppo", *batch)
    differs = ppo_grad != gppo_grad
    assert differs.any()
    assert (ppo_grad[differs] == 0).all()
    assert ppo_metrics["clipfrac"] > 0


def test_gspo_uses_the_sequence_level_ratio():
    old = torch.log(torch.tensor([[0.3, 0.3, 0.3]], dtype=torch.float64))
    log_prob = (old + torch.log(torch.tensor([[1.0, 1.0002, 1.0001]], dtype=torch.float64))).requires_grad_()
    advantages = torch.ones_like(old)
    loss, _ = compute_policy_loss("gspo", log_prob, old, advantages, torch.ones_like(old))
    loss.backward()
    s = math.exp(math.log(1.0002 * 1.0001) / 3)  # geometric mean ratio, inside [1-3e-4, 1+4e-4]
    assert log_prob.grad[0].tolist() == pytest.approx([-s / 3] * 3)
    clipped = (old + 0.01).requires_grad_()  # s = e^0.01 > 1 + 4e-4: clipped for A > 0
    loss, metrics = compute_policy_loss("gspo", clipped, old, advantages, torch.ones_like(old))
    loss.backward()
    assert clipped.grad.abs().max() == 0
    assert metrics["clipfrac_high"] == 1.0


def test_metrics_report_each_side_and_the_approximate_kl():
    old = torch.full((1, 4), OLD, dtype=torch.float64)
    log_prob = old + torch.log(torch.tensor([[0.5, 0.9, 1.1, 1.5]], dtype=torch.float64))
    advantages = torch.tensor([[-1.0, -1.0, 1.0, 1.0]], dtype=torch.float64)
    for name in POLICY_LOSSES.names():
        if name in ("sapo", "gspo", "cispo"):
            continue
        _, metrics = compute_policy_loss(name, log_prob, old, advantages, torch.ones_like(old))
        assert metrics["clipfrac_low"] == 0.25
        assert metrics["clipfrac_high"] == 0.25
        assert metrics["clipfrac"] == 0.5
        assert metrics["ppo_kl"] == pytest.approx(-math.log(0.5 * 0.9 * 1.1 * 1.5) / 4)


@pytest.mark.parametrize("name", POLICY_LOSSES.names())
def test_every_loss_reports_the_common_metrics_as_floats(name):
    _, metrics = compute_policy_loss(name, *random_batch(1))
    assert {"clipfrac_low", "clipfrac_high", "clipfrac", "ppo_kl"} <= set(metrics)
    assert all(isinstance(v, float) for v in metrics.values())


def test_aggregation_modes():
    loss_mat = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0], [9.0, 9.0, 9.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    assert aggregate_loss(loss_mat, mask, "token-mean").item() == pytest.approx(10 / 4)
    assert aggregate_loss(loss_mat, mask, "seq-mean-token-sum").item() == pytest.approx((6 + 4) / 2)
    assert aggregate_loss(loss_mat, mask, "seq-mean-token-mean").item() == pytest.approx((2 + 4) / 2)
    assert aggregate_loss(loss_mat, mask, "seq-mean-token-sum-norm").item() == pytest.approx(5 / 3)
    assert aggregate_loss(loss_mat, mask, "seq-mean-token-sum-norm", loss_scale_factor=10).item() == pytest.approx(0.5)
    assert aggregate_loss(loss_mat, mask, "token-mean", batch_num_tokens=8).item() == pytest.approx(10 / 8)
    assert aggregate_loss(loss_mat, torch.zeros_like(mask), "token-mean").item() == 0.0


def test_micro_batches_with_global_counts_sum_to_the_full_batch_loss():
    log_prob, old, advantages, mask = random_batch(2)
    for mode, key, count in [
        ("token-mean", "batch_num_tokens", mask.sum().item()),
        ("seq-mean-token-mean", "batch_num_seqs", 4),
    ]:
        full, _ = compute_policy_loss("dgpo", log_prob, old, advantages, mask, loss_agg_mode=mode)
        parts = [
            compute_policy_loss(
                "dgpo", log_prob[s], old[s], advantages[s], mask[s], loss_agg_mode=mode, **{key: count}
            )[0]
            for s in (slice(0, 2), slice(2, 4))
        ]
        torch.testing.assert_close(parts[0] + parts[1], full)


def test_unknown_loss_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown policy loss 'grpoo'.*dgpo.*ppo"):
        compute_policy_loss("grpoo", *random_batch(0))


def test_unknown_parameter_is_named():
    with pytest.raises(TypeError, match=r"eps_hgh.*accepts: eps_low, eps_high, n, m"):
        compute_policy_loss("dgpo", *random_batch(0), eps_hgh=0.3)


def test_bad_inputs_are_clear_errors():
    log_prob, old, advantages, mask = random_batch(0)
    with pytest.raises(ValueError, match="loss_agg_mode"):
        compute_policy_loss("ppo", log_prob, old, advantages, mask, loss_agg_mode="mean")
    with pytest.raises(ValueError, match="old_log_prob has shape"):
        compute_policy_loss("ppo", log_prob, old[:, :3], advantages, mask)
    with pytest.raises(ValueError, match="advantages of shape"):
        compute_policy_loss("ppo", log_prob, old, advantages[:2], mask)
    with pytest.raises(ValueError, match="clip_c must be > 1"):
        compute_policy_loss("ppo", log_prob, old, advantages, mask, clip_c=0.5)
    with pytest.raises(ValueError, match="m must be > 0"):
        compute_policy_loss("dgpo", log_prob, old, advantages, mask, m=0)


def test_advantages_broadcast_from_one_per_sequence():
    log_prob, old, advantages, mask = random_batch(3)
    full, _ = compute_policy_loss("dgpo", log_prob, old, advantages, mask)
    per_sequence, _ = compute_policy_loss("dgpo", log_prob, old, advantages[:, :1], mask)
    torch.testing.assert_close(full, per_sequence)


@pytest.fixture
def scratch_loss_name():
    name = "test-reinforce"
    yield name
    POLICY_LOSSES._fns.pop(name, None)


def test_register_policy_loss_adds_a_selectable_loss(scratch_loss_name):
    name = scratch_loss_name

    @register_policy_loss(name)
    def reinforce(log_prob, old_log_prob, advantages, response_mask, *, scale: float = 1.0):
        no_region = torch.zeros_like(log_prob, dtype=torch.bool)
        return -scale * advantages * log_prob, {"clipfrac_low": no_region, "clipfrac_high": no_region}

    log_prob, old, advantages, mask = random_batch(0)
    loss, metrics = compute_policy_loss(name, log_prob, old, advantages, mask, scale=2.0)
    expected = (-2.0 * advantages * log_prob * mask).sum() / mask.sum()
    torch.testing.assert_close(loss, expected)
    assert metrics["clipfrac"] == 0.0
    with pytest.raises(ValueError, match="already registered"):
        register_policy_loss(name)(lambda *a: None)
