"""CHAMP competition problems (``champ-dataset`` package, MIT; optional extra "champ") as a held-out test set.

Only the 85 problems whose answer is a plain number (an integer or a fraction like ``-1/2``) are kept, so they can
be checked automatically; the rest have symbolic or prose answers. There is only a "test" split.
"""

from __future__ import annotations

import re
from functools import cache

from grpokit.tasks.base import TASKS, Task
from grpokit.tasks.problem import Problem
from grpokit.tasks.splits import take

INSTALL_HINT = "pip install 'grpokit[champ]'"
_PLAIN_NUMBER = re.compile(r"-?\d+(?:/\d+)?")


@TASKS.register("champ")
class ChampTask(Task):
    """The numeric-answer CHAMP problems, in the package's order."""

    name = "champ"

    def problems(self, split: str, count: int | None = None, *, seed: int = 0) -> list[Problem]:
        if split != "test":
            raise ValueError(f"task 'champ' is a held-out evaluation set with only a 'test' split, not {split!r}")
        return take(load_champ(), count, seed, what="champ test split")


@cache
def load_champ() -> tuple[Problem, ...]:
    """The numeric-answer problems of the dataset file shipped in ``champ_dataset`` (read once, about 1 s)."""
    try:
        import champ_dataset
    except ImportError as error:
        raise ImportError(f"the champ task needs the champ-dataset package: {INSTALL_HINT}") from error
    dataset = champ_dataset.load("v0")
    return tuple(
        Problem(
            id=f"champ/{problem.identifier}",
            question=problem.text.strip(),
            answer=problem.answer.strip(),
            source="champ",
            meta={"category": problem.category},
        )
        for problem in dataset.problems.values()
        if _PLAIN_NUMBER.fullmatch(problem.answer.strip())
    )
