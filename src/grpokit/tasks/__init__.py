"""Verifiable problems for RL: tasks that pose them and scoring that checks answers.

``make_task(name, **params)`` builds a registered task ("arithmetic", "mixture", "jsonl", "parquet", "reasoning_gym",
"champ"); ``task.problems(split, count, seed=...)`` gives ``Problem``s; ``build_messages`` turns one into a chat
prompt; ``task.score(problem, response)`` (or ``score_answer``) gives a ``Score``.
"""

from grpokit.tasks import arithmetic, champ, files, mixture, reasoning_gym  # noqa: F401  (register the tasks)
from grpokit.tasks.base import TASKS, Task, make_task, score_batch
from grpokit.tasks.extraction import extract_answer
from grpokit.tasks.problem import Problem, Score
from grpokit.tasks.prompts import DEFAULT_INSTRUCTION, build_messages
from grpokit.tasks.scoring import score_answer

__all__ = [
    "DEFAULT_INSTRUCTION",
    "TASKS",
    "Problem",
    "Score",
    "Task",
    "build_messages",
    "extract_answer",
    "make_task",
    "score_answer",
    "score_batch",
]
