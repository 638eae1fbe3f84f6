"""Held-out evaluation: greedy accuracy, avg@k and unbiased pass@k, with standard errors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from grpokit.rollout import SamplingParams, generate
from grpokit.tasks import Problem, Task, build_messages


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 − C(n−c,k)/C(n,k) (Chen et al., arXiv 2107.03374)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def standard_error(values: list[float]) -> float:
    """Standard error of the mean (sample std / sqrt(n)); 0 for fewer than two values."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


@dataclass
class EvalResult:
    """Per-problem greedy correctness and sampled success (kept for paired comparisons) and summary metrics."""

    correct: list[float]
    parsed_rate: float
    mean_length: float
    truncated_rate: float = 0.0
    untruncated_accuracy: float = math.nan  # accuracy on the responses that ended before the length limit
    avg_at_k: float | None = None
    pass_at_k: float | None = None
    k: int = 0
    sampled: list[float] = field(default_factory=list)  # per problem: the share of its k samples that succeed

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / max(len(self.correct), 1)

    @property
    def accuracy_se(self) -> float:
        return standard_error(self.correct)

    def record_samples(self, wins: list[int], k: int) -> None:
        """Sampled success from ``wins[i]`` successes in ``k`` samples of problem ``i``: the per-problem share, avg@k
        (its mean) and unbiased pass@k."""
        self.k = k
        self.sampled = [c / k for c in wins]
        self.avg_at_k = sum(self.sampled) / len(wins)
        self.pass_at_k = sum(pass_at_k(k, c, k) for c in wins) / len(wins)

    def metrics(self, prefix: str = "eval/") -> dict[str, float]:
        out = {
            f"{prefix}accuracy": self.accuracy,
            f"{prefix}accuracy_se": self.accuracy_se,
            f"{prefix}parsed_rate": self.parsed_rate,
            f"{prefix}response_length": self.mean_length,
            f"{prefix}truncated_rate": self.truncated_rate,
            f"{prefix}untruncated_accuracy": self.untruncated_accuracy,
        }
        if self.k:
            out[f"{prefix}avg@{self.k}"] = self.avg_at_k
            out[f"{prefix}pass@{self.k}"] = self.pass_at_k
        return out


def paired_gain(before: list[float], after: list[float]) -> tuple[float, float]:
    """Mean gain from per-problem scores ``before`` to ``after`` on the same problems, and its paired SE."""
    differences = [a - b for a, b in zip(after, before, strict=True)]
    return sum(differences) / len(differences), standard_error(differences)


def compare(before: EvalResult, after: EvalResult) -> dict[str, float]:
    """Accuracy before and after with their SEs and the paired gain on the same problems (what ``eval.json``
    records); with sampled success on both sides the same for avg@k (``avg_at_k_*``) and pass@k."""
    gain, gain_se = paired_gain(before.correct, after.correct)
    out = {
        "accuracy_before": before.accuracy,
        "accuracy_before_se": before.accuracy_se,
        "accuracy_after": after.accuracy,
        "accuracy_after_se": after.accuracy_se,
        "gain": gain,
        "gain_se": gain_se,
    }
    if before.sampled and after.sampled:
        gain, gain_se = paired_gain(before.sampled, after.sampled)
        out |= {
            "samples": after.k,
            "avg_at_k_before": before.avg_at_k,
            "avg_at_k_before_se": standard_error(before.sampled),
            "avg_at_k_after": after.avg_at_k,
            "avg_at_k_after_se": standard_error(after.sampled),
            "avg_at_k_gain": gain,
            "avg_at_k_gain_se": gain_se,
            "pass_at_k_before": before.pass_at_k,
            "pass_at_k_after": after.pass_at_k,
        }
    return out


@torch.no_grad()
def evaluate(
    model,
    tokenizer,
    task: Task,
    problems: list[Problem],
    *,
    max_new_tokens: int,
    samples: int = 0,
    temperature: float = 1.0,
    batch_size: int = 64,
    seed: int = 0,
) -> EvalResult:
    """Greedy accuracy on ``problems``; with ``samples = k > 0`` also avg@k and unbiased pass@k at ``temperature``."""
    was_training = model.training
    model.eval()
    try:
        conversations = [build_messages(p) for p in problems]
        greedy = generate(
            model, tokenizer, conversations, SamplingParams(0.0, 1.0, max_new_tokens), batch_size=batch_size
        )
        scores = [task.score(p, text) for p, text in zip(problems, greedy.texts, strict=True)]
        ended = [s.correct for s, truncated in zip(scores, greedy.truncated.tolist(), strict=True) if not truncated]
        result = EvalResult(
            correct=[float(s.correct) for s in scores],
            parsed_rate=sum(s.parsed for s in scores) / len(scores),
            mean_length=greedy.response_mask.sum().item() / len(scores),
            truncated_rate=greedy.truncated.float().mean().item(),
            untruncated_accuracy=sum(ended) / len(ended) if ended else math.nan,
        )
        if samples > 0:
            generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
            sampled = generate(
                model,
                tokenizer,
                [c for c in conversations for _ in range(samples)],
                SamplingParams(temperature, 1.0, max_new_tokens),
                generator=generator,
                batch_size=batch_size,
            )
            hits = [float(task.score(problems[i // samples], t).correct) for i, t in enumerate(sampled.texts)]
            result.record_samples(
                [int(sum(hits[i * samples : (i + 1) * samples])) for i in range(len(problems))], samples
            )
        return result
    finally:
        model.train(was_training)
