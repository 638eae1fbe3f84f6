"""What a person watching a run sees: a rich progress bar and a concise line per step."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


class Progress:
    def __init__(self, total: int, *, start: int = 0, quiet: bool = False, eval_label: str = "held-out accuracy"):
        self.quiet = quiet
        self.eval_label = eval_label
        self.console = Console(highlight=False, soft_wrap=True)
        self.bar = None
        if quiet:
            return
        self.bar = RichProgress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("reward {task.fields[reward]:.3f}  acc {task.fields[accuracy]:.3f}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task = self.bar.add_task("train", total=total, completed=start, reward=0.0, accuracy=0.0)
        self.bar.start()

    def print(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    @contextlib.contextmanager
    def status(self, text: str):
        self.print(f"[dim]{text} ...[/dim]")
        yield

    def advance(self, step: int, metrics: dict[str, Any]) -> None:
        if self.quiet:
            return
        self.bar.update(self.task, completed=step, reward=metrics["reward/mean"], accuracy=metrics["reward/accuracy"])
        self.print(step_line(step, metrics))

    def print_eval(self, label: str, result, problems: int) -> None:
        extra = f"  avg@{result.k} {result.avg_at_k:.3f}  pass@{result.k} {result.pass_at_k:.3f}" if result.k else ""
        self.print(
            f"[bold]{self.eval_label} {label}[/bold]: {result.accuracy:.3f} ± {result.accuracy_se:.3f} "
            f"({problems} problems, greedy; parsed {result.parsed_rate:.2f}, truncated {result.truncated_rate:.2f}, "
            f"length {result.mean_length:.1f}){extra}"
        )

    def print_summary(self, summary: dict[str, Any], run_dir: Path) -> None:
        self.print(
            f"[bold green]{self.eval_label} {summary['accuracy_before']:.3f} → {summary['accuracy_after']:.3f}: "
            f"gain {summary['gain']:+.3f} ± {summary['gain_se']:.3f} (paired SE, {summary['problems']} problems)"
            f"[/bold green]\nrun directory: {run_dir}"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def step_line(step: int, metrics: dict[str, Any]) -> str:
    """One step's line. The loss metrics exist only when some row was backpropagated: a step whose every row was
    skipped (``skip_zero_advantage_rows``) shows "-" for them rather than a made-up 0."""

    def loss_metric(key: str, spec: str) -> str:
        return format(metrics[key], spec) if key in metrics else "-"

    return (
        f"step {step:>4}  reward {metrics['reward/mean']:.3f}  acc {metrics['reward/accuracy']:.3f}  "
        f"len {metrics['response/length']:.0f}  clip {loss_metric('loss/clipfrac', '.3f')}  "
        f"kl {loss_metric('loss/ppo_kl', '+.4f')}  H {loss_metric('train/entropy', '.3f')}  "
        f"|g| {metrics['train/grad_norm']:.3f}  {metrics['time/step_s']:.1f}s"
    )
