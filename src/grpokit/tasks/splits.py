"""Splits, ids and counts: how tasks pick reproducible, disjoint subsets of their problems."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Sequence

from grpokit.tasks.problem import Problem

SPLITS = ("train", "test")


def digest(text: str) -> str:
    """A short stable hex digest of ``text`` (sha256, independent of ``PYTHONHASHSEED``)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_of(key: str, test_fraction: float) -> str:
    """The split of ``key``: "test" for a fixed ``test_fraction`` share of keys (by hash), else "train". It depends
    on nothing else, so splits drawn with any seed or count never share a key."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:15], 16) / 16**15
    return "test" if bucket < test_fraction else "train"


def check_split(split: str, task: str, splits: Sequence[str] = SPLITS) -> None:
    """Raise ``ValueError`` when ``split`` is not one of ``splits``."""
    if split not in splits:
        raise ValueError(f"task {task!r} has no split {split!r}; it has: {', '.join(splits)}")


def check_test_fraction(test_fraction: float) -> None:
    """Raise ``ValueError`` unless 0 < ``test_fraction`` < 1."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")


def draw_budget(count: int, split: str, test_fraction: float) -> int:
    """Draws that find ``count`` problems of ``split`` with room to spare: three times the expected number, + 100."""
    share = test_fraction if split == "test" else 1 - test_fraction
    return math.ceil(3 * count / share) + 100


def sample_split(
    draw: Callable[[int], tuple[str, Problem]],
    split: str,
    count: int,
    test_fraction: float,
    *,
    max_draws: int,
    what: str,
) -> list[Problem]:
    """The first ``count`` distinct problems of ``split`` among ``draw(0), draw(1), ..., draw(max_draws - 1)``.

    ``draw(i)`` returns a problem and the key that decides its split (see ``split_of``); problems whose id was
    already taken are skipped. Running out of draws is a ``ValueError``: the knobs allow too few distinct problems.
    """
    if count < 0:
        raise ValueError(f"{what}: count must be >= 0, got {count}")
    chosen: list[Problem] = []
    seen: set[str] = set()
    for index in range(max_draws):
        if len(chosen) == count:
            break
        key, problem = draw(index)
        if split_of(key, test_fraction) == split and problem.id not in seen:
            seen.add(problem.id)
            chosen.append(problem)
    if len(chosen) < count:
        raise ValueError(
            f"{what}: found only {len(chosen)} distinct {split!r} problems in {max_draws} draws, {count} requested; "
            "ask for fewer or widen the difficulty knobs"
        )
    return chosen


def take(problems: Sequence[Problem], count: int | None, seed: int, what: str) -> list[Problem]:
    """All ``problems`` in order when ``count`` is None, else the first ``count`` after a shuffle seeded by
    ``seed``; ``what`` names the collection in the error for a count it cannot meet."""
    if count is None:
        return list(problems)
    if not 0 <= count <= len(problems):
        raise ValueError(f"{what} has {len(problems)} problems; cannot take count={count}")
    shuffled = list(problems)
    random.Random(seed).shuffle(shuffled)
    return shuffled[:count]
