"""DynaMO rollout allocation: the worked examples T1–T5 of dynamo.md §2.6, properties and PromptStats."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpokit.core.allocation import ALLOCATION_RULES, PromptStats, allocate_rollouts, rollout_priority

T2_CORRECT = [0, 1, 2, 4, 8, 12, 14, 16]


def allocate(counts, priorities, budget, rule="official", n_min=8, n_max=24, initial_budget=4):
    return allocate_rollouts(
        counts, priorities, budget, n_min=n_min, n_max=n_max, initial_budget=initial_budget, rule=rule
    )


def test_priorities_of_t2():
    got = [rollout_priority(k, 16) for k in T2_CORRECT]
    expected = [0.01, 0.0625009, 0.1166675, 0.2000008, 0.2666672, 0.2000003, 0.01, 0.01]
    assert got == pytest.approx(expected, abs=1e-7)


def test_priority_is_unknown_below_min_samples_and_floored_when_mastered_or_never_solved():
    assert rollout_priority(1, 3) == -1.0
    assert rollout_priority(0, 40) == 0.01
    assert rollout_priority(34, 40) == 0.01  # 0.85 = mastery
    assert rollout_priority(33, 40) > 0.01
    with pytest.raises(ValueError, match="num_correct"):
        rollout_priority(5, 4)


def test_t1_first_epoch_is_uniform():
    assert allocate([0] * 4, [-1.0] * 4, 64) == [16, 16, 16, 16]


def test_t2_typical_epoch():
    priorities = [rollout_priority(k, 16) for k in T2_CORRECT]
    assert allocate([16] * 8, priorities, 128) == [9, 12, 17, 24, 24, 24, 9, 9]


def test_t2_with_the_neyman_water_level_on_sqrt_p():
    """Continuous clip(λ·sqrt(P), 8, 24) = [8, 13.52, 18.48, 24, 24, 24, 8, 8], then largest remainder."""
    priorities = [rollout_priority(k, 16) for k in T2_CORRECT]
    assert allocate([16] * 8, priorities, 128, rule="neyman") == [8, 14, 18, 24, 24, 24, 8, 8]


def test_t3_new_prompt_gets_exactly_its_exploration_budget():
    priorities = [-1.0, rollout_priority(8, 16), rollout_priority(2, 16), rollout_priority(16, 16)]
    assert allocate([0, 16, 16, 16], priorities, 64) == [8, 24, 23, 9]


def test_t4_caps_bind_and_the_rest_goes_round_robin():
    assert allocate([16] * 3, [0.25, 0.25, -1.0], 60) == [24, 24, 12]


@pytest.mark.parametrize(("budget", "expected"), [(24, [6, 6, 6, 6]), (20, [5, 5, 5, 5])])
def test_t5_exploration_scaled_down_when_it_exceeds_the_budget(budget, expected):
    assert allocate([0] * 4, [-1.0] * 4, budget, n_min=4, initial_budget=8) == expected


def test_exploration_never_pushes_a_seen_prompt_below_n_min():
    """The official code would give the seen prompt 0 here; every prompt keeps n_min."""
    assert allocate([0, 100], [-1.0, 0.2], 8, n_min=4, initial_budget=8) == [4, 4]


def test_unknown_rule_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown allocation rule 'uniform'.*neyman.*official"):
        allocate([0], [-1.0], 8, rule="uniform")


@given(
    data=st.data(),
    n=st.integers(1, 16),
    n_min=st.integers(0, 8),
    extra=st.integers(0, 20),
    initial_budget=st.integers(0, 12),
    rule=st.sampled_from(ALLOCATION_RULES.names()),
)
def test_allocations_sum_to_the_budget_and_respect_the_bounds(data, n, n_min, extra, initial_budget, rule):
    n_max = n_min + extra
    counts = data.draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    priorities = data.draw(st.lists(st.one_of(st.just(-1.0), st.floats(0.0, 0.25)), min_size=n, max_size=n))
    budget = data.draw(st.integers(0, n * n_max + 10))
    got = allocate(counts, priorities, budget, rule=rule, n_min=n_min, n_max=n_max, initial_budget=initial_budget)
    assert sum(got) == min(max(budget, n * n_min), n * n_max)
    assert all(n_min <= c <= n_max for c in got)


def test_prompt_stats_counts_refreshes_at_epoch_end_and_round_trips():
    stats = PromptStats()
    stats.update_many(["p"] * 16, [True] * 8 + [False] * 8)
    stats.update_many(["q"] * 16, [True] * 2 + [False] * 14)
    stats.update("r", True)
    assert (stats.sample_count("p"), stats.num_correct("p")) == (16, 8)
    assert stats.priority("p") == -1.0  # stale until the epoch ends
    assert stats.allocate(["p", "q", "new"], 48, n_min=8, n_max=24, initial_budget=4) == [16, 16, 16]
    stats.end_epoch()
    assert stats.priority("p") == pytest.approx(rollout_priority(8, 16))
    assert stats.priority("r") == -1.0  # one sample: still unknown
    counts = stats.allocate(["p", "q", "new"], 48, n_min=8, n_max=24, initial_budget=4)
    assert sum(counts) == 48 and counts[0] > counts[1]

    restored = PromptStats()
    restored.load_state_dict(stats.state_dict())
    assert restored.state_dict() == stats.state_dict()
    assert restored.allocate(["p", "q", "new"], 48, n_min=8, n_max=24, initial_budget=4) == counts


def test_seeded_priorities_make_the_first_epoch_non_uniform():
    stats = PromptStats()
    stats.set_priority("easy", 0.01)
    stats.set_priority("hard", 0.25)
    assert stats.allocate(["easy", "hard"], 32, n_min=4, n_max=28, initial_budget=4) == [5, 27]


def test_optimal_counts_minimise_the_objective_among_every_split_of_the_budget():
    from itertools import product

    from grpokit.core.allocation import bernoulli_variance, optimal_counts

    success = [0.5, 0.1, 1.0, 0.0, 0.3]
    best = optimal_counts(success, 20, n_min=2, n_max=8)
    assert sum(best) == 20 and all(2 <= n <= 8 for n in best)
    every = [c for c in product(range(2, 9), repeat=5) if sum(c) == 20]
    assert bernoulli_variance(success, best) == pytest.approx(min(bernoulli_variance(success, c) for c in every))
    assert best[2] == best[3] == 2  # mastered and never-solved prompts get the floor
    assert bernoulli_variance([0.5, 0.5], [4, 0]) == pytest.approx(0.0625)  # a prompt with no rollouts adds nothing
