"""Entry points above both trainers: the trainer a config asks for, a run continued from its checkpoint, and a run's
checkpoint evaluated again.

``trainer`` (single-turn) and ``agent_trainer`` (multi-turn, a subclass) do not import this module, so the choice
between them lives here rather than in a lazy import inside ``trainer``.
"""

from __future__ import annotations

from pathlib import Path

from grpokit.config import TrainConfig, UserError, load_config
from grpokit.evaluate import EvalResult
from grpokit.train.agent_trainer import EVAL_EPISODES_FILE, AgentTrainer
from grpokit.train.checkpoint import (
    checkpoint_dir,
    checkpoint_step,
    kept_checkpoints,
    latest_checkpoint,
    load_model_weights,
    load_trainer_state,
)
from grpokit.train.trainer import Trainer


def build_trainer(config: TrainConfig, run_dir: Path | None = None, *, quiet: bool = False) -> Trainer:
    """The trainer for ``config``: ``AgentTrainer`` when it names an environment, else ``Trainer``."""
    trainer_class = AgentTrainer if config.agent.env else Trainer
    return trainer_class(config, run_dir, quiet=quiet)


def _latest(run_dir: Path, purpose: str) -> Path:
    """The latest checkpoint of ``run_dir``; a ``UserError`` when there is none."""
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise UserError(f"{run_dir} has no checkpoint to {purpose} (checkpoints/latest)")
    return checkpoint


def checkpoint_of_step(run_dir: str | Path, step: int | None = None) -> Path:
    """The kept checkpoint of ``step`` (None: the latest); a ``UserError`` that lists the kept steps when there is
    none."""
    run_dir = Path(run_dir)
    if step is None:
        return _latest(run_dir, "evaluate")
    checkpoint = checkpoint_dir(run_dir, step)
    if not checkpoint.is_dir():
        kept = [checkpoint_step(p) for p in kept_checkpoints(run_dir)]
        raise UserError(
            f"{run_dir} keeps no checkpoint of step {step}; it keeps steps {kept or 'none'} (keep_checkpoints)"
        )
    return checkpoint


def resume_trainer(run_dir: str | Path, *, quiet: bool = False) -> Trainer:
    """The run in ``run_dir``, rebuilt from its saved configuration and restored from its latest checkpoint."""
    run_dir = Path(run_dir)
    checkpoint = _latest(run_dir, "resume from")
    state = load_trainer_state(checkpoint)  # first: a file that is not plain data is refused before any work
    trainer = build_trainer(load_config(run_dir / "config.yaml"), run_dir, quiet=quiet)
    trainer.restore(checkpoint, state)
    return trainer


def evaluate_run(
    run_dir: str | Path, overrides: list[str] | None = None, step: int | None = None
) -> tuple[EvalResult, Path]:
    """The latest checkpoint of ``run_dir`` (or the one of ``step``) evaluated as its run evaluates, with
    ``overrides`` of the run's saved configuration (``eval.split=...``, ``eval.problems=64``); returns the result
    and the folder ``RUN/evals/<checkpoint>-<split>`` that keeps this evaluation's configuration (and an agent's
    games)."""
    run_dir = Path(run_dir)
    checkpoint = checkpoint_of_step(run_dir, step)
    config = load_config(run_dir / "config.yaml", overrides)
    folder = run_dir / "evals" / f"{checkpoint.name}-{config.eval.split}"
    (folder / EVAL_EPISODES_FILE).unlink(missing_ok=True)  # a repeated evaluation replaces the games it logged
    trainer = build_trainer(config, folder, quiet=True)
    load_model_weights(trainer.model, checkpoint)
    trainer.step = checkpoint_step(checkpoint)  # the games it logs carry the checkpoint's step
    return trainer.run_eval(), folder
