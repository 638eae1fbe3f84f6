"""Outcome advantages: GRPO, Dr. GRPO and RLOO over groups of unequal size."""

import statistics

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grpokit.core.advantages import ADVANTAGE_ESTIMATORS, compute_outcome_advantages


def test_grpo_normalises_by_group_mean_and_unbiased_std():
    rewards = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    groups = ["a", "a", "a", "a", "b", "b", "b"]
    got = compute_outcome_advantages("grpo", rewards, groups)
    expected = []
    for reward, group in zip(rewards, groups, strict=True):
        members = [r for r, g in zip(rewards, groups, strict=True) if g == group]
        expected.append((reward - statistics.mean(members)) / (statistics.stdev(members) + 1e-6))
    assert got.tolist() == pytest.approx(expected, rel=1e-6)
    assert got.dtype == torch.float32


def test_groups_may_have_unequal_sizes_and_any_hashable_ids():
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.5])
    groups = [("p", 1), ("p", 1), 7, 7, 7, "solo"]
    got = compute_outcome_advantages("dr_grpo", rewards, groups)
    assert got.tolist() == pytest.approx([0.5, -0.5, 1 / 3, 1 / 3, -2 / 3, 0.5])


def test_a_singleton_group_gets_mean_zero_and_std_one():
    assert compute_outcome_advantages("grpo", [0.7], [0]).item() == pytest.approx(0.7 / (1 + 1e-6))
    assert compute_outcome_advantages("dr_grpo", [0.7], [0]).item() == pytest.approx(0.7)
    assert compute_outcome_advantages("rloo", [0.7], [0]).item() == pytest.approx(0.7)


def test_a_group_with_equal_rewards_gets_zero():
    got = compute_outcome_advantages("grpo", [1.0, 1.0, 1.0, 0.0, 1.0], [0, 0, 0, 1, 1])
    assert got[:3].tolist() == [0.0, 0.0, 0.0]


def test_rloo_subtracts_the_mean_of_the_others():
    rewards = [3.0, 1.0, 0.0, 2.0, 5.0]
    groups = [0, 0, 0, 1, 1]
    got = compute_outcome_advantages("rloo", rewards, groups)
    expected = [3 - 0.5, 1 - 1.5, 0 - 2.0, 2 - 5, 5 - 2]
    assert got.tolist() == pytest.approx(expected)


def test_eps_is_a_parameter_of_grpo():
    got = compute_outcome_advantages("grpo", [1.0, 0.0], [0, 0], eps=1.0)
    std = statistics.stdev([1.0, 0.0])
    assert got.tolist() == pytest.approx([0.5 / (std + 1), -0.5 / (std + 1)])


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"unknown advantage estimator 'gae'.*grpo"):
        compute_outcome_advantages("gae", [1.0], [0])
    with pytest.raises(TypeError, match="norm_by_std"):
        compute_outcome_advantages("grpo", [1.0], [0], norm_by_std=False)
    with pytest.raises(ValueError, match="2 rewards but 3 group ids"):
        compute_outcome_advantages("grpo", [1.0, 0.0], [0, 0, 1])
    with pytest.raises(ValueError, match="1-D"):
        compute_outcome_advantages("grpo", [[1.0, 0.0]], [0])
    with pytest.raises(ValueError, match="NaN"):
        compute_outcome_advantages("grpo", [float("nan"), 0.0], [0, 0])


@given(
    groups=st.lists(st.integers(0, 4), min_size=2, max_size=40),
    seed=st.integers(0, 10_000),
    name=st.sampled_from(ADVANTAGE_ESTIMATORS.names()),
)
def test_advantages_sum_to_zero_in_every_group_of_two_or_more(groups, seed, name):
    rewards = torch.rand(len(groups), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    got = compute_outcome_advantages(name, rewards, groups).double()
    for group in set(groups):
        members = [i for i, g in enumerate(groups) if g == group]
        if len(members) > 1:
            assert abs(got[members].sum().item()) < 1e-4
