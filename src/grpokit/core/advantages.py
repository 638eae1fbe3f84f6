"""Outcome advantages: one scalar reward per response, normalised within its group of responses to one prompt.

Groups may have unequal sizes (DynaMO gives each prompt its own number of rollouts); ``group_ids`` is any
sequence of hashables (prompt ids, uids) or an integer tensor. The result has one advantage per response;
broadcast it over the response's tokens (``adv[:, None] * response_mask``) for the token-level losses.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch
from torch import Tensor

from grpokit.core.registry import Registry

ADVANTAGE_ESTIMATORS = Registry("advantage estimator")
register_advantage_estimator = ADVANTAGE_ESTIMATORS.register


def group_index(group_ids: Sequence[Hashable] | Tensor) -> tuple[Tensor, int]:
    """Map arbitrary group ids to dense integer codes ``0..G-1`` in order of first appearance."""
    ids = group_ids.tolist() if isinstance(group_ids, Tensor) else list(group_ids)
    codes: dict[Hashable, int] = {}
    index = [codes.setdefault(gid, len(codes)) for gid in ids]
    return torch.tensor(index, dtype=torch.long), len(codes)


def group_stats(values: Tensor, index: Tensor, num_groups: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row group mean, unbiased standard deviation and group size (std is 0 for a singleton)."""
    counts = torch.zeros(num_groups, dtype=values.dtype).index_add_(0, index, torch.ones_like(values))
    sums = torch.zeros(num_groups, dtype=values.dtype).index_add_(0, index, values)
    mean = (sums / counts)[index]
    squares = torch.zeros(num_groups, dtype=values.dtype).index_add_(0, index, (values - mean) ** 2)
    std = torch.sqrt(squares / (counts - 1).clamp(min=1))[index]
    return mean, std, counts[index]


def _as_rewards(rewards: Sequence[float] | Tensor, group_ids: Sequence[Hashable] | Tensor) -> Tensor:
    values = torch.as_tensor(rewards, dtype=torch.float64).detach().cpu()
    if values.dim() != 1:
        raise ValueError(f"rewards must be one scalar per response (1-D), got shape {tuple(values.shape)}")
    if len(group_ids) != len(values):
        raise ValueError(f"{len(values)} rewards but {len(group_ids)} group ids")
    if not torch.isfinite(values).all():
        raise ValueError("rewards contain NaN or infinity")
    return values


@register_advantage_estimator("grpo")
def grpo_advantages(rewards: Tensor, index: Tensor, num_groups: int, *, eps: float = 1e-6) -> Tensor:
    """GRPO (arXiv 2402.03300): ``A_i = (R_i − mean_g) / (std_g + eps)``, std unbiased (``torch.std``).

    As in verl, a group of one response gets mean 0 and std 1, so its advantage is ``R/(1+eps)``.
    """
    mean, std, size = group_stats(rewards, index, num_groups)
    singleton = size == 1
    mean = torch.where(singleton, torch.zeros_like(mean), mean)
    std = torch.where(singleton, torch.ones_like(std), std)
    return (rewards - mean) / (std + eps)


@register_advantage_estimator("dr_grpo")
def dr_grpo_advantages(rewards: Tensor, index: Tensor, num_groups: int) -> Tensor:
    """Dr. GRPO (arXiv 2503.20783): ``A_i = R_i − mean_g``, no division by the std (a singleton: ``R``)."""
    mean, _, size = group_stats(rewards, index, num_groups)
    return rewards - torch.where(size == 1, torch.zeros_like(mean), mean)


@register_advantage_estimator("rloo")
def rloo_advantages(rewards: Tensor, index: Tensor, num_groups: int) -> Tensor:
    """RLOO (Ahmadian et al., arXiv 2402.14740): ``A_i = R_i − mean_{j≠i} R_j = n/(n−1)·(R_i − mean_g)``.

    A singleton has no other sample to compare with; as in verl its advantage is ``R``.
    """
    mean, _, size = group_stats(rewards, index, num_groups)
    leave_one_out = size / (size - 1).clamp(min=1) * (rewards - mean)
    return torch.where(size == 1, rewards, leave_one_out)


def compute_outcome_advantages(
    name: str,
    rewards: Sequence[float] | Tensor,
    group_ids: Sequence[Hashable] | Tensor,
    **params: float,
) -> Tensor:
    """Advantage of each response under estimator ``name`` (``grpo``, ``dr_grpo``, ``rloo``).

    ``rewards``: one float per response; ``group_ids``: the group (prompt) of each response. Returns a float32
    tensor shaped like ``rewards``. Unknown ``params`` raise ``TypeError``.
    """
    device = rewards.device if isinstance(rewards, Tensor) else torch.device("cpu")
    values = _as_rewards(rewards, group_ids)
    index, num_groups = group_index(group_ids)
    advantages = ADVANTAGE_ESTIMATORS.call(name, values, index, num_groups, **params)
    return advantages.to(device=device, dtype=torch.float32)
