"""ALFWorld through its TextWorld engine: expert solves every task type, seeds reproduce, bad actions are safe."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grpokit.envs import INFO_KEYS, make
from grpokit.envs.alfworld import MISSING, TASK_TYPES, available

# Every reset translates the PDDL problem with Fast Downward (~0.5-2.5 s on a loaded 2-core machine).
pytestmark = pytest.mark.skipif(not available(), reason=MISSING)


def env_for(cache_dir, task_type: str | None = None, split: str = "train", **kwargs):
    types = [task_type] if task_type else None
    return make("alfworld", split=split, task_types=types, cache_dir=cache_dir, distractor_types=2, **kwargs)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_expert_solves_generated_game(tmp_path, task_type):
    env = env_for(tmp_path, task_type, source="generated")
    obs, info = env.reset(seed=7)
    assert obs.startswith("-= Welcome to TextWorld, ALFRED! =-") and "Your task is to: " in obs
    rewards, done, turns = [], False, 0
    while not done:
        assert info["expert_action"] in info["admissible_actions"]
        obs, reward, done, info = env.step(info["expert_action"])
        rewards.append(reward)
        turns += 1
    assert info["won"] and turns <= env.max_turns
    assert rewards == [0.0] * (turns - 1) + [1.0]
    assert info["expert_action"] is None and info["gamefile"].endswith("game.tw-pddl")


@pytest.mark.slow
def test_reset_is_reproducible_and_splits_differ(tmp_path):
    first = env_for(tmp_path / "a", source="generated").reset(seed=11)
    again = env_for(tmp_path / "b", source="generated").reset(seed=11)
    cached = env_for(tmp_path / "a", source="generated").reset(seed=11)
    other = env_for(tmp_path / "c", split="eval_out_of_distribution", source="generated").reset(seed=11)
    assert first[0] == again[0] == cached[0] and first[1]["admissible_actions"] == again[1]["admissible_actions"]
    assert first[1]["expert_plan"] == again[1]["expert_plan"]
    assert other[0] != first[0]


def test_bad_action_is_answered_not_raised_and_info_is_complete(tmp_path):
    env = env_for(tmp_path, "pick_and_place_simple", source="generated")
    obs, info = env.reset(seed=0)
    assert set(INFO_KEYS) <= set(info) and "help" not in info["admissible_actions"]
    assert "look" in info["admissible_actions"] and info["task"] == obs.split("Your task is to: ")[1].strip()
    for action in ("dance wildly", "", "take the moon from the sky", "go to the moon"):
        obs, reward, done, info = env.step(action)
        assert (obs, reward, done, info["won"]) == ("Nothing happens.", 0.0, False, False)
        assert set(INFO_KEYS) <= set(info) and info["expert_action"] in info["admissible_actions"]


def test_expert_replans_after_a_detour_and_can_be_switched_off(tmp_path):
    env = env_for(tmp_path, "pick_clean_then_place", source="generated")
    _, info = env.reset(seed=1)
    detour = next(a for a in info["admissible_actions"] if a.startswith("go to ") and a != info["expert_action"])
    _, reward, done, info = env.step(detour)
    while not done:
        _, reward, done, info = env.step(info["expert_action"])
    assert info["won"] and reward == 1.0
    quiet = env_for(tmp_path, "pick_clean_then_place", source="generated", expert=False)
    _, info = quiet.reset(seed=1)
    assert info["expert_action"] is None and quiet.step(detour)[3]["expert_action"] is None


def test_episode_ends_after_max_turns(tmp_path):
    env = env_for(tmp_path, "pick_and_place_simple", max_turns=3, source="generated")
    env.reset(seed=0)
    dones = [env.step("look")[2] for _ in range(4)]
    assert dones == [False, False, True, True]


def test_official_games_are_played_when_alfworld_data_has_them(tmp_path, monkeypatch):
    generated = env_for(tmp_path / "gen", "pick_and_place_simple", source="generated")
    obs, info = generated.reset(seed=0)
    trial = tmp_path / "data" / "json_2.1.1" / "valid_seen" / "pick_and_place_simple-X" / "trial_1"
    shutil.copytree(Path(info["gamefile"]).parent, trial)
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path / "data"))
    official = env_for(tmp_path / "unused", split="eval_in_distribution")
    assert official.reset(seed=123)[0] == obs
    with pytest.raises(FileNotFoundError, match="no train games"):
        env_for(tmp_path / "unused").reset(seed=0)


def test_info_names_the_task_type():
    env = make("alfworld", split="train", task_types=["pick_heat_then_place_in_recep"], expert=False)
    _, info = env.reset(3)
    assert info["task_type"] == "pick_heat_then_place_in_recep"


def test_the_first_plan_is_kept_so_later_resets_need_no_planner(tmp_path, monkeypatch):
    from grpokit.envs.alfworld.engine import Engine

    planned = env_for(tmp_path, "pick_and_place_simple", source="generated").reset(seed=0)
    monkeypatch.setattr(Engine, "plan", lambda self: pytest.fail("planned again"))
    again = {
        expert: env_for(tmp_path, "pick_and_place_simple", source="generated", expert=expert).reset(seed=0)
        for expert in ("planner", "observed", "none")
    }
    assert all(obs == planned[0] for obs, _ in again.values())
    assert again["planner"][1]["expert_plan"] == planned[1]["expert_plan"] and again["none"][1]["expert_plan"] == []
