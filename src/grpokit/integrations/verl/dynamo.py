"""DynaMO's hooks in verl's v1 trainer, as plain functions on verl's batch types (no Ray, no TransferQueue).

The ``dynamo`` trainer (``grpokit.integrations.verl.trainer``) calls them at four points of a step:

1. ``allocate`` / ``assign_rollout_counts`` before the prompts go to the agent loops: each prompt's rollout count
   from ``grpokit.core.PromptStats`` under the budget ``rollout.n × prompts``, written as verl's per-prompt
   ``__rollout_n__``. verl's agent-loop worker then starts that many sessions of the prompt, each carrying the
   prompt's own fields (uid, index, ground truth), so a prompt's responses are scored against its own answer and
   grouped with each other: the official trainer's metadata misalignment (spec "Defect A") cannot occur.
2. ``record_outcomes`` after scoring: one count per response, prompt id and correctness read from the same row, in
   whatever order verl's batch balancing left the rows, padding rows skipped (the official trainer's statistics
   misalignment, "Defect B", cannot occur either).
3. ``modulate`` after the advantages: DynaMO's token modulation (``grpokit.core.dynamo_modulate``) with the entropy
   and log-probabilities of verl's old-log-prob pass.
4. ``save_prompt_stats`` / ``load_prompt_stats`` next to verl's checkpoint files.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tensordict import NonTensorData, NonTensorStack, TensorDict
from torch import Tensor
from verl.protocol import DataProto

from grpokit.core.allocation import UNKNOWN_PRIORITY, PromptStats
from grpokit.core.modulation import dynamo_modulate
from grpokit.integrations.verl.settings import DynamoSettings

log = logging.getLogger("grpokit.integrations.verl")

ROLLOUT_N = "__rollout_n__"
STATS_FILE = "grpokit_dynamo_prompt_stats.json"


def prompt_key(value: Any) -> Hashable:
    """A JSON-stable prompt id: numpy scalars become Python ones; ints and strings are kept, anything else is str."""
    value = getattr(value, "data", value)
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, int | str) else str(value)


def column(values: Any, size: int) -> list[Any]:
    """A per-row column of a TensorDict / DataProto (tensor, NonTensorStack, NonTensorData, array) as a list."""
    if isinstance(values, NonTensorData):
        return [values.data] * size
    if isinstance(values, NonTensorStack | Tensor | np.ndarray):
        values = values.tolist()
    values = [getattr(v, "data", v) for v in values]
    if len(values) != size:
        raise ValueError(f"column has {len(values)} rows, expected {size}")
    return values


def prompt_ids(batch: TensorDict) -> list[Hashable]:
    """The prompt id of each row of a prompt batch: verl's ``index`` (the dataset's ``extra_info.index``).

    One prompt may fill two rows: with ``algorithm.filter_groups`` or ``sync_refill_failed_groups`` verl draws one
    prompt at a time and restarts its dataloader inside a batch at an epoch's end. Each row is then its own GRPO
    group (its own uid) and gets its own count, and the responses of both count for the one prompt (spec §2.2:
    every response of a prompt updates its G and k). A row whose ``extra_info`` has no ``index`` is refused: verl
    gives it 0, which would merge the statistics of every such prompt.
    """
    keys = batch.keys()
    if "index" not in keys:
        raise ValueError("DynaMO keys its prompt statistics by the dataset's extra_info.index, which this batch lacks")
    size = batch.batch_size[0]
    if "extra_info" in keys:
        infos = column(batch["extra_info"], size)
        unindexed = [row for row, info in enumerate(infos) if not (isinstance(info, dict) and "index" in info)]
        if unindexed:
            raise ValueError(
                f"rows {unindexed[:5]} of the prompt batch have no extra_info.index: DynaMO keys its statistics by it "
                "(verl would use 0 for all of them), so every dataset row needs its own"
            )
    return [prompt_key(v) for v in column(batch["index"], size)]


def allocate(stats: PromptStats, ids: Sequence[Hashable], settings: DynamoSettings, rollout_n: int) -> list[int]:
    """Rollouts per prompt, summing to ``rollout_n × len(ids)`` (``grpokit.core.allocate_rollouts``)."""
    return stats.allocate(
        ids,
        rollout_n * len(ids),
        n_min=settings.n_min,
        n_max=settings.n_max,
        initial_budget=settings.initial_budget,
        rule=settings.rule,
    )


def assign_rollout_counts(batch: TensorDict, counts: Sequence[int]) -> None:
    """Write each prompt's count as verl's ``__rollout_n__`` (read by the v1 agent-loop worker, one per prompt)."""
    if len(counts) != batch.batch_size[0]:
        raise ValueError(f"{len(counts)} counts for {batch.batch_size[0]} prompts")
    batch[ROLLOUT_N] = NonTensorStack.from_list([NonTensorData(int(c)) for c in counts])


def allocation_metrics(priorities: Sequence[float], counts: Sequence[int]) -> dict[str, float]:
    """Counts, the share of prompts with a known priority, and the variance proxy ``Σ P/n`` relative to uniform."""
    metrics = {
        "dynamo/rollouts_min": float(min(counts)),
        "dynamo/rollouts_max": float(max(counts)),
        "dynamo/rollouts_mean": float(sum(counts) / len(counts)),
    }
    known = [(p, n) for p, n in zip(priorities, counts, strict=True) if p != UNKNOWN_PRIORITY]
    metrics["dynamo/known_prompt_frac"] = len(known) / len(counts)
    if known:
        mean_n = sum(counts) / len(counts)
        uniform = sum(p / mean_n for p, _ in known)
        metrics["dynamo/variance_proxy_vs_uniform"] = sum(p / n for p, n in known) / uniform if uniform else 1.0
    return metrics


@dataclass
class AllocationLog:
    """The priorities and counts of every prompt allocated during one training step: the step's batch and each
    refill (verl draws replacements for the groups it evicts under ``algorithm.filter_groups`` or
    ``trainer.v1.sampler.sync_refill_failed_groups``)."""

    priorities: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    def add(self, priorities: Sequence[float], counts: Sequence[int]) -> None:
        self.priorities.extend(priorities)
        self.counts.extend(counts)

    def metrics(self) -> dict[str, float]:
        """``allocation_metrics`` over all of them (empty when nothing was allocated)."""
        return allocation_metrics(self.priorities, self.counts) if self.counts else {}


def _final_rows(keys: Sequence[Any], padding: Sequence[bool]) -> list[int]:
    """One row per agent-loop session (its last output), padding skipped; keys are ``{uid}_{session}_{output}``."""
    final: dict[str, tuple[int, int]] = {}
    for row, (key, pad) in enumerate(zip(keys, padding, strict=True)):
        if pad:
            continue
        parts = str(key).rsplit("_", 2)
        session, output = (f"{parts[0]}_{parts[1]}", int(parts[2])) if len(parts) == 3 else (str(key), 0)
        if session not in final or output > final[session][0]:
            final[session] = (output, row)
    return sorted(row for _, row in final.values())


def is_correct(score: float, extra: Any) -> bool:
    """Correct when the reward's ``acc`` is positive (else when the score is): verl's math scorers report ``acc`` as a
    bool, while its naive and DAPO managers copy a bare float score into ``acc`` (-1 for a wrong DAPO answer)."""
    extra = getattr(extra, "data", extra)
    info = extra.get("reward_extra_info") if isinstance(extra, dict) else None
    if isinstance(info, dict) and info.get("acc") is not None:
        return float(info["acc"]) > 0
    return score > 0


def record_outcomes(stats: PromptStats, data: DataProto) -> int:
    """Count every scored response of ``data`` for its prompt; return how many were counted.

    ``data`` holds ``rm_scores`` (a padded tensor) and the non-tensor columns ``index``, ``key``, ``is_padding`` and
    ``extra_fields``, in any row order. The score is the sum of ``rm_scores`` over the whole response, where verl
    puts the reward on the last token: not under ``response_mask``, which verl's rollout correction narrows to the
    tokens it keeps (a rejected last token would turn a correct answer into a wrong one).
    """
    size = len(data)
    keys = column(data.non_tensor_batch["key"], size)
    padding = [bool(p) for p in column(data.non_tensor_batch["is_padding"], size)]
    index = column(data.non_tensor_batch["index"], size)
    extras = column(data.non_tensor_batch["extra_fields"], size)
    scores = data.batch["rm_scores"].to(torch.float32).sum(-1).tolist()
    rows = _final_rows(keys, padding)
    for row in rows:
        stats.update(prompt_key(index[row]), is_correct(scores[row], extras[row]))
    return len(rows)


def modulate(
    data: DataProto, settings: DynamoSettings, *, eps_low: float, eps_high: float
) -> tuple[Tensor, dict[str, float]]:
    """DynaMO-modulated advantages of ``data`` and two metrics.

    ``data`` holds padded ``advantages``, ``old_log_probs``, ``entropy`` and ``response_mask``, and ``is_padding``.
    The current policy is the old one here (``log π_θ = log π_old``, so ``r = 1`` and every token with ``A ≠ 0``
    counts as unclipped): verl's old-log-prob pass already holds the entropy and log-probabilities DynaMO needs,
    and on the first update of a step they are exactly those of the official code's actor forward. Rows are
    normalised ``settings.modulation_rows`` at a time (0: all together); padding rows are left unchanged.
    """
    advantages = data.batch["advantages"]
    log_prob = data.batch["old_log_probs"]
    entropy = data.batch["entropy"]
    mask = data.batch["response_mask"].bool()
    padding = [bool(p) for p in column(data.non_tensor_batch["is_padding"], len(data))]
    rows = [i for i, pad in enumerate(padding) if not pad]
    size = settings.modulation_rows or max(len(rows), 1)
    result = advantages.clone()
    for start in range(0, len(rows), size):
        chunk = torch.tensor(rows[start : start + size], device=advantages.device)
        result[chunk] = dynamo_modulate(
            advantages[chunk],
            log_prob[chunk],
            log_prob[chunk],
            entropy[chunk],
            mask[chunk],
            eps_low=eps_low,
            eps_high=eps_high,
            lambda_min=settings.lambda_min,
            mu_max=settings.mu_max,
            gamma=settings.gamma,
            tau=settings.tau,
        )
    keep = mask & ~torch.tensor(padding, dtype=torch.bool, device=mask.device).unsqueeze(-1)
    nonzero = keep & (advantages != 0)
    factor = torch.where(nonzero, result / torch.where(nonzero, advantages, 1.0), 1.0)
    positive = nonzero & (advantages > 0)
    metrics = {
        "dynamo/damped_token_frac": float((factor[nonzero] < 0.99).float().mean()) if nonzero.any() else 0.0,
        "dynamo/positive_factor_mean": float(factor[positive].mean()) if positive.any() else 1.0,
    }
    return result, metrics


def save_prompt_stats(stats: PromptStats, folder: str) -> str:
    """Write ``stats`` into checkpoint ``folder`` atomically; return the file's path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, STATS_FILE)
    partial = f"{path}.partial"
    with open(partial, "w") as handle:
        json.dump(stats.state_dict(), handle)
    os.replace(partial, path)
    return path


def load_prompt_stats(stats: PromptStats, folder: str) -> bool:
    """Restore ``stats`` from checkpoint ``folder``; False (and a warning) when the folder has none."""
    path = os.path.join(folder, STATS_FILE)
    if not os.path.exists(path):
        log.warning("no DynaMO prompt statistics in %s: allocation starts again from exploration", folder)
        return False
    with open(path) as handle:
        stats.load_state_dict(json.load(handle))
    return True


def checkpoint_folder(default_local_dir: str, global_steps: int) -> str:
    """verl's checkpoint folder of step ``global_steps`` (``<default_local_dir>/global_step_<n>``), absolute."""
    return os.path.abspath(os.path.join(str(default_local_dir), f"global_step_{global_steps}"))


def resume_folder(trainer_config: Any, global_steps: int) -> str:
    """The folder verl's ``_load_checkpoint`` resumed from: ``trainer.resume_from_path`` or auto's latest step."""
    if trainer_config.get("resume_mode", "auto") == "resume_path":
        return os.path.abspath(str(trainer_config.get("resume_from_path")))
    return checkpoint_folder(trainer_config.get("default_local_dir"), global_steps)
