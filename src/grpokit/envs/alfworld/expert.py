"""Make the planner's plan read naturally: go to the receptacle that the next command uses."""

from __future__ import annotations

import re

# Commands acting on a receptacle, which must be at the agent's location: the receptacle is the last group.
_RECEPTACLE_COMMAND = re.compile(r"^(?:open|close|take .+ from|move .+ to|(?:clean|heat|cool) .+ with) (.+)$")


def tidy(plan: list[str]) -> list[str]:
    """Replace ``go to X`` by ``go to Y`` when the next command acts on receptacle Y.

    The planner may name any receptacle at the destination ("go to cabinet 4", then "open cabinet 3" when both share
    a spot); Y is at that same spot (the next command requires it), so the rewrite reaches the same state.
    """
    tidied = list(plan)
    for i in range(len(plan) - 1):
        match = _RECEPTACLE_COMMAND.match(plan[i + 1])
        if plan[i].startswith("go to ") and match:
            tidied[i] = f"go to {match.group(1)}"
    return tidied
