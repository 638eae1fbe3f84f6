"""The six ALFWorld task types and how to draw a task (object, receptacle, lamp) that a floor plan can host."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from grpokit.envs.alfworld.layouts import FloorPlan

TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
# Short names accepted by ``make("alfworld", task_types=...)``, and ALFWorld's numbering (1-6).
ALIASES = {
    "pick_clean_then_place": TASK_TYPES[2],
    "pick_heat_then_place": TASK_TYPES[3],
    "pick_cool_then_place": TASK_TYPES[4],
    **{str(i + 1): name for i, name in enumerate(TASK_TYPES)},
}
# The receptacle type that performs a task's state change; it is never the task's destination.
TOOL = {TASK_TYPES[2]: "SinkBasin", TASK_TYPES[3]: "Microwave", TASK_TYPES[4]: "Fridge"}
ABILITY = {TASK_TYPES[2]: "Cleanable", TASK_TYPES[3]: "Heatable", TASK_TYPES[4]: "Coolable"}
LAMPS = ("DeskLamp", "FloorLamp")
LAMP_HOSTS = ("Desk", "SideTable", "Dresser", "Shelf", "CoffeeTable", "DiningTable", "TVStand")  # where a lamp stands
HELD_OUT_COMBO_PERCENT = 20  # share of (task type, object, receptacle) combinations kept for the OOD split


@dataclass(frozen=True)
class Task:
    """A goal: ALFRED task type with its object type, destination receptacle type and lamp type (or None)."""

    type: str
    obj: str
    recep: str | None = None
    toggle: str | None = None

    @property
    def held_out(self) -> bool:
        """Whether this combination belongs to the out-of-distribution split only (a fixed hash, seed-free)."""
        key = f"{self.type}:{self.obj}:{self.recep or self.toggle}".encode()
        return zlib.crc32(key) % 100 < HELD_OUT_COMBO_PERCENT


def resolve_task_types(task_types: list[str | int] | tuple[str | int, ...] | None) -> tuple[str, ...]:
    """Full task-type names from names, short names or ALFWorld numbers 1-6; ``None`` means all six."""
    if task_types is None:
        return TASK_TYPES
    names = []
    for task_type in task_types:
        name = ALIASES.get(str(task_type), str(task_type))
        if name not in TASK_TYPES:
            raise ValueError(f"unknown ALFWorld task type {task_type!r}; known: {', '.join(TASK_TYPES)}")
        names.append(name)
    return tuple(dict.fromkeys(names))


def candidate_tasks(task_type: str, plan: FloorPlan, held_out: bool | None) -> list[Task]:
    """Every task of ``task_type`` that ``plan`` can host, sorted; ``held_out`` filters combinations (None: all)."""
    from alfworld.gen import constants

    if plan.room_type not in constants.GOALS_VALID[task_type]:
        return []
    recep_types = {r.type for r in plan.receptacles}
    movable = {o for o in plan.object_types if any(o in constants.VAL_RECEPTACLE_OBJECTS[r] for r in recep_types)}
    tasks: list[Task] = []
    if task_type == "look_at_obj_in_light":
        lamps = [lamp for lamp in LAMPS if lamp in plan.object_types] if recep_types & set(LAMP_HOSTS) else []
        tasks = [Task(task_type, obj, toggle=lamp) for obj in movable for lamp in lamps]
    else:
        tool = TOOL.get(task_type)
        if tool is not None and tool not in recep_types:
            return []
        able = constants.VAL_ACTION_OBJECTS[ABILITY[task_type]] if task_type in ABILITY else movable
        for obj in movable & set(able):
            homes = {r for r in recep_types if obj in constants.VAL_RECEPTACLE_OBJECTS[r]}
            for recep in homes - {tool}:
                if homes - {recep, tool}:  # the object must start somewhere other than its destination or tool
                    tasks.append(Task(task_type, obj, recep))
    if held_out is not None:
        tasks = [t for t in tasks if t.held_out == held_out]
    return sorted(tasks, key=lambda t: (t.obj, t.recep or "", t.toggle or ""))


def describe(task: Task, rng: random.Random) -> str:
    """The goal text from ALFWorld's goal library templates, e.g. ``put a clean apple in fridge``."""
    from alfworld.gen import goal_library

    template = rng.choice(goal_library.gdict[task.type]["templates"])
    return template.format(obj=task.obj.lower(), recep=(task.recep or "").lower(), toggle=(task.toggle or "").lower())


def goal_pddl(task: Task) -> str:
    """The ``(:goal ...)`` section (plus the problem's closing parenthesis) from the goal library."""
    from alfworld.gen import goal_library

    text = goal_library.gdict[task.type]["pddl"].format(obj=task.obj, recep=task.recep or "", toggle=task.toggle or "")
    return text.replace("#", "-")
