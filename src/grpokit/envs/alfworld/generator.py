"""Seeded ALFWorld games: split + seed → floor plan, task, scene → ``game.tw-pddl`` (+ ``traj_data.json``) on disk."""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

from grpokit.envs.alfworld import assets, layouts, problem, scene, tasks

SPLITS = ("train", "eval_in_distribution", "eval_out_of_distribution")
VERSION = 2  # bump when generation changes, so cached games are not reused


@dataclass(frozen=True)
class Settings:
    """What decides a game besides its seed; part of the cache key."""

    split: str
    task_types: tuple[str, ...]
    distractor_types: int
    max_receptacles: int | None = None  # room size: None keeps the floor plan's receptacles


def default_cache_dir() -> Path:
    return Path(os.environ.get("GRPOKIT_CACHE", Path.home() / ".cache" / "grpokit")) / "alfworld"


def draw(settings: Settings, seed: int, attempt: int) -> tuple[scene.Scene, str]:
    """Draw a scene and its goal text.

    Train and in-distribution eval use ALFRED's train floor plans and the combinations not held out (different
    random streams); out-of-distribution eval uses the held-out floor plans and every combination, so it alone
    meets the held-out (task type, object, receptacle/lamp) combinations.
    """
    rng = random.Random(f"alfworld:v{VERSION}:{settings.split}:{seed}:{attempt}")
    ood = settings.split == "eval_out_of_distribution"
    held_out = None if ood else False
    task_type = rng.choice(settings.task_types)
    plans = [n for n in layouts.floor_plan_numbers(ood) if tasks.candidate_tasks(task_type, layouts.load(n), held_out)]
    plan = layouts.load(rng.choice(plans))
    task = rng.choice(tasks.candidate_tasks(task_type, plan, held_out))
    if settings.max_receptacles is not None:
        plan = scene.room_slice(plan, task, settings.max_receptacles, rng)
    return scene.build(plan, task, rng, settings.distractor_types), tasks.describe(task, rng)


def game_dir(cache_dir: Path, settings: Settings, seed: int, attempt: int) -> Path:
    fields = [VERSION, settings.task_types, settings.distractor_types]
    if settings.max_receptacles is not None:  # games of full rooms keep the folders they had
        fields.append(settings.max_receptacles)
    key = json.dumps(fields).encode()
    return cache_dir / settings.split / hashlib.sha1(key).hexdigest()[:12] / f"{seed}-{attempt}"


def write(folder: Path, drawn: scene.Scene, goal_text: str, name: str) -> Path:
    """Save ``game.tw-pddl`` (domain, grammar with the goal text, problem) and ALFWorld's ``traj_data.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    game = {
        "pddl_domain": assets.domain(),
        "grammar": assets.grammar().replace("UNKNOWN GOAL", goal_text),
        "pddl_problem": problem.render(drawn, name),
        "solvable": True,
    }
    task = drawn.task
    traj = {
        "task_type": task.type,
        "pddl_params": {
            "object_target": task.obj,
            "parent_target": task.recep or "",
            "toggle_target": task.toggle or "",
            "mrecep_target": "",
            "object_sliced": False,
        },
        "scene": {"floor_plan": f"FloorPlan{drawn.plan.number}", "scene_num": drawn.plan.number},
        "goal_text": goal_text,
    }
    (folder / "traj_data.json").write_text(json.dumps(traj, indent=1))
    path = folder / "game.tw-pddl"
    save_game(path, game)
    return path


def save_game(path: Path, game: dict[str, object]) -> None:
    """Write JSON atomically: parallel workers dealt the same seed never read half a file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(game))
    tmp.replace(path)
