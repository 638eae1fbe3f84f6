"""ALFWorld's trivial baseline: a random walk that acts on the goal whenever the engine offers the command.

It shows how much of a slice needs no policy at all. Each turn it takes the first of these that is admissible:

1. the task's change of state on the held target (``clean/heat/cool X N with R``), once;
2. ``use`` a lamp while holding the target (``look_at_obj_in_light``);
3. ``move`` the held target (changed, when the task asks for it) to a receptacle of the destination type;
4. ``take`` a target, unless from a receptacle of the destination type (there it is already delivered);

otherwise a uniformly random ``go to`` or ``open``. It knows the goal and the command grammar; it remembers nothing
of the room (what it holds and what it changed it reads from the observations, as ``ObservedExpert`` does).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from grpokit.envs.alfworld.observed_expert import TRANSFORMS, ObservedExpert, kind
from grpokit.envs.alfworld.tasks import TASK_TYPES

LOOK_IN_LIGHT = TASK_TYPES[1]


class GoalRandomWalk:
    """``act(observation, admissible_commands)`` → the next command; one instance plays one episode."""

    def __init__(self, goal: str, initial_observation: str, rng: random.Random) -> None:
        self.state = ObservedExpert(goal, initial_observation, prior={})  # only its reading of the texts is used
        self.rng = rng

    def act(self, observation: str, admissible_commands: Sequence[str]) -> str:
        self.state.observe(observation)
        goal, holding = self.state.goal, self.state.holding
        is_target = holding is not None and kind(holding) == goal.obj
        transform = TRANSFORMS.get(goal.task_type)
        changed = transform is None or (is_target and holding in self.state.changed[transform[0]])
        for command in admissible_commands:
            verb, _, rest = command.partition(" ")
            if is_target and transform and not changed and verb == transform[0] and rest.startswith(f"{holding} "):
                return command
            if is_target and goal.task_type == LOOK_IN_LIGHT and verb == "use":
                return command
            if is_target and changed and goal.recep and command.startswith(f"move {holding} to {goal.recep} "):
                return command
        for command in admissible_commands:
            obj, _, source = command.removeprefix("take ").partition(" from ")
            if command.startswith("take ") and kind(obj) == goal.obj and kind(source) != goal.recep:
                return command
        moves = [c for c in admissible_commands if c.startswith(("go to ", "open "))]
        return self.rng.choice(moves or list(admissible_commands))
