"""Entry points above both trainers: the trainer a config asks for, and a run continued from its checkpoint.

``trainer`` (single-turn) and ``agent_trainer`` (multi-turn, a subclass) do not import this module, so the choice
between them lives here rather than in a lazy import inside ``trainer``.
"""

from __future__ import annotations

from pathlib import Path

from grpokit.config import TrainConfig, UserError, load_config
from grpokit.train.agent_trainer import AgentTrainer
from grpokit.train.checkpoint import latest_checkpoint, load_trainer_state
from grpokit.train.trainer import Trainer


def build_trainer(config: TrainConfig, run_dir: Path | None = None, *, quiet: bool = False) -> Trainer:
    """The trainer for ``config``: ``AgentTrainer`` when it names an environment, else ``Trainer``."""
    trainer_class = AgentTrainer if config.agent.env else Trainer
    return trainer_class(config, run_dir, quiet=quiet)


def resume_trainer(run_dir: str | Path, *, quiet: bool = False) -> Trainer:
    """The run in ``run_dir``, rebuilt from its saved configuration and restored from its latest checkpoint."""
    run_dir = Path(run_dir)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise UserError(f"{run_dir} has no checkpoint to resume from (checkpoints/latest)")
    state = load_trainer_state(checkpoint)  # first: a file that is not plain data is refused before any work
    trainer = build_trainer(load_config(run_dir / "config.yaml"), run_dir, quiet=quiet)
    trainer.restore(checkpoint, state)
    return trainer
