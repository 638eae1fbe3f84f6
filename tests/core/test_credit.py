"""Multi-turn credit: ProxMO (paper and official) and GiGPO against the worked example of proxmo.md §8."""

import math

import pytest
import torch

from grpokit.core.credit import (
    CREDIT_ESTIMATORS,
    episode_balance_weights,
    gigpo_advantages,
    proxmo_advantages,
    psc_beta,
    psc_weight,
    step_returns,
)

# proxmo.md §8.1: (group, trajectory, anchor observation, env reward, valid)
ROWS = [
    ("A", "a1", "You are in the kitchen.", 0, 1),
    ("A", "a1", "On the counter 1, you see a mug 1.", 0, 1),
    ("A", "a1", "You pick up the mug 1 from the counter 1.", 10, 1),
    ("A", "a2", "You are in the kitchen.", 0, 1),
    ("A", "a2", "On the table 1, you see a fork 2.", 0, 1),
    ("A", "a2", "Nothing happens.", 0, 0),
    ("A", "a3", "You are in the kitchen.", 0, 1),
    ("A", "a3", "On the counter 1, you see a mug 1.", 10, 1),
    ("B", "b1", "You are in the bedroom.", 0, 1),
    ("B", "b1", "On the desk 1, you see a lamp 1.", 0, 1),
    ("B", "b2", "You are in the bedroom.", 0, 1),
    ("B", "b2", "The drawer 1 is closed.", 0, 1),
]
GROUPS, TRAJS, OBS, REWARDS, VALID = (list(column) for column in zip(*ROWS, strict=True))
FIXTURE = (GROUPS, TRAJS, OBS, REWARDS, VALID)

# §8.2 columns, rows 0–7 (rows 8–11 are all 0)
OFFICIAL_FINAL = [6.612158, 3.531981, 3.769282, -12.100967, -6.004815, -6.022836, 7.087158, 4.031981]
OFFICIAL_EPISODE = [3.7625, 3.7625, 3.7625, -5.925625, -5.925625, -6.020625, 3.7625, 3.7625]
OFFICIAL_STEP = [2.849658, -0.230519, 0.006782, -6.175342, -0.079190, -0.002211, 3.324658, 0.269481]
GIGPO_STEP = [2.85, -0.25, 0.0, -6.175, 0.0, 0.0, 3.325, 0.25]
SAME_T_STEP = [2.85, -0.231216, 0.000459, -6.175, -0.074705, -0.000459, 3.325, 0.268784]  # §8.3
PAPER_EPISODE = {"a1": 0.707325, "a2": -1.407252, "a3": 0.707325}  # §8.4, R = [1, 0, 1]
ZEROS = [0.0] * 4


def test_step_returns_discount_within_each_trajectory():
    got = step_returns(TRAJS, REWARDS, 0.95)
    assert got.tolist()[:8] == pytest.approx([9.025, 9.5, 10.0, 0, 0, 0, 9.5, 10.0])


def test_episode_balance_weights_give_each_trajectory_the_same_total():
    weights = episode_balance_weights(TRAJS)  # trajectories of 3, 3, 2, 2 and 2 rows: 2.4 rows on average
    assert weights.tolist() == pytest.approx([0.8] * 6 + [1.2] * 6)  # each trajectory's sum: 3 × 0.8 = 2 × 1.2 = 2.4


def test_official_variant_reproduces_the_fixture():
    got = proxmo_advantages(*FIXTURE, variant="official")
    assert got.tolist() == pytest.approx(OFFICIAL_FINAL + ZEROS, abs=1e-4)


def test_official_variant_episode_and_step_terms_separately():
    episode = proxmo_advantages(*FIXTURE, variant="official", step_weight=0.0)
    step = proxmo_advantages(*FIXTURE, variant="official") - episode
    assert episode.tolist() == pytest.approx(OFFICIAL_EPISODE + ZEROS, abs=1e-4)
    assert step.tolist() == pytest.approx(OFFICIAL_STEP + ZEROS, abs=1e-4)


