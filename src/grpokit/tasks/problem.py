"""The two records every task speaks: a problem to pose and the score of one response to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One verifiable problem.

    ``id`` is stable across runs and unique within a task, so it can key per-prompt statistics across epochs.
    ``question`` is the bare problem text (no chat template, no answer-format instruction); ``answer`` is the
    reference answer as a string ("42", "\\frac{1}{2}"); ``meta`` holds free-form extras and takes no part in
    hashing.
    """

    id: str
    question: str
    answer: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Score:
    """The verdict on one response: ``parsed`` is False when no answer could be extracted from it."""

    reward: float
    correct: bool
    parsed: bool
    extracted: str | None
