"""Problems of several tasks in fixed shares: a pool that mixes difficulties.

A pool of mastered, unsolved and in-between prompts is where DynaMO's allocation (arXiv 2602.19208) has something to
move: a uniform budget spends most rollouts on groups that are all right or all wrong. Each part is any registered
task with its own parameters; a problem keeps its part's id and scoring and records its part's ``label`` in
``meta["part"]``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from grpokit.tasks.base import TASKS, Task, make_task
from grpokit.tasks.problem import Problem, Score


@dataclass(frozen=True)
class _Part:
    label: str
    task: Task
    share: float


def _largest_remainder(shares: list[float], total: int) -> list[int]:
    """Integer counts summing to ``total`` in proportion to ``shares`` (Hamilton's method, ties to the first)."""
    exact = [total * s / sum(shares) for s in shares]
    counts = [int(e) for e in exact]
    for i in sorted(range(len(shares)), key=lambda i: counts[i] - exact[i])[: total - sum(counts)]:
        counts[i] += 1
    return counts


@TASKS.register("mixture")
@dataclass(frozen=True, kw_only=True)
class MixtureTask(Task):
    """parts: a list of ``{label, name, params, share}``: a registered task ``name`` built with ``params``, giving
    ``share`` of the problems (shares are relative). size: problems returned when ``count`` is None."""

    name: ClassVar[str] = "mixture"

    parts: list[dict[str, Any]]
    size: int = 1000
    _parts: list[_Part] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("mixture: parts must name at least one task")
        built = []
        for i, part in enumerate(self.parts):
            unknown = sorted(set(part) - {"label", "name", "params", "share"})
            if unknown or "name" not in part:
                raise ValueError(f"mixture: part {i} needs 'name' and takes label, params, share; got {sorted(part)}")
            share = part.get("share", 1.0)
            if not isinstance(share, int | float) or share <= 0:
                raise ValueError(f"mixture: part {i} share must be > 0, got {share!r}")
            label = str(part.get("label", part["name"]))
            built.append(_Part(label, make_task(part["name"], **part.get("params", {})), float(share)))
        labels = [p.label for p in built]
        if len(set(labels)) != len(labels):
            raise ValueError(f"mixture: part labels must differ, got {labels}")
        object.__setattr__(self, "_parts", built)

    def problems(self, split: str, count: int | None = None, *, seed: int = 0) -> list[Problem]:
        """Each part's own ``problems(split, n_i, seed)`` with ``n_i`` in proportion to its share, shuffled together
        from ``seed``; a problem that an earlier part already gave (the same id) is given once."""
        count = self.size if count is None else count
        counts = _largest_remainder([p.share for p in self._parts], count)
        pool: dict[str, Problem] = {}
        for part, n in zip(self._parts, counts, strict=True):
            for problem in part.task.problems(split, n, seed=seed):
                meta = {**problem.meta, "part": part.label}
                pool.setdefault(problem.id, Problem(problem.id, problem.question, problem.answer, problem.source, meta))
        problems = list(pool.values())
        random.Random(f"mixture:{split}:{seed}").shuffle(problems)
        return problems

    def score(self, problem: Problem, response: str) -> Score:
        """Scored by the part the problem came from."""
        part = next(p for p in self._parts if p.label == problem.meta["part"])
        return part.task.score(problem, response)
