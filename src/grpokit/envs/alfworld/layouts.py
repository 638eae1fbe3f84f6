"""ALFRED floor plans as shipped in the ``alfworld`` wheel: receptacle instances with their poses, object types."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from grpokit.envs.alfworld import assets

ROOM_TYPES = {
    "Kitchen": range(1, 31),
    "LivingRoom": range(201, 231),
    "Bedroom": range(301, 331),
    "Bathroom": range(401, 431),
}
HELD_OUT_PER_ROOM = 6  # ALFRED's test floor plans: the first 6 of every room type (1-6, 201-206, ...)


@dataclass(frozen=True)
class Receptacle:
    """A fixed receptacle: ALFRED id (``Cabinet|+00.68|+00.50|-02.20``), type and the agent pose in front of it."""

    id: str
    type: str
    pose: tuple[int, int, int, int]


@dataclass(frozen=True)
class FloorPlan:
    number: int
    room_type: str
    receptacles: tuple[Receptacle, ...]
    object_types: frozenset[str]


def room_type(number: int) -> str:
    return next(name for name, numbers in ROOM_TYPES.items() if number in numbers)


def floor_plan_numbers(held_out: bool) -> list[int]:
    """ALFRED's train floor plans (``held_out=False``) or its held-out test floor plans."""
    return [n for numbers in ROOM_TYPES.values() for n in numbers if (n - numbers[0] < HELD_OUT_PER_ROOM) == held_out]


def _receptacle_type(alfred_id: str) -> str:
    parts = alfred_id.split("|")
    return parts[-1] if parts[-1].endswith("Basin") else parts[0]


def _grid_pose(pose: list[float]) -> tuple[int, int, int, int]:
    """ALFRED's location convention: x and z in 0.25 m grid steps, then rotation and camera horizon."""
    x, z, rotation, horizon = pose
    return round(x / 0.25), round(z / 0.25), int(rotation), int(horizon)


@cache
def load(number: int) -> FloorPlan:
    """Read ``FloorPlan{number}``'s receptacles (from ``-openable.json``) and object types (``-objects.json``)."""
    folder = assets.layouts_dir()
    poses = json.loads((folder / f"FloorPlan{number}-openable.json").read_text())
    types = json.loads((folder / f"FloorPlan{number}-objects.json").read_text())
    receptacles = tuple(Receptacle(rid, _receptacle_type(rid), _grid_pose(pose)) for rid, pose in sorted(poses.items()))
    return FloorPlan(number, room_type(number), receptacles, frozenset(types))
