"""A seeded room: a floor plan's receptacles filled with objects so that one task is posed and not yet done."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from grpokit.envs.alfworld.layouts import FloorPlan, Receptacle
from grpokit.envs.alfworld.tasks import LAMP_HOSTS, TOOL, Task


@dataclass(frozen=True)
class Item:
    """An object instance: ALFRED-style id, type, and the receptacle it starts in."""

    id: str
    type: str
    receptacle: Receptacle


@dataclass(frozen=True)
class Scene:
    plan: FloorPlan
    task: Task
    items: tuple[Item, ...]
    agent_pose: tuple[int, int, int, int]


def _hosts(obj_type: str, plan: FloorPlan) -> list[Receptacle]:
    from alfworld.gen import constants

    if obj_type in ("DeskLamp", "FloorLamp"):
        return [r for r in plan.receptacles if r.type in LAMP_HOSTS]
    return [r for r in plan.receptacles if obj_type in constants.VAL_RECEPTACLE_OBJECTS[r.type]]


def room_slice(plan: FloorPlan, task: Task, size: int, rng: random.Random) -> FloorPlan:
    """``plan`` cut down to ``size`` receptacles (a smaller room; the generator's room-size knob).

    Kept first: one receptacle of the destination type, one of the task's tool (sink, microwave, fridge), one
    that may hold the target object at the start and, for ``look_at_obj_in_light``, one a lamp stands on; then
    random others up to ``size``. The room keeps the floor plan's order of receptacles.
    """
    if size >= len(plan.receptacles):
        return plan
    tool = TOOL.get(task.type)
    needed_groups = [
        [r for r in plan.receptacles if r.type == task.recep],
        [r for r in plan.receptacles if r.type == tool],
        [r for r in _hosts(task.obj, plan) if r.type not in {task.recep, tool}],
        _hosts(task.toggle, plan) if task.toggle else [],
    ]
    kept = {rng.choice(group) for group in needed_groups if group}
    others = [r for r in plan.receptacles if r not in kept]
    kept |= set(rng.sample(others, max(size - len(kept), 0)))
    return replace(plan, receptacles=tuple(r for r in plan.receptacles if r in kept))


def _count(obj_type: str, task: Task, rng: random.Random) -> int:
    if obj_type != task.obj:
        return rng.randint(1, 2)
    return rng.randint(2, 3) if task.type == "pick_two_obj_and_place" else rng.randint(1, 3)


def build(plan: FloorPlan, task: Task, rng: random.Random, distractor_types: int) -> Scene:
    """Place the task's objects and ``distractor_types`` other object types of ``plan``, 1-2 instances each
    (1-3 targets, 2-3 for two-object tasks), in random receptacles that can hold them.

    Target objects never start in a receptacle of the destination type (so the goal is not met at the start) nor
    in the task's sink/microwave/fridge (so the state change is part of every solution: ALFRED counts whatever
    starts in a fridge as cool).
    """
    needed = {task.obj} | ({task.toggle} - {None})
    others = sorted(t for t in plan.object_types - needed if _hosts(t, plan))
    types = sorted(needed | set(rng.sample(others, min(distractor_types, len(others)))))
    items: list[Item] = []
    used: set[str] = set()
    for obj_type in types:
        banned = {task.recep, TOOL.get(task.type)} if obj_type == task.obj else set()
        hosts = [r for r in _hosts(obj_type, plan) if r.type not in banned]
        for _ in range(_count(obj_type, task, rng) if hosts else 0):
            item_id = obj_type
            while item_id == obj_type or item_id in used:
                x, y, z = (rng.uniform(-3.0, 3.0) for _ in range(3))
                item_id = f"{obj_type}|{x:+06.2f}|{y:+06.2f}|{z:+06.2f}"
            used.add(item_id)
            items.append(Item(item_id, obj_type, rng.choice(hosts)))
    taken = {r.pose for r in plan.receptacles}
    pose = next(iter(taken))
    while pose in taken:
        pose = (rng.randint(-12, 12), rng.randint(-12, 12), rng.choice((0, 90, 180, 270)), 30)
    return Scene(plan, task, tuple(items), pose)
