"""An ALFWorld expert that knows only what the episode's text has shown: a teacher a text policy can imitate.

The PDDL planner behind ``expert="planner"`` reads the hidden state and walks straight to the one drawer out of
twenty that holds the apple; a language model cloned from it learns to guess, and fails on new games.
``ObservedExpert`` is built from two strings (the goal text and the initial room description) and then reads one
observation at a time. It keeps what those texts said (where it is, what it holds, what it saw in which
receptacle, which receptacles are closed, what it cleaned, heated or cooled) and acts on that alone:

1. find a target: go to the receptacles in a fixed search order, opening closed ones, until one shows the object;
2. ``take X N from R``;
3. the task's change of state at the first receptacle of the tool type: ``clean``/``heat``/``cool X N with T``,
   or for ``look_at_obj_in_light`` ``use`` the lamp where it was seen (searching on if it was not);
4. go to the destination, open it if it is closed, ``move X N to R`` (twice over for ``pick_two_obj_and_place``).

Search order (the only prior knowledge, fixed per object type, never per game): first the receptacle types that
ALFRED lets hold the object (``alfworld.gen.constants.VAL_RECEPTACLE_OBJECTS``: a mug is kept on counters, in
cabinets, in the coffee machine: common sense a model can learn), open surfaces before closed ones (a look costs one
step, an open two), then the room description's order of types and ascending numbers; then every other receptacle;
the task's destination and tool types last (the object does not start there). A lamp is searched on the surfaces
lamps stand on (``tasks.LAMP_HOSTS``). Within a search the next receptacle is the first not yet seen, so while
searching it is the one after the current one: a policy that sees only its last step can still follow it.

The admissible commands serve only to keep to them: a receptacle at the agent's own spot is opened (or examined)
without a "go to", which the engine does not offer there, and when a remembered fact no longer holds the expert
says "look". The policy sees the same list.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from grpokit.envs.alfworld.tasks import ABILITY, LAMP_HOSTS, TASK_TYPES, TOOL

# Goal-library templates (``alfworld.gen.goal_library``) of the six task types, most specific first.
_GOALS = (
    (TASK_TYPES[2], r"put an? clean (?P<obj>\w+) (?:in|on) (?P<recep>\w+)"),
    (TASK_TYPES[2], r"clean (?:some|an?) (?P<obj>\w+) and put it (?:in|on) (?P<recep>\w+)"),
    (TASK_TYPES[3], r"put an? hot (?P<obj>\w+) (?:in|on) (?P<recep>\w+)"),
    (TASK_TYPES[3], r"heat (?:some|an?) (?P<obj>\w+) and put it (?:in|on) (?P<recep>\w+)"),
    (TASK_TYPES[4], r"put an? (?:cool|cold) (?P<obj>\w+) (?:in|on) (?P<recep>\w+)"),
    (TASK_TYPES[4], r"cool (?:some|an?) (?P<obj>\w+) and put it (?:in|on) (?P<recep>\w+)"),
    (TASK_TYPES[5], r"put two (?P<obj>\w+) (?:in|on) (?P<recep>\w+)"),
    (TASK_TYPES[5], r"find two (?P<obj>\w+) and put them (?:in|on) (?P<recep>\w+)"),
    (TASK_TYPES[1], r"look at (?P<obj>\w+) under the (?P<toggle>\w+)"),
    (TASK_TYPES[1], r"examine the (?P<obj>\w+) with the (?P<toggle>\w+)"),
    (TASK_TYPES[0], r"put (?:some|an?) (?P<obj>\w+) (?:in|on) (?P<recep>\w+)"),
)
# The state change of a task type: (command verb, receptacle type that does it), as the text names them
# ("Cleanable", "SinkBasin" -> "clean", "sinkbasin").
TRANSFORMS = {
    task_type: (ABILITY[task_type].removesuffix("able").lower(), TOOL[task_type].lower()) for task_type in TOOL
}
OPENABLE = frozenset({"fridge", "cabinet", "microwave", "drawer", "safe", "box"})  # ALFRED's OPENABLE_CLASS_LIST
LAMP_TYPES = frozenset(t.lower() for t in LAMP_HOSTS)  # where a lamp is searched

_NAME = r"[a-z]+ \d+"  # an entity as the text names it: "cabinet 3", "mug 2"
_ROOM = re.compile(r"Looking quickly around you, you see (.*?)\.(?:\n|$)")
_CONTENTS = re.compile(rf"(?:On the ({_NAME}), you see|The ({_NAME}) is open\. In it, you see) (.*?)\.")
_CLOSED = re.compile(rf"The ({_NAME}) is closed\.")
_ARRIVE = re.compile(rf"You arrive at ({_NAME})\.")
_FACING = re.compile(rf"You are facing the ({_NAME})")
_OPEN = re.compile(rf"You open the ({_NAME})\.")
_CLOSE = re.compile(rf"You close the ({_NAME})\.")
_TAKE = re.compile(rf"You pick up the ({_NAME}) from the ({_NAME})\.")
_MOVE = re.compile(rf"You move the ({_NAME}) to the ({_NAME})\.")
_CHANGE = re.compile(rf"You (clean|heat|cool) the ({_NAME}) using the ({_NAME})\.")
_CARRY = re.compile(r"You are carrying: (.*?)\.")


@dataclass(frozen=True)
class Goal:
    """A parsed goal: task type, object type, destination receptacle type and lamp type, lower case as in the text."""

    task_type: str
    obj: str
    recep: str | None = None
    toggle: str | None = None


def parse_goal(text: str) -> Goal:
    """The goal of ``text`` ("put a clean mug in diningtable", optionally prefixed "Your task is to: ").

    Raises ``ValueError`` for a goal outside the six supported task types (sliced and movable-receptacle goals).
    """
    goal = text.strip().lower().removeprefix("your task is to:").strip().rstrip(".")
    for task_type, pattern in _GOALS:
        match = re.fullmatch(pattern, goal)
        if match:
            parts = match.groupdict()
            return Goal(task_type, parts["obj"], parts.get("recep"), parts.get("toggle"))
    raise ValueError(f"the observed expert cannot parse the ALFWorld goal {text!r}")


def parse_receptacles(initial_observation: str) -> list[str]:
    """The receptacles the room description lists ("you see a cabinet 2, a cabinet 1, and a fridge 1"), in order."""
    match = _ROOM.search(initial_observation)
    if match is None:
        raise ValueError("the initial observation does not describe the room ('Looking quickly around you, ...')")
    return re.findall(_NAME, match.group(1))


def kind(name: str) -> str:
    """The type of an entity name: ``cabinet 3`` → ``cabinet``."""
    return name.rsplit(" ", 1)[0]


def _number(name: str) -> int:
    return int(name.rsplit(" ", 1)[1])


@cache
def alfred_prior() -> dict[str, frozenset[str]]:
    """Object type → receptacle types that can hold it (lower case), from ALFRED's table; empty without alfworld."""
    try:
        from alfworld.gen import constants
    except ImportError:
        return {}
    prior: dict[str, set[str]] = {}
    for recep, objs in constants.VAL_RECEPTACLE_OBJECTS.items():
        for obj in objs:
            prior.setdefault(obj.lower(), set()).add(recep.lower())
    return {obj: frozenset(receps) for obj, receps in prior.items()}