def test_official_variant_without_psc_has_gigpo_episode_term():
    episode = proxmo_advantages(*FIXTURE, variant="official", beta=0.0, step_weight=0.0)
    assert episode.tolist()[3:6] == pytest.approx([-6.2375, -6.2375, -6.3375], abs=1e-5)


def test_paper_variant_is_trajectory_zscore_with_psc_plus_same_step_soft_baseline():
    got = proxmo_advantages(*FIXTURE, variant="paper")
    expected = [PAPER_EPISODE[t] + s for t, s in zip(TRAJS[:8], SAME_T_STEP, strict=True)]
    assert got.tolist() == pytest.approx(expected + ZEROS, abs=1e-4)


def test_paper_episode_term_for_two_successes_in_eight():
    """§8.4: N = 8, p = 0.25: success 1.732051 × 1.00784482, failure −0.577350 × 0.99990234."""
    groups, trajs = ["g"] * 8, [f"t{i}" for i in range(8)]
    rewards = [1, 1, 0, 0, 0, 0, 0, 0]
    got = proxmo_advantages(groups, trajs, ["same state"] * 8, rewards, step_weight=0.0)
    assert got.tolist() == pytest.approx([1.745638] * 2 + [-0.577294] * 6, abs=1e-5)


def test_gigpo_exact_match_step_term_and_row_episode_term():
    got = gigpo_advantages(*FIXTURE)
    episode = [3.7625, 3.7625, 3.7625, -6.2375, -6.2375, -6.3375, 3.7625, 3.7625]
    expected = [e + s for e, s in zip(episode, GIGPO_STEP, strict=True)]
    assert got.tolist() == pytest.approx(expected + ZEROS, abs=1e-4)


def test_gigpo_mean_std_norm_divides_by_the_unbiased_std():
    got = gigpo_advantages(["g"] * 4, ["a", "b", "c", "d"], ["s"] * 4, [1.0, 0.0, 0.0, 0.0], mode="mean_std_norm")
    z = [(r - 0.25) / (0.5 + 1e-6) for r in (1.0, 0.0, 0.0, 0.0)]
    assert got.tolist() == pytest.approx([2 * v for v in z], rel=1e-5)  # same z from the episode and the step


def test_psc_weight_table_for_both_beta_conventions():
    """§8.4 for p = 0, 0.125, …, 1 with β = 0.1 (paper) and β = 0.2164 (code, target range 0.05)."""
    p = torch.tensor([0.0, 0.125, 0.25, 0.5, 0.75, 0.875, 1.0])
    table = {
        0.1: (
            [1.023106, 1.014249, 1.007845, 1.001562, 1.000098, 1.000006, 1.0],
            [1.0, 0.999994, 0.999902, 0.998438, 0.992155, 0.985751, 0.976894],
        ),
        psc_beta(0.05): (
            [1.05, 1.030834, 1.016976, 1.003380, 1.000211, 1.000013, 1.0],
            [1.0, 0.999987, 0.999789, 0.996620, 0.983024, 0.969166, 0.95],
        ),
    }
    for beta, (success, failure) in table.items():
        assert psc_weight(torch.ones(7, dtype=torch.bool), p, beta=beta).tolist() == pytest.approx(success, abs=1e-6)
        assert psc_weight(torch.zeros(7, dtype=torch.bool), p, beta=beta).tolist() == pytest.approx(failure, abs=1e-6)
    assert psc_beta(0.05) == pytest.approx(0.2163953, abs=1e-7)


