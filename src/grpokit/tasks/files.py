"""Math problem sets from JSONL or Parquet files ("jsonl" and "parquet" tasks).

A file is one split: ``problems(split, ...)`` returns the file's rows whatever ``split`` says. The whole file is
read and checked when the task is made, so a malformed row fails early with its file, row and field.
Ids are ``<name>/<id field>`` when the format has an id field, else ``<name>/<hash of the question>``; a row that
repeats an earlier one exactly is dropped, one that reuses its id for a different problem is an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from grpokit.tasks.base import TASKS, Task
from grpokit.tasks.formats import RowError, resolve
from grpokit.tasks.problem import Problem
from grpokit.tasks.splits import digest, take


class FileTask(Task):
    """Problems read from one file; ``count`` takes the first rows after a shuffle seeded by ``seed``."""

    def __init__(self, name: str, path: Path, problems: list[Problem]) -> None:
        self.name = name
        self.path = path
        self._problems = problems

    def problems(self, split: str, count: int | None = None, *, seed: int = 0) -> list[Problem]:
        return take(self._problems, count, seed, what=str(self.path))


@TASKS.register("jsonl")
def jsonl_task(
    *,
    path: str | Path,
    format: str = "auto",
    question_field: str | None = None,
    answer_field: str | None = None,
    id_field: str | None = None,
    source: str | None = None,
) -> FileTask:
    """A task over a JSON-lines file (one object a line, blank lines skipped), named ``source`` (default: the file
    stem), which prefixes ids.

    ``format`` is one of auto, gsm8k, math, aime, dapo (see ``grpokit.tasks.formats``); explicit fields override it.
    """
    path = Path(path)
    task_name = source or path.stem
    rows = _jsonl_rows(path)
    return FileTask(task_name, path, load_rows(rows, path, task_name, format, question_field, answer_field, id_field))


@TASKS.register("parquet")
def parquet_task(
    *,
    path: str | Path,
    format: str = "auto",
    question_field: str | None = None,
    answer_field: str | None = None,
    id_field: str | None = None,
    source: str | None = None,
) -> FileTask:
    """A task over a Parquet file (needs pyarrow, the "data" extra); parameters as for ``jsonl``."""
    path = Path(path)
    task_name = source or path.stem
    rows = _parquet_rows(path)
    return FileTask(task_name, path, load_rows(rows, path, task_name, format, question_field, answer_field, id_field))


def load_rows(
    rows: Iterable[tuple[int, str, Any]],
    path: Path,
    source: str,
    fmt: str,
    question_field: str | None,
    answer_field: str | None,
    id_field: str | None,
) -> list[Problem]:
    """Problems from ``(row number, location, row)`` triples; errors are ``ValueError``s prefixed with the location."""
    problems: list[Problem] = []
    where_by_id: dict[str, tuple[str, Problem]] = {}
    rules = None
    for number, where, row in rows:
        try:
            if not isinstance(row, Mapping):
                raise RowError(f"expected an object, got {type(row).__name__}")
            if rules is None:
                fmt, rules = resolve(fmt, row, question_field, answer_field, id_field)
            read = rules.read(row)
        except RowError as error:
            raise ValueError(f"{where}: {error}") from None
        problem = Problem(
            id=f"{source}/{read.id if read.id is not None else digest(read.question)}",
            question=read.question,
            answer=read.answer,
            source=source,
            meta={"row": number, "format": fmt},
        )
        if problem.id in where_by_id:
            first_where, first = where_by_id[problem.id]
            if (first.question, first.answer) != (problem.question, problem.answer):
                raise ValueError(f"{where}: id {problem.id!r} is already used by a different problem at {first_where}")
            continue
        where_by_id[problem.id] = (where, problem)
        problems.append(problem)
    if not problems:
        raise ValueError(f"{path}: no rows")
    return problems


def _jsonl_rows(path: Path) -> Iterator[tuple[int, str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: invalid JSON: {error}") from None
            yield number, where, row


def _parquet_rows(path: Path) -> Iterator[tuple[int, str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            "reading Parquet files needs pyarrow: pip install 'grpokit[data]' (or pip install pyarrow)"
        ) from None
    for number, row in enumerate(pq.read_table(path).to_pylist(), start=1):
        yield number, f"{path}, row {number}", row
