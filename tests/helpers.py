"""Shared helpers for tests that train: a reward that a random tiny model can earn, and a tiny config."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from grpokit.config import TrainConfig, load_config
from grpokit.envs import ENVS
from grpokit.tasks import TASKS, Problem, Score, Task
from grpokit.train.logger import read_metrics

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


class ParityRoom:
    """A two-turn toy environment: each action of even length earns 0.5; winning needs both."""

    name = "test-parity-room"
    max_turns = 2

    def __init__(self, *, split: str = "train"):
        self.split = split

    def reset(self, seed: int):
        self.turn, self.earned, self.seed = 0, 0.0, seed
        return f"Room {seed} turn 0", self._info()

    def _info(self):
        return {
            "admissible_actions": ["aa", "b"],
            "won": self.earned >= 1.0,
            "task": "say something even",
            "expert_action": "aa",
        }

    def step(self, action: str):
        self.turn += 1
        reward = 0.5 if len(action) % 2 == 0 else 0.0
        self.earned += reward
        return f"Room {self.seed} turn {self.turn}", reward, self.turn >= 2, self._info()


if ParityRoom.name not in ENVS:
    ENVS.register(ParityRoom.name)(ParityRoom)


def tiny_agent_config(run_dir: Path, *overrides: str) -> TrainConfig:
    """configs/tiny-test.yaml playing the toy parity room."""
    return load_config(
        REPO / "configs" / "tiny-test.yaml",
        [
            f"run_dir={run_dir}",
            f"agent.env={ParityRoom.name}",
            "agent.tasks_per_step=2",
            "eval.problems=2",
            "group_size=3",
            *overrides,
        ],
    )


def load_benchmark(name: str):
    """The module ``benchmarks/<name>.py`` (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = sys.modules[name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run_metrics(run_dir: Path) -> list[dict]:
    """A run's logged metrics without the timings (which differ between otherwise equal runs)."""
    return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in read_metrics(run_dir)]
