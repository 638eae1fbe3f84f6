"""DynaMO's variance-minimising rollout allocation (Fang et al., arXiv 2602.19208, §2 of the spec).

A prompt whose responses are all right or all wrong gives GRPO no signal; a prompt answered right about half
the time gives the most. DynaMO estimates each prompt's Bernoulli variance from its past rollouts
(``rollout_priority``) and spends a fixed rollout budget in proportion to it (``allocate_rollouts``), after
giving new prompts an exploration budget. ``PromptStats`` keeps the per-prompt counts across steps and epochs.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from grpokit.core.registry import Registry

UNKNOWN_PRIORITY = -1.0
_ELIGIBLE = 1e-8

ALLOCATION_RULES = Registry("allocation rule")
register_allocation_rule = ALLOCATION_RULES.register


def rollout_priority(
    num_correct: int, num_samples: int, *, mastery: float = 0.85, floor: float = 0.01, min_samples: int = 4
) -> float:
    """Priority ``P`` of a prompt from its history, as the official ``update_rank`` computes it.

    ``−1`` (unknown) with fewer than ``min_samples`` rollouts; ``floor`` once the accuracy ``k/G`` reaches
    ``mastery``; otherwise the unbiased Bernoulli variance ``k(G−k)/(G(G−1))`` plus a ``(1−acc)·1e-6``
    tie-breaker that favours harder prompts, at least ``floor``. Never-solved prompts get ``floor`` too, so
    they keep the minimum number of rollouts rather than being dropped.
    """
    if num_samples < 0 or not 0 <= num_correct <= max(num_samples, 0):
        raise ValueError(f"need 0 <= num_correct <= num_samples, got {num_correct} of {num_samples}")
    if num_samples < min_samples or num_samples < 2:
        return UNKNOWN_PRIORITY
    accuracy = num_correct / num_samples
    if accuracy >= mastery:
        return floor
    variance = num_correct * (num_samples - num_correct) / (num_samples * (num_samples - 1))
    return max(variance + (1.0 - accuracy) * 1e-6, floor)


def _round_robin(counts: list[int], units: int, can_take) -> int:
    """Give ``units`` one at a time to the prompts for which ``can_take(i)`` holds, cycling in index order."""
    while units > 0:
        takers = [i for i in range(len(counts)) if can_take(i)]
        if not takers:
            break
        for i in takers[:units]:
            counts[i] += 1
        units -= min(units, len(takers))
    return units


def _largest_remainder(shares: Sequence[float], units: int) -> list[int]:
    """Integer parts of ``shares`` plus one unit each to the ``units − Σfloor`` largest fractional parts."""
    whole = [math.floor(s) for s in shares]
    leftover = round(units - sum(whole))
    by_fraction = sorted(range(len(shares)), key=lambda i: -(shares[i] - whole[i]))
    for i in by_fraction[: max(leftover, 0)]:
        whole[i] += 1
    return whole


@dataclass(frozen=True)
class _Plan:
    """Counts after exploration and the floor, and what is left of the budget."""

    counts: list[int]
    remaining: int
    n_min: int
    n_max: int


def _explore_and_floor(sample_counts: Sequence[int], budget: int, n_min: int, n_max: int, initial_budget: int) -> _Plan:
    """Steps 1–3 of the official ``get_rollout_n_per_prompt``: sanitise, exploration budget, per-prompt floor.

    Deviation: the exploration budget is scaled down whenever it would leave a prompt below ``n_min``
    (the official code checks the exploration alone and can then give a seen prompt 0 rollouts).
    """
    n = len(sample_counts)
    n_min = max(0, n_min)
    n_max = max(n_min, n_max)
    initial_budget = max(n_min, initial_budget)
    budget = min(max(budget, n * n_min), n * n_max)

    explore = [min(max(0, initial_budget - g), n_max) for g in sample_counts]
    # The official code compares sum(explore) with the budget; when exploration takes the whole budget
    # that lets a seen prompt end below n_min. Counting each prompt's floor here keeps every prompt >= n_min
    # and changes nothing in any other case.
    if sum(max(e, n_min) for e in explore) <= budget:
        counts = list(explore)
    else:  # scale the exploration down, never below n_min
        scale = budget / sum(explore)
        counts = [max(math.floor(e * scale), n_min) for e in explore]
        while sum(counts) > budget:
            above = [i for i in range(n) if counts[i] > n_min]
            largest = max(above, key=lambda i: (counts[i], -i))
            counts[largest] -= 1
    remaining = budget - sum(counts)

    floored = [max(c, n_min) for c in counts]  # affordable: the exploration check above counted the floor
    remaining -= sum(floored) - sum(counts)
    return _Plan(floored, remaining, n_min, n_max)


def _finish(plan: _Plan, budget_total: int) -> list[int]:
    """Final safety pass: round-robin until the counts sum to the (sanitised) budget."""
    counts, n_min, n_max = plan.counts, plan.n_min, plan.n_max
    shortfall = budget_total - sum(counts)
    if shortfall > 0:
        _round_robin(counts, shortfall, lambda i: counts[i] < n_max)
    while sum(counts) > budget_total:
        for i in range(len(counts)):
            if sum(counts) > budget_total and counts[i] > n_min:
                counts[i] -= 1
    return counts


@register_allocation_rule("official")
def _waterfall(plan: _Plan, priorities: Sequence[float]) -> _Plan:
    """The official affine rule: repeatedly share the remainder in proportion to ``P`` among uncapped prompts.

    Once every prompt has history this is ``n_i = n_min + (B − N·n_min)·P_i/ΣP`` capped at ``n_max``, the
    overflow re-shared, integers by largest remainder. If no prompt is eligible (all priorities unknown, as
    in the first epoch) the rest goes round-robin, which gives uniform counts.
    """
    counts, remaining = list(plan.counts), plan.remaining
    while remaining > 0:
        eligible = [i for i, p in enumerate(priorities) if counts[i] < plan.n_max and p > _ELIGIBLE]
        if not eligible:
            _round_robin(counts, remaining, lambda i: counts[i] < plan.n_max)
            break
        total = sum(priorities[i] for i in eligible)
        shares = _largest_remainder([remaining * priorities[i] / total for i in eligible], remaining)
        added = 0
        for i, share in zip(eligible, shares, strict=True):
            take = min(share, plan.n_max - counts[i])
            counts[i] += take
            added += take
        remaining -= added
    return _Plan(counts, remaining, plan.n_min, plan.n_max)


@register_allocation_rule("neyman")
def _water_level(plan: _Plan, priorities: Sequence[float]) -> _Plan:
    """Neyman's water level: ``n_i = clip(λ·sqrt(P_i), lower_i, n_max)`` with ``λ`` set to spend the budget.

    This is the exact minimiser of the gradient variance ``Σ σ_i²/n_i`` under box constraints when
    ``σ_i = sqrt(P_i)`` (the standard deviation of a Bernoulli reward); ``lower_i`` is the count after
    exploration and the floor. Integers by largest remainder; prompts with unknown priority keep ``lower_i``
    unless nothing else can absorb the budget (then round-robin, as in ``official``).
    """
    counts, remaining = list(plan.counts), plan.remaining
    eligible = [i for i, p in enumerate(priorities) if counts[i] < plan.n_max and p > _ELIGIBLE]
    if remaining > 0 and eligible:
        lower = [counts[i] for i in eligible]
        scale = [math.sqrt(priorities[i]) for i in eligible]
        target = sum(lower) + remaining

        def filled(level: float) -> list[float]:
            return [min(max(level * s, lo), plan.n_max) for s, lo in zip(scale, lower, strict=True)]

        low_level, high_level = 0.0, plan.n_max / min(scale)
        if sum(filled(high_level)) <= target:
            level = high_level
        else:
            for _ in range(200):
                level = (low_level + high_level) / 2
                if sum(filled(level)) < target:
                    low_level = level
                else:
                    high_level = level
            level = high_level
        continuous = filled(level)
        units = min(target, round(sum(continuous)))
        for i, value in zip(eligible, _largest_remainder(continuous, units), strict=True):
            counts[i] = min(value, plan.n_max)
        remaining = target - sum(counts[i] for i in eligible)
    if remaining > 0:
        remaining = _round_robin(counts, remaining, lambda i: counts[i] < plan.n_max)
    return _Plan(counts, remaining, plan.n_min, plan.n_max)


def allocate_rollouts(
    sample_counts: Sequence[int],
    priorities: Sequence[float],
    budget: int,
    *,
    n_min: int,
    n_max: int,
    initial_budget: int,
    rule: str = "official",
) -> list[int]:
    """Rollouts per prompt for one step, summing to ``budget`` (clipped to ``[N·n_min, N·n_max]``).

    ``sample_counts[i]`` is how many rollouts prompt ``i`` has had so far, ``priorities[i]`` its priority from
    ``rollout_priority`` (``−1`` when unknown). First every prompt with fewer than ``initial_budget`` past
    rollouts gets the difference (exploration; scaled down if it exceeds the budget), then every prompt is
    raised to ``n_min``, then the rest of the budget is shared by ``rule``: ``"official"`` (the released
    code's proportional waterfall on ``P``) or ``"neyman"`` (water level on ``sqrt(P)``). Each count stays in
    ``[n_min, n_max]``.
    """
    if len(sample_counts) != len(priorities):
        raise ValueError(f"{len(sample_counts)} sample counts but {len(priorities)} priorities")
    if not sample_counts:
        return []
    share = ALLOCATION_RULES.get(rule)
    plan = _explore_and_floor(sample_counts, budget, n_min, n_max, initial_budget)
    n = len(sample_counts)
    budget_total = min(max(budget, n * plan.n_min), n * plan.n_max)
    if plan.remaining > 0:
        plan = share(plan, [p if p > _ELIGIBLE else 0.0 for p in priorities])
    counts = _finish(plan, budget_total)
    if sum(counts) != budget_total:  # unreachable by construction; a guard against a silent misallocation
        raise RuntimeError(f"allocation {counts} does not sum to the budget {budget_total}")
    return counts


def bernoulli_variance(success: Sequence[float], counts: Sequence[int]) -> float:
    """DynaMO's objective ``Σ p_i(1 − p_i)/n_i``: the summed variance of the prompts' success estimates."""
    return sum(p * (1 - p) / n for p, n in zip(success, counts, strict=True) if n)


def optimal_counts(success: Sequence[float], budget: int, *, n_min: int, n_max: int) -> list[int]:
    """The integer counts in ``[n_min, n_max]`` summing to ``budget`` that minimise ``bernoulli_variance`` for known
    success rates ``success`` (Neyman: ``n_i ∝ sqrt(p_i(1 − p_i))``): the reference an allocation rule is measured
    against, since a rule sees only the history, not the step's ``p``."""
    return allocate_rollouts(
        [n_max] * len(success),  # every prompt known: no exploration budget
        [p * (1 - p) for p in success],
        budget,
        n_min=n_min,
        n_max=n_max,
        initial_budget=0,
        rule="neyman",
    )


@dataclass
class _PromptRecord:
    samples: int = 0
    correct: int = 0
    priority: float = UNKNOWN_PRIORITY


class PromptStats:
    """Per-prompt rollout history for DynaMO, keyed by a stable prompt id.

    ``update`` is called with every scored response (before any reordering of the batch, which the official
    trainer gets wrong); priorities are refreshed only by ``end_epoch``, as in the paper's code, so within an
    epoch allocation uses the previous epoch's estimates.
    """

    def __init__(self, *, mastery: float = 0.85, floor: float = 0.01, min_samples: int = 4) -> None:
        self.mastery, self.floor, self.min_samples = mastery, floor, min_samples
        self._records: dict[Hashable, _PromptRecord] = {}

    def _record(self, prompt_id: Hashable) -> _PromptRecord:
        return self._records.setdefault(prompt_id, _PromptRecord())

    def update(self, prompt_id: Hashable, correct: bool) -> None:
        """Count one scored rollout of ``prompt_id``."""
        record = self._record(prompt_id)
        record.samples += 1
        record.correct += int(bool(correct))

    def update_many(self, prompt_ids: Iterable[Hashable], correct: Iterable[bool]) -> None:
        for prompt_id, is_correct in zip(prompt_ids, correct, strict=True):
            self.update(prompt_id, is_correct)

    def set_priority(self, prompt_id: Hashable, priority: float) -> None:
        """Seed a prompt's priority (the official code reads an optional ``rank`` column this way)."""
        self._record(prompt_id).priority = float(priority)

    def end_epoch(self) -> None:
        """Recompute every prompt's priority from its counts (the official ``update_rank``)."""
        for record in self._records.values():
            record.priority = rollout_priority(
                record.correct,
                record.samples,
                mastery=self.mastery,
                floor=self.floor,
                min_samples=self.min_samples,
            )

    def sample_count(self, prompt_id: Hashable) -> int:
        record = self._records.get(prompt_id)
        return 0 if record is None else record.samples

    def num_correct(self, prompt_id: Hashable) -> int:
        record = self._records.get(prompt_id)
        return 0 if record is None else record.correct

    def priority(self, prompt_id: Hashable) -> float:
        record = self._records.get(prompt_id)
        return UNKNOWN_PRIORITY if record is None else record.priority

    def allocate(
        self,
        prompt_ids: Sequence[Hashable],
        budget: int,
        *,
        n_min: int,
        n_max: int,
        initial_budget: int,
        rule: str = "official",
    ) -> list[int]:
        """``allocate_rollouts`` for ``prompt_ids`` from their recorded counts and priorities."""
        return allocate_rollouts(
            [self.sample_count(p) for p in prompt_ids],
            [self.priority(p) for p in prompt_ids],
            budget,
            n_min=n_min,
            n_max=n_max,
            initial_budget=initial_budget,
            rule=rule,
        )

    def __len__(self) -> int:
        return len(self._records)

    def state_dict(self) -> dict[str, Any]:
        """Plain-Python state for checkpoints: settings and ``[prompt_id, samples, correct, priority]`` rows."""
        return {
            "mastery": self.mastery,
            "floor": self.floor,
            "min_samples": self.min_samples,
            "records": [[pid, r.samples, r.correct, r.priority] for pid, r in self._records.items()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mastery, self.floor, self.min_samples = state["mastery"], state["floor"], state["min_samples"]
        self._records = {
            pid: _PromptRecord(int(samples), int(correct), float(priority))
            for pid, samples, correct, priority in state["records"]
        }
