"""Row conventions of common math datasets: where the question, answer and id live in one row.

- gsm8k: ``question``; ``answer`` is a rationale ending in ``#### 42`` (the final answer, commas dropped).
- math (MATH-500): ``problem``; ``answer``, or else the last ``\\boxed{}`` of ``solution``; id ``unique_id`` or ``id``.
- aime: ``problem`` or ``question``; ``answer`` (numbers become strings); id ``id``.
- dapo (DAPO-Math-17k): ``prompt`` is a list of chat messages whose last user message is the question, less
  DAPO's "Answer:"-line instructions around it; ``reward_model`` is ``{"ground_truth": ...}``; id
  ``extra_info.index``.
A question field may also hold chat messages (the last user message is taken); an answer may be a number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from grpokit.tasks.extraction import last_boxed

FORMATS = ("auto", "gsm8k", "math", "aime", "dapo")


class RowError(ValueError):
    """A row lacks a field or has one of the wrong shape; the loader adds the file and row."""


@dataclass(frozen=True)
class Row:
    question: str
    answer: str
    id: str | None


def _plain(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError(f"expected a string or number, got {type(value).__name__}")
    return str(value).strip()


def _after_hashes(value: Any) -> str:
    text = _plain(value)
    if "####" not in text:
        raise RowError("has no '#### <final answer>' line")
    return text.rsplit("####", 1)[1].strip().replace(",", "")


def _boxed_in(value: Any) -> str:
    boxed = last_boxed(_plain(value))
    if boxed is None:
        raise RowError("has no \\boxed{} answer")
    return boxed


def _ground_truth(value: Any) -> str:
    if isinstance(value, Mapping):
        if "ground_truth" not in value:
            raise RowError("has no 'ground_truth' key")
        value = value["ground_truth"]
    return _plain(value)


def _text(value: Any) -> str:
    """A question: a string, or chat messages whose last user message is taken."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        users = [m.get("content") for m in value if isinstance(m, Mapping) and m.get("role") == "user"]
        if users and isinstance(users[-1], str):
            return users[-1].strip()
        raise RowError("is a list but has no user message with string content")
    raise RowError(f"expected a string or chat messages, got {type(value).__name__}")


_DAPO_PREFIX = re.compile(r"^Solve the following math problem step by step\..*?\n\n", re.DOTALL)
_DAPO_SUFFIX = re.compile(r"\n\nRemember to put your answer on its own line after \"Answer:\"\.?\s*$")


def _dapo_question(value: Any) -> str:
    """DAPO's user message without its instructions to end with an "Answer:" line."""
    return _DAPO_SUFFIX.sub("", _DAPO_PREFIX.sub("", _text(value))).strip()


@dataclass(frozen=True)
class Format:
    """Candidate fields, first present wins: ``question`` names (read by ``question_text``), ``answer``
    (name, converter) pairs, ``id`` paths (dotted for nested keys)."""

    question: tuple[str, ...]
    answer: tuple[tuple[str, Callable[[Any], str]], ...]
    id: tuple[str, ...] = ()
    question_text: Callable[[Any], str] = _text

    def read(self, row: Mapping[str, Any]) -> Row:
        """The question, answer and id of ``row``; a missing or malformed field is a ``RowError`` naming it."""
        question_field = _first_present(row, self.question)
        answer_field = _first_present(row, tuple(name for name, _ in self.answer))
        convert = dict(self.answer)[answer_field]
        question = _field(row, question_field, self.question_text)
        answer = _field(row, answer_field, convert)
        if not question:
            raise RowError(f"field {question_field!r} is empty")
        if not answer:
            raise RowError(f"field {answer_field!r} gives an empty answer")
        return Row(question=question, answer=answer, id=_find_id(row, self.id))

    def with_fields(self, question_field: str | None, answer_field: str | None, id_field: str | None) -> Format:
        """This format reading explicitly named fields (the answer keeps the format's first converter)."""
        fmt = self
        if question_field is not None:
            fmt = replace(fmt, question=(question_field,))
        if answer_field is not None:
            fmt = replace(fmt, answer=((answer_field, self.answer[0][1]),))
        if id_field is not None:
            fmt = replace(fmt, id=(id_field,))
        return fmt


KNOWN: dict[str, Format] = {
    "gsm8k": Format(question=("question",), answer=(("answer", _after_hashes),), id=("id",)),
    "math": Format(question=("problem",), answer=(("answer", _plain), ("solution", _boxed_in)), id=("unique_id", "id")),
    "aime": Format(question=("problem", "question"), answer=(("answer", _plain),), id=("id",)),
    "dapo": Format(
        question=("prompt",),
        answer=(("reward_model", _ground_truth),),
        id=("extra_info.index",),
        question_text=_dapo_question,
    ),
}


def detect(row: Mapping[str, Any]) -> str | None:
    """The format whose fields ``row`` has, or None: dapo, gsm8k (an answer with "####"), math, aime."""
    if "prompt" in row and "reward_model" in row:
        return "dapo"
    if "question" in row and "####" in str(row.get("answer", "")):
        return "gsm8k"
    if "problem" in row and ("answer" in row or "solution" in row):
        return "math"
    if ("problem" in row or "question" in row) and "answer" in row:
        return "aime"
    return None


def resolve(
    fmt: str, first_row: Mapping[str, Any], question_field: str | None, answer_field: str | None, id_field: str | None
) -> tuple[str, Format]:
    """The format name and field rules for a file whose first row is ``first_row``.

    "auto" detects the format from the first row's keys; with both fields given and nothing detected, the aime
    rules (plain question and answer) apply. Explicit fields override the format's.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt == "auto":
        detected = detect(first_row)
        if detected is None and question_field is not None and answer_field is not None:
            detected = "aime"
        if detected is None:
            raise RowError(
                f"cannot detect the format from its keys {sorted(first_row)}; pass format= one of "
                f"{', '.join(FORMATS[1:])} or question_field= and answer_field="
            )
        fmt = detected
    return fmt, KNOWN[fmt].with_fields(question_field, answer_field, id_field)


def _first_present(row: Mapping[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        if name in row and row[name] is not None:
            return name
    raise RowError(f"missing field {' or '.join(repr(n) for n in names)} (row has keys: {', '.join(sorted(row))})")


def _field(row: Mapping[str, Any], name: str, convert: Callable[[Any], str]) -> str:
    try:
        return convert(row[name])
    except RowError as error:
        raise RowError(f"field {name!r}: {error}") from None


def _find_id(row: Mapping[str, Any], paths: tuple[str, ...]) -> str | None:
    for path in paths:
        value: Any = row
        for key in path.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is not None:
            return str(value)
    return None
