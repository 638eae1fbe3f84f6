"""Adapter for the procedural datasets of ``reasoning-gym`` (optional extra "reasoning-gym"), scored by their own
scorers.

Splits: reasoning-gym seeds item ``i`` with ``seed + i``, so seeds 0 and 1 give nearly the same items, shifted by
one; a seed cannot separate train from test. Here the split is a hash of the question text instead (as for
"arithmetic"): "train" and "test" never share a question. ``count`` problems take about ``count / share`` items.

Scoring: the answer is the last ``\\boxed{}`` of the response, else its last non-empty line, passed to the
dataset's ``score_answer``; the reward is the scorer's (some give partial credit), ``correct`` means reward 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grpokit.tasks.base import TASKS, Task
from grpokit.tasks.extraction import last_boxed
from grpokit.tasks.problem import Problem, Score
from grpokit.tasks.splits import check_split, check_test_fraction, digest, draw_budget, sample_split

INSTALL_HINT = "pip install 'grpokit[reasoning-gym]'"


@TASKS.register("reasoning_gym")
class ReasoningGymTask(Task):
    """Problems of one reasoning-gym dataset.

    dataset: a reasoning-gym dataset name. config: that dataset's configuration fields (not ``size`` or ``seed``).
    test_fraction: share of questions that belong to "test". size: problems returned when ``count`` is None.
    """

    def __init__(
        self,
        *,
        dataset: str = "basic_arithmetic",
        config: Mapping[str, Any] | None = None,
        test_fraction: float = 0.2,
        size: int = 1000,
    ) -> None:
        check_test_fraction(test_fraction)
        self.dataset = dataset
        self.config = dict(config or {})
        reserved = sorted({"size", "seed"} & set(self.config))
        if reserved:
            raise ValueError(f"reasoning_gym: set {', '.join(reserved)} through problems(), not in config")
        self.name = f"reasoning_gym/{dataset}"
        self.test_fraction = test_fraction
        self.size = size
        self._scorer = self._create(size=1, seed=0)

    def problems(self, split: str, count: int | None = None, *, seed: int = 0) -> list[Problem]:
        check_split(split, self.name)
        count = self.size if count is None else count
        budget = draw_budget(count, split, self.test_fraction)
        source = self._create(size=budget, seed=seed)
        return sample_split(
            lambda index: self._draw(source, index),
            split,
            count,
            self.test_fraction,
            max_draws=budget,
            what=self.name,
        )

    def score(self, problem: Problem, response: str) -> Score:
        if "entry" not in problem.meta:
            raise ValueError(f"problem {problem.id!r} is not from {self.name}: its meta has no reasoning-gym entry")
        extracted = extract_final(response)
        if extracted is None:
            return Score(reward=0.0, correct=False, parsed=False, extracted=None)
        try:
            reward = float(self._scorer.score_answer(extracted, problem.meta["entry"]))
        except Exception:  # a scorer choking on odd model output is a wrong answer, not a crash
            reward = 0.0
        return Score(reward=reward, correct=reward >= 1.0, parsed=True, extracted=extracted)

    def _draw(self, source: Any, index: int) -> tuple[str, Problem]:
        entry = source[index]
        question = entry["question"]
        answer = entry["answer"]
        problem = Problem(
            id=f"{self.name}/{digest(question)}",
            question=question,
            answer="" if answer is None else str(answer),
            source=self.name,
            meta={"dataset": self.dataset, "index": index, "entry": entry},
        )
        return question, problem

    def _create(self, *, size: int, seed: int) -> Any:
        """``reasoning_gym.create_dataset`` with this task's dataset and config; errors name the dataset."""
        try:
            import reasoning_gym
            from reasoning_gym.factory import DATASETS
        except ImportError as error:
            raise ImportError(f"the reasoning_gym task needs the reasoning-gym package: {INSTALL_HINT}") from error
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown reasoning-gym dataset {self.dataset!r}; known: {', '.join(sorted(DATASETS))}")
        try:
            return reasoning_gym.create_dataset(self.dataset, size=size, seed=seed, **self.config)
        except TypeError as error:  # an unknown config field
            raise TypeError(f"reasoning-gym dataset {self.dataset!r}: {error}") from error
        except (ValueError, AssertionError) as error:  # a config value its validation rejects
            raise ValueError(f"reasoning-gym dataset {self.dataset!r} with config {self.config}: {error}") from error


def extract_final(response: str) -> str | None:
    """The last ``\\boxed{}`` content, else the last non-empty line, else None."""
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed
    lines = [line.strip() for line in response.splitlines() if line.strip()]
    return lines[-1] if lines else None
