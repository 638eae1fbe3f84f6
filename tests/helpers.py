"""Shared helpers for tests that train: a reward that a random tiny model can earn, and a tiny config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from grpokit.config import TrainConfig, load_config
from grpokit.tasks import TASKS, Problem, Score, Task

REPO = Path(__file__).resolve().parents[1]
PARITY = "test-parity"


@dataclass(frozen=True)
class ParityTask(Task):
    """Reward 1 when the response has an even number of characters: a random model earns it half the time."""

    name: ClassVar[str] = PARITY

    def problems(self, split: str, count: int | None = None, *, seed: int = 0) -> list[Problem]:
        offset = 0 if split == "train" else 1000
        return [Problem(f"parity/{offset + i}", f"Say {offset + i}.", "0", PARITY, {}) for i in range(count or 8)]

    def score(self, problem: Problem, response: str) -> Score:
        even = len(response) % 2 == 0
        return Score(reward=float(even), correct=even, parsed=True, extracted=response)


if PARITY not in TASKS:
    TASKS.register(PARITY)(ParityTask)


def tiny_config(run_dir: Path, *overrides: str) -> TrainConfig:
    """configs/tiny-test.yaml on the parity task, writing to ``run_dir``."""
    return load_config(
        REPO / "configs" / "tiny-test.yaml",
        [f"run_dir={run_dir}", f"task.name={PARITY}", "task.params={}", "task.train_size=8", *overrides],
    )
