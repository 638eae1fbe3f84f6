"""Reference policies on an agent evaluation's games: fixed by the games, the expert wins, the floor does not."""

from __future__ import annotations

from grpokit.agent import baselines
from tests.helpers import ParityRoom


def test_every_policy_is_measured_with_its_standard_error_and_the_numbers_are_fixed_by_the_games():
    seeds = list(range(40))
    first = baselines.measure(ParityRoom.name, {}, seeds, None)
    assert set(first) == {"baseline_random", "baseline_random_se", "baseline_expert", "baseline_expert_se"}
    assert first["baseline_expert"] == 1.0 and first["baseline_expert_se"] == 0.0
    # A random action is even half the time; winning needs both turns: about a quarter, never all, never none.
    assert 0.05 < first["baseline_random"] < 0.5 and first["baseline_random_se"] > 0
    assert baselines.measure(ParityRoom.name, {}, seeds, None) == first
    assert baselines.measure(ParityRoom.name, {}, seeds[:20], None) != first


def test_a_turn_limit_below_the_games_length_stops_every_policy_short_of_winning():
    assert baselines.measure(ParityRoom.name, {}, list(range(8)), 1)["baseline_expert"] == 0.0


def test_alfworld_has_the_random_walk_and_other_environments_do_not():
    assert list(baselines.policies("alfworld")) == ["random", "random_walk", "expert"]
    assert list(baselines.policies("webshop")) == ["random", "expert"]
