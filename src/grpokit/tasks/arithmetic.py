"""Procedural integer arithmetic with difficulty knobs, optionally told as short word problems.

An expression chains ``steps`` operations on operands of exactly ``digits`` digits and is evaluated **left to
right** (each operation applies to the running value, as a word problem tells it). The expression is written with
the parentheses that make standard precedence agree, e.g. ``(37 + 45) * 3 - 12``, so either reading gives the
answer.

The split is a hash of the expression (see ``splits.split_of``), never of the seed: "train" and "test" never share
an expression, whatever the seeds, counts or wording. Ids hash the question text.
"""

from __future__ import annotations

import operator
import random
from dataclasses import dataclass
from typing import ClassVar

from grpokit.tasks.base import TASKS, Task
from grpokit.tasks.problem import Problem
from grpokit.tasks.splits import check_split, check_test_fraction, digest, draw_budget, sample_split

_APPLY = {"+": operator.add, "-": operator.sub, "*": operator.mul}
_MAX_REJECTIONS = 1000

_NAMES = ("Ava", "Ben", "Chloe", "Dev", "Emma", "Finn", "Grace", "Hugo")
_ITEMS = (
    ("apple", "apples"),
    ("coin", "coins"),
    ("marble", "marbles"),
    ("sticker", "stickers"),
    ("book", "books"),
    ("shell", "shells"),
)
_STEP_TEMPLATES = {
    "+": ("Then {name} finds {n} more.", "Then {name} is given {n} more.", "Then {name} buys {n} more."),
    "-": ("Then {name} gives away {n}.", "Then {name} loses {n}.", "Then {name} sells {n}."),
    "*": ("Then the number of {plural} {name} has is multiplied by {n}.",),
}


@TASKS.register("arithmetic")
@dataclass(frozen=True, kw_only=True)
class ArithmeticTask(Task):
    """Integer arithmetic problems.

    digits: digits of every operand (1 allows 0-9); with min_digits, each operand's digit count is drawn uniformly
    from min_digits..digits, which mixes easy and hard problems.
    operations: the operators to draw from, a subset of "+-*".
    steps: operations chained per problem. word_problems: tell the expression as a story about a person's items.
    allow_negative: when False, every running value (so the answer) is >= 0; word problems always are.
    test_fraction: share of expressions that belong to "test". size: problems returned when ``count`` is None.
    """

    name: ClassVar[str] = "arithmetic"

    digits: int = 2
    min_digits: int | None = None
    operations: str = "+-"
    steps: int = 1
    word_problems: bool = False
    allow_negative: bool = True
    test_fraction: float = 0.2
    size: int = 1000

    def __post_init__(self) -> None:
        if self.digits < 1:
            raise ValueError(f"arithmetic: digits must be >= 1, got {self.digits}")
        if self.min_digits is not None and not 1 <= self.min_digits <= self.digits:
            raise ValueError(f"arithmetic: min_digits must be in 1..digits ({self.digits}), got {self.min_digits}")
        if self.steps < 1:
            raise ValueError(f"arithmetic: steps must be >= 1, got {self.steps}")
        unknown = sorted(set(self.operations) - set(_APPLY))
        if unknown or not self.operations:
            raise ValueError(f"arithmetic: operations must be a non-empty subset of '+-*', got {self.operations!r}")
        check_test_fraction(self.test_fraction)

    def problems(self, split: str, count: int | None = None, *, seed: int = 0) -> list[Problem]:
        """``count`` (default ``size``) distinct problems of ``split``; the same arguments give the same list, and
        a smaller count gives a prefix of it."""
        check_split(split, self.name)
        count = self.size if count is None else count
        rng = random.Random(f"arithmetic:{split}:{seed}")
        return sample_split(
            lambda _: self._draw(rng),
            split,
            count,
            self.test_fraction,
            max_draws=draw_budget(count, split, self.test_fraction),
            what=f"arithmetic(digits={self.digits}, min_digits={self.min_digits}, operations={self.operations!r}, "
            f"steps={self.steps})",
        )

    def _draw(self, rng: random.Random) -> tuple[str, Problem]:
        """One problem and its expression (the split key)."""
        operands, ops, answer = self._draw_expression(rng)
        expression = render(operands, ops)
        question = tell(operands, ops, rng) if self.word_problems else f"What is {expression}?"
        problem = Problem(
            id=f"arithmetic/{digest(question)}",
            question=question,
            answer=str(answer),
            source=self.name,
            meta={
                "expression": expression,
                "digits": self.digits,
                "min_digits": self.min_digits,
                "operations": self.operations,
                "steps": self.steps,
            },
        )
        return expression, problem

    def _draw_operand(self, rng: random.Random) -> int:
        digits = self.digits if self.min_digits is None else rng.randint(self.min_digits, self.digits)
        return rng.randrange(0 if digits == 1 else 10 ** (digits - 1), 10**digits)

    def _draw_expression(self, rng: random.Random) -> tuple[list[int], list[str], int]:
        non_negative = self.word_problems or not self.allow_negative
        for _ in range(_MAX_REJECTIONS):
            operands = [self._draw_operand(rng) for _ in range(self.steps + 1)]
            ops = [rng.choice(self.operations) for _ in range(self.steps)]
            values = running_values(operands, ops)
            if not non_negative or min(values) >= 0:
                return operands, ops, values[-1]
        raise ValueError(
            f"arithmetic: no expression with non-negative running values in {_MAX_REJECTIONS} draws "
            f"(digits={self.digits}, operations={self.operations!r}, steps={self.steps}); "
            "allow negatives or add '+' or '*' to operations"
        )


def running_values(operands: list[int], ops: list[str]) -> list[int]:
    """The value after each operation, applied left to right (the first entry is the first operand)."""
    values = [operands[0]]
    for op, operand in zip(ops, operands[1:], strict=True):
        values.append(_APPLY[op](values[-1], operand))
    return values


def render(operands: list[int], ops: list[str]) -> str:
    """The expression as text, parenthesised where "*" follows "+" or "-" so standard precedence means left to
    right: ``[1, 2, 3], ["+", "*"]`` gives ``(1 + 2) * 3``."""
    text = str(operands[0])
    pending_sum = False
    for op, operand in zip(ops, operands[1:], strict=True):
        if op == "*" and pending_sum:
            text = f"({text})"
        text = f"{text} {op} {operand}"
        pending_sum = op != "*"
    return text


def tell(operands: list[int], ops: list[str], rng: random.Random) -> str:
    """The expression as a short story about someone's items, ending with the question."""
    name = rng.choice(_NAMES)
    singular, plural = rng.choice(_ITEMS)
    start = f"{name} has {operands[0]} {singular if operands[0] == 1 else plural}."
    steps = [
        rng.choice(_STEP_TEMPLATES[op]).format(name=name, n=operand, plural=plural)
        for op, operand in zip(ops, operands[1:], strict=True)
    ]
    return " ".join([start, *steps, f"How many {plural} does {name} have now?"])
