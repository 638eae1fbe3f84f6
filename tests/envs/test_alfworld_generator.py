"""ALFWorld game generation without the text engine: seeds, splits, task sampling and the game file format."""

from __future__ import annotations

import json

import pytest

from grpokit.envs.alfworld import MISSING, TASK_TYPES, available

pytestmark = pytest.mark.skipif(not available(), reason=MISSING)

if available():
    from grpokit.envs.alfworld import generator, layouts, tasks
    from grpokit.envs.alfworld.problem import render


def settings(split: str = "train", task_types: tuple[str, ...] = TASK_TYPES) -> generator.Settings:
    return generator.Settings(split, task_types, distractor_types=3)


def problem_text(split: str, seed: int) -> str:
    drawn, goal_text = generator.draw(settings(split), seed, 0)
    return goal_text + render(drawn, "p")


def test_resolve_task_types_accepts_names_short_names_and_numbers():
    assert tasks.resolve_task_types(None) == TASK_TYPES
    assert tasks.resolve_task_types([1, "pick_heat_then_place", "look_at_obj_in_light"]) == (
        "pick_and_place_simple",
        "pick_heat_then_place_in_recep",
        "look_at_obj_in_light",
    )
    with pytest.raises(ValueError, match="pick_up_and_dance"):
        tasks.resolve_task_types(["pick_up_and_dance"])


def test_same_seed_same_game_other_seed_other_game():
    assert problem_text("train", 3) == problem_text("train", 3)
    assert problem_text("train", 3) != problem_text("train", 4)


def test_splits_differ_and_ood_uses_held_out_floor_plans():
    held_out = set(layouts.floor_plan_numbers(held_out=True))
    for seed in range(10):
        assert generator.draw(settings("train"), seed, 0)[0].plan.number not in held_out
        assert generator.draw(settings("eval_in_distribution"), seed, 0)[0].plan.number not in held_out
        assert generator.draw(settings("eval_out_of_distribution"), seed, 0)[0].plan.number in held_out
    assert all(problem_text("train", s) != problem_text("eval_in_distribution", s) for s in range(5))


def test_train_never_deals_held_out_combinations():
    for seed in range(20):
        assert not generator.draw(settings("train"), seed, 0)[0].task.held_out


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_goal_is_not_met_at_start_and_needs_its_tool(task_type):
    for seed in range(5):
        scene, goal_text = generator.draw(settings("train", (task_type,)), seed, 0)
        task = scene.task
        assert task.type == task_type and task.obj.lower() in goal_text
        targets = [item for item in scene.items if item.type == task.obj]
        assert len(targets) >= (2 if task_type == "pick_two_obj_and_place" else 1)
        assert all(item.receptacle.type not in {task.recep, tasks.TOOL.get(task_type)} for item in targets)
        if task.toggle:
            assert any(item.type == task.toggle for item in scene.items)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_a_small_room_keeps_what_its_task_needs(task_type):
    for seed in range(8):
        full, _ = generator.draw(settings("train", (task_type,)), seed, 0)
        small_settings = generator.Settings("train", (task_type,), distractor_types=3, max_receptacles=4)
        small, _ = generator.draw(small_settings, seed, 0)
        task = small.task
        assert task == full.task  # the room is cut after the task is drawn: same plan, same task
        assert set(small.plan.receptacles) <= set(full.plan.receptacles)
        assert len(small.plan.receptacles) == min(4, len(full.plan.receptacles))
        types = {r.type for r in small.plan.receptacles}
        assert {task.recep, tasks.TOOL.get(task_type)} - {None} <= types
        targets = [item for item in small.items if item.type == task.obj]
        assert targets and all(item.receptacle in small.plan.receptacles for item in small.items)
        assert all(item.receptacle.type not in {task.recep, tasks.TOOL.get(task_type)} for item in targets)
        if task.toggle:
            assert any(item.type == task.toggle for item in small.items)


def test_room_size_is_part_of_the_cache_key(tmp_path):
    full = generator.Settings("train", TASK_TYPES, distractor_types=3)
    small = generator.Settings("train", TASK_TYPES, distractor_types=3, max_receptacles=4)
    assert generator.game_dir(tmp_path, full, 1, 0) != generator.game_dir(tmp_path, small, 1, 0)


def test_written_game_file_has_alfworld_format(tmp_path):
    drawn, goal_text = generator.draw(settings(), 0, 0)
    path = generator.write(tmp_path, drawn, goal_text, "p0")
    game = json.loads(path.read_text())
    assert set(game) == {"pddl_domain", "grammar", "pddl_problem", "solvable"} and game["solvable"]
    assert f"Your task is to: {goal_text}." in game["grammar"] and "UNKNOWN GOAL" not in game["grammar"]
    assert "(objectType" in game["pddl_problem"] and "(:goal" in game["pddl_problem"]
    traj = json.loads((tmp_path / "traj_data.json").read_text())
    assert traj["task_type"] == drawn.task.type and traj["pddl_params"]["object_target"] == drawn.task.obj


def test_make_rejects_unknown_split_and_parameter():
    from grpokit.envs import make

    with pytest.raises(ValueError, match="valid_seen"):
        make("alfworld", split="valid_seen")
    with pytest.raises(TypeError, match="max_steps"):
        make("alfworld", max_steps=3)
    with pytest.raises(ValueError, match="max_receptacles must be at least 1"):
        make("alfworld", max_receptacles=0)


def test_tidy_goes_to_the_receptacle_the_next_command_uses():
    from grpokit.envs.alfworld.expert import tidy

    plan = [
        "go to cabinet 4",
        "open cabinet 3",
        "go to drawer 2",
        "move pot 2 to sinkbasin 1",
        "go to desk 1",
        "use desklamp 1",
    ]
    assert tidy(plan) == [
        "go to cabinet 3",
        "open cabinet 3",
        "go to sinkbasin 1",
        "move pot 2 to sinkbasin 1",
        "go to desk 1",
        "use desklamp 1",
    ]
