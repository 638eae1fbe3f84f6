"""The task interface, the task registry and helpers shared by every task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from grpokit.core.registry import Registry
from grpokit.tasks.problem import Problem, Score
from grpokit.tasks.scoring import score_answer

TASKS = Registry("task")


class Task(Protocol):
    """A source of verifiable problems. Subclass it to inherit the default ``score``."""

    name: str

    def problems(self, split: str, count: int | None = None, *, seed: int = 0) -> list[Problem]:
        """``count`` problems of ``split`` (all, or the task's default number, when None), reproducible from
        ``seed``."""
        ...

    def score(self, problem: Problem, response: str) -> Score:
        """Score a response; by default math answer scoring against ``problem.answer``."""
        return score_answer(response, problem.answer)


def make_task(name: str, **params: Any) -> Task:
    """Build the task registered as ``name``; an unknown name or parameter is an error that names it."""
    return TASKS.call(name, **params)


def score_batch(task: Task, problems: Sequence[Problem], responses: Sequence[str]) -> list[Score]:
    """``task.score`` over aligned problems and responses (one problem per response)."""
    if len(problems) != len(responses):
        raise ValueError(f"score_batch got {len(problems)} problems but {len(responses)} responses")
    return [task.score(problem, response) for problem, response in zip(problems, responses, strict=True)]
