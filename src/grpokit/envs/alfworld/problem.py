"""Render a scene as a PDDL problem for the ALFRED domain, in the conventions of ALFWorld's own game files."""

from __future__ import annotations

from grpokit.envs.alfworld.scene import Scene
from grpokit.envs.alfworld.tasks import goal_pddl

_MANGLE = (("-", "_minus_"), ("|", "_bar_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_"))


def mangle(alfred_id: str) -> str:
    """ALFRED id → PDDL name (``Cabinet|+00.68`` → ``Cabinet_bar__plus_00_dot_68``), as ALFWorld's demangler expects."""
    for old, new in _MANGLE:
        alfred_id = alfred_id.replace(old, new)
    return alfred_id


def location(pose: tuple[int, int, int, int]) -> str:
    return mangle("loc|{}|{}|{}|{}".format(*pose))


# Type constants the domain's preconditions name; they must exist even when the room lacks them.
DOMAIN_OBJECT_TYPES = {"Knife", "ButterKnife"}
DOMAIN_RECEPTACLE_TYPES = {"SinkBasin", "Microwave", "Fridge"}


def _type_constants(scene: Scene) -> tuple[list[str], list[str]]:
    """The object and receptacle type constants of this scene and its goal (fewer constants: faster grounding)."""
    task = scene.task
    obj_types = {i.type for i in scene.items} | DOMAIN_OBJECT_TYPES | {task.obj} | ({task.toggle} - {None})
    recep_types = {r.type for r in scene.plan.receptacles} | DOMAIN_RECEPTACLE_TYPES | ({task.recep} - {None})
    return sorted(obj_types), sorted(recep_types)


def render(scene: Scene, name: str) -> str:
    """The full ``(define (problem ...))`` text: objects, initial facts and the goal from the goal library."""
    from alfworld.gen import constants

    obj_types, recep_types = _type_constants(scene)
    receptacles = scene.plan.receptacles
    locations = sorted({location(r.pose) for r in receptacles} | {location(scene.agent_pose)})
    objects = ["agent1 - agent"]
    objects += [f"{mangle(r.id)} - receptacle" for r in receptacles]
    objects += [f"{mangle(i.id)} - object" for i in scene.items]
    objects += [f"{loc} - location" for loc in locations]
    objects += [f"{t}Type - otype" for t in obj_types] + [f"{t}Type - rtype" for t in recep_types]

    init = [f"(atLocation agent1 {location(scene.agent_pose)})"]
    for r in receptacles:
        init += [
            f"(receptacleType {mangle(r.id)} {r.type}Type)",
            f"(receptacleAtLocation {mangle(r.id)} {location(r.pose)})",
        ]
        if r.type in constants.OPENABLE_CLASS_SET:
            init.append(f"(openable {mangle(r.id)})")
    present = {i.type for i in scene.items}
    for rtype in sorted({r.type for r in receptacles}):
        init += [f"(canContain {rtype}Type {o}Type)" for o in sorted(present & constants.VAL_RECEPTACLE_OBJECTS[rtype])]
    abilities = {"cleanable": "Cleanable", "heatable": "Heatable", "coolable": "Coolable", "sliceable": "Sliceable"}
    for item in scene.items:
        oid = mangle(item.id)
        init += [f"(objectType {oid} {item.type}Type)", f"(inReceptacle {oid} {mangle(item.receptacle.id)})"]
        init.append(f"(objectAtLocation {oid} {location(item.receptacle.pose)})")
        if item.type in constants.VAL_ACTION_OBJECTS["Toggleable"]:
            init.append(f"(toggleable {oid})")
        else:
            init.append(f"(pickupable {oid})")
        init += [f"({p} {oid})" for p, a in abilities.items() if item.type in constants.VAL_ACTION_OBJECTS[a]]
        if item.receptacle.type == "Fridge" and item.type in constants.VAL_ACTION_OBJECTS["Coolable"]:
            init.append(f"(isCool {oid})")  # ALFRED counts what starts in the fridge as cool
    sep = "\n        "
    return (
        f"(define (problem {name})\n    (:domain alfred)\n    (:objects{sep}{sep.join(objects)}\n    )\n"
        f"    (:init{sep}{sep.join(init)}\n    )\n{goal_pddl(scene.task)}"
    )
