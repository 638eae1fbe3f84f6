"""Cross-check against verl's own ``core_algos`` where verl has the same algorithm.

``make setup`` installs verl (``--no-deps`` plus what its ``core_algos`` imports), so this runs in CI; on a
machine without verl it skips and says why.
"""

import numpy as np
import pytest
import torch

core_algos = pytest.importorskip(
    "verl.trainer.ppo.core_algos",
    reason="verl is not installed; `make setup` installs it for this cross-check",
)
ActorConfig = pytest.importorskip("verl.workers.config").ActorConfig

from grpokit.core.advantages import compute_outcome_advantages  # noqa: E402
from grpokit.core.losses import compute_policy_loss  # noqa: E402

pytestmark = pytest.mark.slow  # importing verl (and ray) takes about ten seconds


def batch(seed, rows=6, cols=12, spread=1.0):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(rows, cols, generator=g, dtype=torch.float64) * 4
    log_prob = old + (torch.rand(rows, cols, generator=g, dtype=torch.float64) - 0.5) * 2 * spread
    advantages = torch.randn(rows, 1, generator=g, dtype=torch.float64).expand(rows, cols).contiguous()
    mask = torch.ones(rows, cols, dtype=torch.float64)
    mask[0, 8:] = 0
    mask[3, 5:] = 0
    return log_prob, old, advantages, mask


def both(ours, theirs, verl_config, data, mode, **params):
    """(loss, grad) from grpokit's loss ``ours`` and verl's registered ``theirs`` on the same data."""
    log_prob, old, advantages, mask = data
    results = []
    for compute in (
        lambda lp: compute_policy_loss(ours, lp, old, advantages, mask, loss_agg_mode=mode, **params)[0],
        lambda lp: core_algos.get_policy_loss_fn(theirs)(
            old_log_prob=old,
            log_prob=lp,
            advantages=advantages,
            response_mask=mask,
            loss_agg_mode=mode,
            config=verl_config,
        )[0],
    ):
        lp = log_prob.clone().requires_grad_()
        loss = compute(lp)
        loss.backward()
        results.append((loss.detach(), lp.grad))
    return results


def config(**overrides):
    return ActorConfig(strategy="fsdp", rollout_n=4, ppo_micro_batch_size_per_gpu=1, **overrides)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"])
def test_ppo_with_dual_clip_matches_verl_vanilla(seed, mode):
    verl_config = config(clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=3.0)
    (ours_loss, ours_grad), (verl_loss, verl_grad) = both(
        "ppo", "vanilla", verl_config, batch(seed, spread=1.5), mode, eps_low=0.2, eps_high=0.28, clip_c=3.0
    )
    torch.testing.assert_close(ours_loss, verl_loss)
    torch.testing.assert_close(ours_grad, verl_grad)


@pytest.mark.parametrize("seed", range(3))
def test_cispo_matches_verl_gradient(seed):
    """Same gradient; the value differs by design (−A·w here, −A·w·log π in verl)."""
    verl_config = config(clip_ratio_low=0.2, clip_ratio_high=0.2)
    (_, ours_grad), (_, verl_grad) = both(
        "cispo", "cispo", verl_config, batch(seed), "token-mean", eps_low=0.2, eps_high=0.2
    )
    torch.testing.assert_close(ours_grad, verl_grad)


@pytest.mark.parametrize("seed", range(3))
def test_sapo_matches_verl(seed):
    verl_config = config()
    (ours_loss, ours_grad), (verl_loss, verl_grad) = both(
        "sapo",
        "sapo",
        verl_config,
        batch(seed),
        "seq-mean-token-mean",
        tau_pos=verl_config.tau_pos,
        tau_neg=verl_config.tau_neg,
    )
    torch.testing.assert_close(ours_loss, verl_loss)
    torch.testing.assert_close(ours_grad, verl_grad)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("spread", [1e-4, 0.05])
def test_gspo_matches_verl(seed, spread):
    verl_config = config(clip_ratio_low=3e-4, clip_ratio_high=4e-4)
    (ours_loss, ours_grad), (verl_loss, verl_grad) = both(
        "gspo",
        "gspo",
        verl_config,
        batch(seed, spread=spread),
        "seq-mean-token-mean",
        eps_low=3e-4,
        eps_high=4e-4,
    )
    torch.testing.assert_close(ours_loss, verl_loss)
    torch.testing.assert_close(ours_grad, verl_grad)


def unequal_groups():
    rng = np.random.default_rng(0)
    index = np.array(["a"] * 5 + ["b"] * 3 + ["c"] + ["d"] * 7, dtype=object)
    scores = torch.tensor(rng.integers(0, 2, len(index)).astype(float) + rng.normal(0, 0.1, len(index)))
    token_rewards = torch.zeros(len(index), 4, dtype=torch.float64)
    token_rewards[:, -1] = scores
    return index, scores, token_rewards


@pytest.mark.parametrize(("ours", "norm_by_std"), [("grpo", True), ("dr_grpo", False)])
def test_grpo_advantage_matches_verl_with_unequal_groups(ours, norm_by_std):
    index, scores, token_rewards = unequal_groups()
    verl_adv, _ = core_algos.compute_grpo_outcome_advantage(
        token_level_rewards=token_rewards,
        response_mask=torch.ones_like(token_rewards),
        index=index,
        norm_adv_by_std_in_grpo=norm_by_std,
    )
    got = compute_outcome_advantages(ours, scores, list(index))
    torch.testing.assert_close(got.double(), verl_adv[:, 0].double(), rtol=1e-5, atol=1e-5)


def test_rloo_advantage_matches_verl_with_unequal_groups():
    index, scores, token_rewards = unequal_groups()
    verl_adv, _ = core_algos.compute_rloo_outcome_advantage(
        token_level_rewards=token_rewards, response_mask=torch.ones_like(token_rewards), index=index
    )
    got = compute_outcome_advantages("rloo", scores, list(index))
    torch.testing.assert_close(got.double(), verl_adv[:, 0].double(), rtol=1e-5, atol=1e-5)
