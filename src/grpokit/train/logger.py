"""Where a run's numbers go: ``metrics.jsonl`` (one JSON object per step), TensorBoard, optionally W&B.

``metrics.jsonl`` is strict JSON: a metric that is undefined at a step (a non-finite number, such as the accuracy on
the untruncated answers when every answer was cut off) is written as ``null``, and readers skip it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def truncate_log(path: Path, last_step: int) -> None:
    """Drop the lines of the JSONL log ``path`` written after ``last_step`` (a resumed run writes them again)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= last_step]
    path.write_text("".join(f"{line}\n" for line in kept))


def _defined(value: Any) -> Any:
    """``value`` with every non-finite float (an undefined metric), in lists and dicts too, replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_defined(item) for item in value]
    if isinstance(value, dict):
        return {key: _defined(item) for key, item in value.items()}
    return value


def _as_number(value: Any) -> float | None:
    """A value JSON cannot encode (a tensor, a numpy float32) as its float, or None where that is not finite."""
    return _defined(float(value))


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``run_dir``'s ``metrics.jsonl``; an undefined metric is None (NaN in files of older versions)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: is {run_dir} a grpokit run directory?")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON: {error}") from None
    return rows


class RunLogger:
    """Appends each step's metrics to ``metrics.jsonl`` and mirrors the scalars to TensorBoard and W&B."""

    def __init__(self, run_dir: Path, *, tensorboard: bool = True, wandb_project: str | None = None, config=None):
        self.path = run_dir / METRICS_FILE
        self.writer = None
        self.wandb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        if wandb_project:
            try:
                import wandb
            except ImportError:
                raise RuntimeError(
                    "wandb_project is set but wandb is not installed: pip install 'grpokit[wandb]'"
                ) from None
            self.wandb = wandb.init(project=wandb_project, dir=str(run_dir), config=config)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": step, **metrics}
        with self.path.open("a") as stream:
            stream.write(json.dumps(_defined(row), default=_as_number, allow_nan=False) + "\n")
        scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float) and math.isfinite(v)}
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, step)
            self.writer.flush()
        if self.wandb is not None:
            self.wandb.log(scalars, step=step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()