class ObservedExpert:
    """The next command from what the episode's text has shown; see the module docstring for the strategy.

    ``act(observation, admissible_commands)`` takes the observation that the last command produced (at the start,
    the initial observation) and returns an admissible command. It may be called after any command, the expert's
    or another one: each observation says itself what happened ("You arrive at ...", "You pick up ...").
    ``prior`` maps an object type to the receptacle types to search first (default: ALFRED's table).
    """

    def __init__(self, goal: str, initial_observation: str, prior: Mapping[str, Collection[str]] | None = None) -> None:
        self.goal = parse_goal(goal)
        self.receptacles = parse_receptacles(initial_observation)
        self.prior = alfred_prior() if prior is None else prior
        self.location: str | None = None  # the receptacle last arrived at (None: the middle of the room)
        self.holding: str | None = None
        self.contents: dict[str, list[str]] = {}  # receptacle → objects seen in it last time it was seen
        self.closed: dict[str, bool] = {}
        self.changed: dict[str, set[str]] = {"clean": set(), "heat": set(), "cool": set()}
        self.taken_from: dict[str, str] = {}  # object → the receptacle it was last taken from

    # ----------------------------------------------------------------------------------------- reading the text
    def observe(self, observation: str) -> None:
        """Update what the expert knows from one observation (reading the same one twice changes nothing)."""
        for pattern in (_ARRIVE, _FACING):
            match = pattern.search(observation)
            if match:
                self.location = match.group(1)
        for match in _CONTENTS.finditer(observation):
            recep = match.group(1) or match.group(2)
            self.contents[recep] = re.findall(_NAME, match.group(3))
            self.closed[recep] = False
        for match in _CLOSED.finditer(observation):
            self.closed[match.group(1)] = True
        for match in _OPEN.finditer(observation):
            self.closed[match.group(1)] = False
        for match in _CLOSE.finditer(observation):
            self.closed[match.group(1)] = True
        match = _TAKE.search(observation)
        if match:
            obj, recep = match.groups()
            self.holding = obj
            self.taken_from[obj] = recep
            self.contents[recep] = [o for o in self.contents.get(recep, []) if o != obj]
        match = _MOVE.search(observation)
        if match:
            obj, recep = match.groups()
            self.holding = None
            seen = self.contents.setdefault(recep, [])
            if obj not in seen:
                seen.append(obj)
        match = _CHANGE.search(observation)
        if match:
            verb, obj = match.group(1), match.group(2)
            self.changed[verb].add(obj)
            opposite = {"heat": "cool", "cool": "heat"}.get(verb)
            if opposite:  # the domain: heating makes an object not cool, cooling makes it not hot
                self.changed[opposite].discard(obj)
        match = _CARRY.search(observation)
        if match:
            self.holding = next(iter(re.findall(_NAME, match.group(1))), None)
        elif "You are not carrying anything." in observation:
            self.holding = None

    # ----------------------------------------------------------------------------------------------- deciding
    def act(self, observation: str, admissible_commands: Sequence[str]) -> str:
        """Read ``observation`` and return the next command, one of ``admissible_commands``."""
        self.observe(observation)
        admissible = set(admissible_commands)
        command = self._next(admissible)
        if command in admissible:
            return command
        # What the texts said no longer holds (another agent's detour): look around; "look" is always admissible.
        return "look" if "look" in admissible else sorted(admissible)[0]

    def _next(self, admissible: set[str]) -> str:
        goal, held = self.goal, self.holding
        if held is not None and kind(held) == goal.obj and not self._delivered(held):
            if goal.task_type in TRANSFORMS:
                verb, tool_type = TRANSFORMS[goal.task_type]
                tool = self._first_of(tool_type)
                if tool is not None and held not in self.changed[verb]:
                    return self._at(tool, f"{verb} {held} with {tool}", admissible, needs_open=False)
            if goal.task_type == TASK_TYPES[1]:
                lamp = self._seen(goal.toggle or "")
                if lamp is None:
                    return self._search(LAMP_TYPES, admissible)
                return self._at(lamp[1], f"use {lamp[0]}", admissible, needs_open=False)
            destination = self._destination()
            return self._at(destination, f"move {held} to {destination}", admissible)
        if held is not None:  # something else in hand (another agent's doing): put it back where it came from
            back = self.taken_from.get(held, self.location or "")
            return self._at(back, f"move {held} to {back}", admissible)
        target = self._seen(goal.obj)
        if target is not None:
            return self._at(target[1], f"take {target[0]} from {target[1]}", admissible)
        return self._search(frozenset(self.prior.get(goal.obj, ())), admissible)

    def _at(self, recep: str, command: str, admissible: set[str], needs_open: bool = True) -> str:
        """``command`` if the expert is at ``recep`` (and it is open when it must be), else the step towards it."""
        if recep != self.location and f"go to {recep}" in admissible:
            return f"go to {recep}"
        if needs_open and self.closed.get(recep):
            return f"open {recep}"
        return command

    def _search(self, likely: Collection[str], admissible: set[str]) -> str:
        """The next step of the search: go to (and open, or examine) the first receptacle not seen yet."""
        for recep in sorted(self.receptacles, key=lambda r: self._search_rank(r, likely)):
            if recep in self.contents:
                continue
            if recep != self.location and f"go to {recep}" in admissible:
                return f"go to {recep}"
            return (
                f"open {recep}"
                if self.closed.get(recep, True) and f"open {recep}" in admissible
                else f"examine {recep}"
            )
        return "look"  # everything seen, nothing found: the goal cannot be reached from what was observed

    def _search_rank(self, recep: str, likely: Collection[str]) -> tuple[int, bool, int, int]:
        rtype = kind(recep)
        last = rtype in (self.goal.recep, TRANSFORMS.get(self.goal.task_type, ("", ""))[1])
        tier = 2 if last else (0 if rtype in likely else 1)
        order = next(i for i, r in enumerate(self.receptacles) if kind(r) == rtype)
        return tier, rtype in OPENABLE, order, _number(recep)

    # ----------------------------------------------------------------------------------------------- memory
    def _seen(self, obj_type: str) -> tuple[str, str] | None:
        """An object of ``obj_type`` seen and still where it was, with its receptacle (here first, then in the
        room description's order); objects already delivered are left out."""
        listed = {r: i for i, r in enumerate(self.receptacles)}
        places = sorted(self.contents, key=lambda r: (r != self.location, listed.get(r, len(listed))))
        for recep in places:
            for obj in self.contents[recep]:
                if kind(obj) == obj_type and not self._delivered(obj):
                    return obj, recep
        return None

    def _delivered(self, obj: str) -> bool:
        """Whether ``obj`` already lies in a receptacle of the destination type (it counts for the goal)."""
        return self.goal.recep is not None and any(
            obj in objs and kind(recep) == self.goal.recep for recep, objs in self.contents.items()
        )

    def _first_of(self, rtype: str) -> str | None:
        candidates = [r for r in self.receptacles if kind(r) == rtype]
        return min(candidates, key=_number) if candidates else None

    def _destination(self) -> str:
        """The destination receptacle: the one of the goal's type holding most targets, else the first (open
        surfaces before closed ones, lowest number)."""
        candidates = [r for r in self.receptacles if kind(r) == self.goal.recep]
        if not candidates:
            raise ValueError(f"the room has no {self.goal.recep}")

        def score(recep: str) -> tuple[int, bool, int]:
            held = sum(kind(o) == self.goal.obj for o in self.contents.get(recep, []))
            return -held, kind(recep) in OPENABLE, _number(recep)

        return min(candidates, key=score)
