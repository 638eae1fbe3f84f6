"""The goal-taking random walk (ALFWorld's trivial baseline): greedy on goal commands, random elsewhere."""

from __future__ import annotations

import random

from grpokit.envs.alfworld.random_walk import GoalRandomWalk

ROOM = (
    "You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a countertop 1, "
    "a drawer 1, and a sinkbasin 1.\n\nYour task is to: {goal}."
)
NAVIGATION = ["go to cabinet 1", "go to countertop 1", "go to drawer 1", "go to sinkbasin 1", "open drawer 1"]


def walk(goal: str, seed: int = 0) -> tuple[GoalRandomWalk, str]:
    room = ROOM.format(goal=goal)
    return GoalRandomWalk(goal, room, random.Random(seed)), room


def test_it_walks_at_random_among_go_to_and_open_when_no_goal_command_is_offered():
    chosen = set()
    for seed in range(20):
        agent, room = walk("put a mug in cabinet", seed)
        chosen.add(agent.act(room, [*NAVIGATION, "look", "inventory", "examine countertop 1"]))
    assert chosen == set(NAVIGATION)


def test_it_takes_the_target_and_puts_it_in_the_destination_when_offered():
    agent, room = walk("put a mug in cabinet")
    agent.act(room, NAVIGATION)
    arrived = "You arrive at countertop 1. On the countertop 1, you see a apple 1, and a mug 2."
    assert agent.act(arrived, [*NAVIGATION, "take apple 1 from countertop 1", "take mug 2 from countertop 1"]) == (
        "take mug 2 from countertop 1"
    )
    taken = "You pick up the mug 2 from the countertop 1."
    assert agent.act(taken, [*NAVIGATION, "move mug 2 to countertop 1"]) in NAVIGATION
    at_cabinet = "You arrive at cabinet 1. The cabinet 1 is open. In it, you see nothing."
    assert agent.act(at_cabinet, [*NAVIGATION, "move mug 2 to cabinet 1"]) == "move mug 2 to cabinet 1"


def test_it_never_takes_a_target_back_from_the_destination():
    agent, room = walk("put two mug in cabinet")
    agent.act(room, NAVIGATION)
    seen = "You arrive at cabinet 1. The cabinet 1 is open. In it, you see a mug 1."
    assert agent.act(seen, [*NAVIGATION, "take mug 1 from cabinet 1"]) in NAVIGATION


def test_a_target_that_must_change_is_changed_before_it_is_put_away():
    agent, room = walk("put a clean mug in cabinet")
    agent.act(room, NAVIGATION)
    agent.act("You pick up the mug 2 from the countertop 1.", NAVIGATION)
    at_cabinet = "You arrive at cabinet 1. The cabinet 1 is open. In it, you see nothing."
    assert agent.act(at_cabinet, [*NAVIGATION, "move mug 2 to cabinet 1"]) in NAVIGATION
    at_sink = "You arrive at sinkbasin 1. On the sinkbasin 1, you see nothing."
    offered = [*NAVIGATION, "clean mug 2 with sinkbasin 1", "move mug 2 to sinkbasin 1"]
    assert agent.act(at_sink, offered) == "clean mug 2 with sinkbasin 1"
    cleaned = "You clean the mug 2 using the sinkbasin 1."
    assert agent.act(cleaned, offered) in NAVIGATION  # cleaned once; the sink is not the destination
    assert agent.act(at_cabinet, [*NAVIGATION, "move mug 2 to cabinet 1"]) == "move mug 2 to cabinet 1"


def test_it_uses_a_lamp_only_while_holding_the_target():
    agent, room = walk("look at mug under the desklamp")
    agent.act(room, NAVIGATION)
    assert agent.act("You arrive at desk 1. On the desk 1, you see a desklamp 1.", [*NAVIGATION, "use desklamp 1"]) in (
        NAVIGATION
    )
    agent.act("You pick up the mug 2 from the countertop 1.", NAVIGATION)
    assert agent.act("You arrive at desk 1.", [*NAVIGATION, "use desklamp 1"]) == "use desklamp 1"