@pytest.mark.parametrize(("tau", "expected"), [(0.1, -0.2305), (1.0, 2.5887), (10.0, 3.4232)])
def test_temperature_moves_the_soft_baseline_toward_the_group_mean(tau, expected):
    """§8.3: A^S of row 1 under the official (all rows) convention."""
    full = proxmo_advantages(*FIXTURE, variant="official", tau=tau)
    episode = proxmo_advantages(*FIXTURE, variant="official", tau=tau, step_weight=0.0)
    assert (full - episode)[1].item() == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_a_group_where_every_rollout_fails_gets_zero(variant):
    got = proxmo_advantages(
        ["g"] * 4, ["a", "a", "b", "b"], ["aa bb", "cc dd", "aa bb", "ee ff"], [0] * 4, variant=variant
    )
    assert got.abs().max().item() == pytest.approx(0.0, abs=1e-6)


def test_invalid_penalty_reaches_the_episode_term_only_in_the_official_variant():
    """Official: row score −0.1 enters the row statistics. Paper: only the row's step return drops by 0.1."""
    groups, trajs, obs = ["g"] * 4, ["a", "a", "b", "b"], ["aa bb", "cc dd", "aa bb", "cc dd"]
    valid = [1, 0, 1, 1]
    official = proxmo_advantages(groups, trajs, obs, [0] * 4, valid, variant="official", step_weight=0.0)
    paper_episode = proxmo_advantages(groups, trajs, obs, [0] * 4, valid, variant="paper", step_weight=0.0)
    paper = proxmo_advantages(groups, trajs, obs, [0] * 4, valid, variant="paper")
    assert official.tolist() == pytest.approx([0.025, -0.075, 0.025, 0.025], abs=1e-6)
    assert paper_episode.abs().max().item() == 0.0
    assert paper.tolist() == pytest.approx([0.0, -0.05, 0.0, 0.05], abs=1e-6)  # rows 1 and 3 share a state


def test_empty_vocabulary_gives_no_step_term():
    """Single-character tokens are dropped by the default TF-IDF token pattern: nothing to compare."""
    args = (["g"] * 3, ["a", "b", "c"], ["1", "2", "3"], [10, 0, 0])
    got = proxmo_advantages(*args, variant="official")
    episode = proxmo_advantages(*args, variant="official", step_weight=0.0)
    torch.testing.assert_close(got, episode)


def test_registry_selects_credit_estimators_by_name():
    assert {"gigpo", "proxmo"} <= set(CREDIT_ESTIMATORS.names())
    got = CREDIT_ESTIMATORS.call("proxmo", *FIXTURE, variant="official")
    assert got.tolist() == pytest.approx(OFFICIAL_FINAL + ZEROS, abs=1e-4)
    with pytest.raises(TypeError, match="temperature"):
        CREDIT_ESTIMATORS.call("proxmo", *FIXTURE, temperature=0.1)


def test_bad_layouts_are_clear_errors():
    with pytest.raises(ValueError, match="not contiguous"):
        step_returns(["a", "b", "a"], [0, 0, 1], 0.95)
    with pytest.raises(ValueError, match="different group ids"):
        proxmo_advantages(["g", "h"], ["a", "a"], ["x", "y"], [0, 1])
    with pytest.raises(ValueError, match="observations has 1 rows"):
        proxmo_advantages(["g", "g"], ["a", "a"], ["x"], [0, 1])
    with pytest.raises(ValueError, match="unknown ProxMO variant"):
        proxmo_advantages(*FIXTURE, variant="code")
    with pytest.raises(ValueError, match="unknown GiGPO mode"):
        gigpo_advantages(*FIXTURE, mode="soft")
    with pytest.raises(ValueError, match="step_rewards contains NaN"):
        step_returns(["a"], [math.nan], 0.9)


def test_agent_grpo_zscores_row_scores_within_each_group():
    got = CREDIT_ESTIMATORS.call("grpo", *FIXTURE)
    scores = [10, 10, 10, 0, 0, -0.1, 10, 10]
    mean = sum(scores) / 8
    std = (sum((s - mean) ** 2 for s in scores) / 7) ** 0.5
    assert got.tolist()[:8] == pytest.approx([(s - mean) / (std + 1e-6) for s in scores], rel=1e-5)
    assert got.tolist()[8:] == [0.0] * 4
