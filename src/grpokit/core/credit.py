"""Credit assignment for multi-turn agents: GiGPO and ProxMO step advantages.

Layout: one row per agent step (turn). ``group_ids`` names the task group (the N rollouts of one task),
``traj_ids`` the trajectory; the rows of a trajectory are contiguous and in time order. ``observations`` is
the anchor state of each row: the raw environment observation the agent saw before acting (no prompt
template, no history). ``step_rewards`` is the environment reward returned by the row's action, ``valid``
whether the model's answer was well formed (an invalid step is penalised by ``invalid_penalty``).

The result has one advantage per row; broadcast it over the row's response tokens for the losses.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from torch import Tensor

from grpokit.core.advantages import group_index, group_stats
from grpokit.core.registry import Registry

CREDIT_ESTIMATORS = Registry("credit estimator")
register_credit_estimator = CREDIT_ESTIMATORS.register

STD_EPS = 1e-6
PROXMO_VARIANTS = ("paper", "official")
GIGPO_MODES = ("mean_norm", "mean_std_norm")


# ------------------------------------------------------------------------------------------------ structure


def _float_rows(values: Sequence[float] | Tensor, n: int, what: str) -> Tensor:
    tensor = torch.as_tensor(values, dtype=torch.float64).detach().cpu().reshape(-1)
    if len(tensor) != n:
        raise ValueError(f"{what} has {len(tensor)} rows, expected {n} (one per step)")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{what} contains NaN or infinity")
    return tensor


def trajectory_layout(traj_ids: Sequence[Hashable] | Tensor) -> tuple[Tensor, Tensor, int]:
    """Dense trajectory index and 0-based step index of each row.

    Raises ``ValueError`` if a trajectory's rows are not contiguous (its id reappears after another one).
    """
    ids = traj_ids.tolist() if isinstance(traj_ids, Tensor) else list(traj_ids)
    index, steps, seen = [], [], {}
    previous = object()
    for row, tid in enumerate(ids):
        if tid != previous:
            if tid in seen:
                raise ValueError(
                    f"rows of trajectory {tid!r} are not contiguous (row {row} resumes it after another one); "
                    "the rows of a trajectory must be contiguous and in time order"
                )
            seen[tid] = len(seen)
            step = 0
        else:
            step += 1
        index.append(seen[tid])
        steps.append(step)
        previous = tid
    return torch.tensor(index, dtype=torch.long), torch.tensor(steps, dtype=torch.long), len(seen)


def episode_balance_weights(traj_ids: Sequence[Hashable] | Tensor) -> Tensor:
    """Row weights that give every trajectory the same total weight, whatever its length.

    Row weight = (mean rows per trajectory) / (its trajectory's rows); the weights sum to the number of rows, so the
    loss keeps its scale. Without them a failed episode, which runs to the turn limit, outweighs a won one by its
    extra steps.
    """
    index, _, count = trajectory_layout(traj_ids)
    lengths = torch.bincount(index, minlength=count).to(torch.float64)
    return (len(index) / count) / lengths[index]


def step_returns(traj_ids: Sequence[Hashable] | Tensor, step_rewards: Sequence[float] | Tensor, gamma: float) -> Tensor:
    """Discounted return of each step within its trajectory: ``R_t = Σ_{k≥t} γ^(k−t) r_k`` (GiGPO/ProxMO Eq. 8)."""
    traj_index, _, _ = trajectory_layout(traj_ids)
    rewards = _float_rows(step_rewards, len(traj_index), "step_rewards")
    return _discounted_returns(traj_index, rewards, gamma).to(torch.float32)


def _discounted_returns(traj_index: Tensor, rewards: Tensor, gamma: float) -> Tensor:
    returns = torch.empty_like(rewards)
    following = 0.0
    for row in range(len(rewards) - 1, -1, -1):
        last_of_traj = row == len(rewards) - 1 or traj_index[row + 1] != traj_index[row]
        following = rewards[row].item() + (0.0 if last_of_traj else gamma * following)
        returns[row] = following
    return returns


class _StepBatch:
    """The per-row quantities both estimators share, computed once and validated."""

    def __init__(self, group_ids, traj_ids, observations, step_rewards, valid, gamma, invalid_penalty):
        self.traj, self.step, num_traj = trajectory_layout(traj_ids)
        n = len(self.traj)
        for label, seq in (("group_ids", group_ids), ("observations", observations)):
            if len(seq) != n:
                raise ValueError(f"{label} has {len(seq)} rows, traj_ids has {n}")
        self.group, self.num_groups = group_index(group_ids)
        traj_group = torch.full((num_traj,), -1, dtype=torch.long)
        traj_group[self.traj] = self.group
        if (traj_group[self.traj] != self.group).any():
            raise ValueError("a trajectory's rows carry different group ids")
        self.traj_group = traj_group
        self.texts = [str(o) for o in observations]
        self.rewards = _float_rows(step_rewards, n, "step_rewards")
        validity = torch.ones(n, dtype=torch.float64) if valid is None else _float_rows(valid, n, "valid")
        self.penalty = invalid_penalty * (1.0 - validity)
        self.returns = _discounted_returns(self.traj, self.rewards, gamma) - self.penalty
        self.episode_return = torch.zeros(num_traj, dtype=torch.float64).index_add_(0, self.traj, self.rewards)


# ------------------------------------------------------------------------------------------------ episode


def _row_episode_advantages(batch: _StepBatch, normalise_std: bool) -> tuple[Tensor, Tensor]:
    """verl-agent's episode term: statistics over the step rows of each group (longer trajectories weigh more).

    Row score ``e_i`` = episode return of its trajectory minus this row's invalid penalty. A group with one
    row gets mean 0 and std 1. Returns ``(advantage, group mean of e per row)``.
    """
    scores = batch.episode_return[batch.traj] - batch.penalty
    mean, std, size = group_stats(scores, batch.group, batch.num_groups)
    single = size == 1
    mean = torch.where(single, torch.zeros_like(mean), mean)
    advantage = scores - mean
    if normalise_std:
        advantage = advantage / (torch.where(single, torch.ones_like(std), std) + STD_EPS)
    return advantage, mean


def psc_beta(target_range: float) -> float:
    """ProxMO official code's β from ``psc_target_range``: ``β = target / (σ(1) − 0.5)`` (0.05 → 0.2163953)."""
    return target_range / (1.0 / (1.0 + math.exp(-1.0)) - 0.5)


def psc_weight(success: Tensor, p: Tensor, *, alpha: float = 4.0, beta: float = 0.1) -> Tensor:
    """ProxMO's Polarized Signal Controller ``w(R, p) = 1 + β·f(R, p)`` (arXiv 2602.19225, Eqs. 5–6).

    ``f = σ((1−p)^α) − 0.5`` for a success and ``σ(−p^α) − 0.5`` for a failure, ``p`` the group's success
    rate: rare successes are boosted slightly (up to ``1 + 0.231β``), failures in easy groups damped.
    """
    p = p.to(torch.float64)
    boost = torch.sigmoid((1.0 - p) ** alpha) - 0.5
    damp = torch.sigmoid(-(p**alpha)) - 0.5
    return 1.0 + beta * torch.where(success.bool(), boost, damp)


def _trajectory_episode_advantages(batch: _StepBatch, alpha: float, beta: float) -> Tensor:
    """ProxMO paper's episode term (Eqs. 4–7) over the trajectories of each group, broadcast to their rows.

    ``A^E = (R − μ)/(σ + 1e-6)`` with the population std over the group's trajectories (so a group whose
    trajectories all have the same return, or a group of one, gets 0); ``p`` = the fraction of the group's
    trajectories with return > 0; ``Ã^E = w(R, p)·A^E``.
    """
    returns, groups = batch.episode_return, batch.traj_group
    mean, std_unbiased, size = group_stats(returns, groups, batch.num_groups)
    std_pop = std_unbiased * torch.sqrt((size - 1).clamp(min=0) / size)
    z = (returns - mean) / (std_pop + STD_EPS)
    success = returns > 0
    p, _, _ = group_stats(success.to(torch.float64), groups, batch.num_groups)
    return (psc_weight(success, p, alpha=alpha, beta=beta) * z)[batch.traj]


# ------------------------------------------------------------------------------------------------ step


def _exact_match_step_advantages(batch: _StepBatch, normalise_std: bool) -> Tensor:
    """GiGPO's step term: rows of a group with identical anchor observations form a step group.

    ``A^S = R − mean`` (``mean_norm``) or ``(R − mean)/(std + 1e-6)`` (``mean_std_norm``); a singleton step
    group compares with itself only, so its advantage is 0.
    """
    keys = list(zip(batch.group.tolist(), batch.texts, strict=True))
    index, num = group_index(keys)
    mean, std, size = group_stats(batch.returns, index, num)
    advantage = batch.returns - mean
    if normalise_std:
        advantage = advantage / (torch.where(size == 1, torch.ones_like(std), std) + STD_EPS)
    return advantage


def proximity_step_advantages(batch: _StepBatch, *, tau: float, same_step: bool, max_features: int | None) -> Tensor:
    """ProxMO's proximity-based soft aggregation (PSA, arXiv 2602.19225, Eqs. 9–11).

    States are TF-IDF vectors (scikit-learn defaults, fitted on every anchor text of the batch, optionally
    capped at ``max_features`` terms); similarity is their cosine. Each row's baseline is the softmax
    (temperature ``tau``) weighted mean of the step returns of its comparison set, which includes the row
    itself: all rows of its group, or only those at the same step index when ``same_step``.
    ``A^S = R − baseline``. An empty vocabulary makes every ``A^S`` 0, as in the official code.
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    advantages = torch.zeros_like(batch.returns)
    try:
        vectors = TfidfVectorizer(max_features=max_features).fit_transform(batch.texts)
    except ValueError:  # empty vocabulary: no text has a token of two or more word characters
        return advantages
    rows_of_group: dict[int, list[int]] = {}
    for row, group in enumerate(batch.group.tolist()):
        rows_of_group.setdefault(group, []).append(row)
    returns, steps = batch.returns.numpy(), batch.step.numpy()
    for rows in rows_of_group.values():
        members = vectors[rows]
        logits = (members @ members.T).toarray() / tau
        if same_step:
            logits[steps[rows][:, None] != steps[rows][None, :]] = -np.inf
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=1, keepdims=True)
        advantages[rows] = torch.from_numpy(returns[rows] - weights @ returns[rows])
    return advantages


# ------------------------------------------------------------------------------------------------ estimators


@register_credit_estimator("grpo")
def episode_grpo_advantages(
    group_ids: Sequence[Hashable] | Tensor,
    traj_ids: Sequence[Hashable] | Tensor,
    observations: Sequence[object],
    step_rewards: Sequence[float] | Tensor,
    valid: Sequence[float] | Tensor | None = None,
    *,
    gamma: float = 0.95,
    invalid_penalty: float = 0.1,
) -> Tensor:
    """GRPO for agents, the baseline of GiGPO and ProxMO as verl-agent runs it: no step-level credit.

    Each row's score is its trajectory's episode return minus its own invalid penalty; rows are z-scored within
    their task group (verl's GRPO: unbiased std + 1e-6; a group of one row gets mean 0, std 1). ``observations``
    and ``gamma`` are unused: they keep the signature of every credit estimator.
    """
    batch = _StepBatch(group_ids, traj_ids, observations, step_rewards, valid, gamma, invalid_penalty)
    advantages, _ = _row_episode_advantages(batch, normalise_std=True)
    return advantages.to(torch.float32)


@register_credit_estimator("gigpo")
def gigpo_advantages(
    group_ids: Sequence[Hashable] | Tensor,
    traj_ids: Sequence[Hashable] | Tensor,
    observations: Sequence[object],
    step_rewards: Sequence[float] | Tensor,
    valid: Sequence[float] | Tensor | None = None,
    *,
    gamma: float = 0.95,
    invalid_penalty: float = 0.1,
    mode: str = "mean_norm",
    step_weight: float = 1.0,
) -> Tensor:
    """GiGPO: group-in-group advantages (Feng et al., arXiv 2505.10978), as verl-agent computes them.

    ``A = A^E + step_weight·A^S``. Episode term over the step rows of each task group (row score = episode
    return minus this row's invalid penalty); step term over rows of the group with exactly equal anchor
    observations, comparing discounted step returns (minus the row's invalid penalty). ``mode`` is
    ``mean_norm`` (centre only, the default) or ``mean_std_norm`` (also divide by unbiased std + 1e-6).
    """
    if mode not in GIGPO_MODES:
        raise ValueError(f"unknown GiGPO mode {mode!r}; known: {', '.join(GIGPO_MODES)}")
    batch = _StepBatch(group_ids, traj_ids, observations, step_rewards, valid, gamma, invalid_penalty)
    normalise = mode == "mean_std_norm"
    episode, _ = _row_episode_advantages(batch, normalise)
    step = _exact_match_step_advantages(batch, normalise)
    return (episode + step_weight * step).to(torch.float32)


@register_credit_estimator("proxmo")
def proxmo_advantages(
    group_ids: Sequence[Hashable] | Tensor,
    traj_ids: Sequence[Hashable] | Tensor,
    observations: Sequence[object],
    step_rewards: Sequence[float] | Tensor,
    valid: Sequence[float] | Tensor | None = None,
    *,
    variant: str = "paper",
    gamma: float = 0.95,
    invalid_penalty: float = 0.1,
    tau: float = 0.1,
    alpha: float = 4.0,
    beta: float | None = None,
    step_weight: float = 1.0,
) -> Tensor:
    """ProxMO: proximity-based multi-turn optimisation (Fang et al., arXiv 2602.19225).

    ``A = w(R, p)·A^E + step_weight·A^S``: a success-rate-aware episode term (PSC, ``psc_weight``) plus a
    step term against a proximity-weighted soft baseline (PSA, ``proximity_step_advantages``).

    ``variant="paper"`` follows the paper's text:
      * episode term: z-score of trajectory returns over the group's trajectories, population std
        (``_trajectory_episode_advantages``); ``p`` = fraction of trajectories with return > 0; β = 0.1;
      * step term: compares a row only with rows of its group at the same step index (Eq. 10's ``s_t``);
        TF-IDF with scikit-learn defaults (no vocabulary cap);
      * the invalid-action penalty lowers only that row's step return, not the episode term.
    ``variant="official"`` reproduces GithubX-F/ProxMO-RL (``soft_grouping`` with PSC) exactly:
      * episode term over step rows, mean-centred without std (``_row_episode_advantages``), row score
        minus the row's invalid penalty; ``p = clamp(group row-mean of scores, 0, 1)`` (which saturates
        with its 0/10 rewards), success = score > 0.5; β from ``psc_target_range = 0.05`` (0.2163953);
      * step term over all rows of the group (every step, the row itself included); TF-IDF capped at
        1024 terms.
    Both variants: τ = 0.1, α = 4, γ = 0.95 and the rewards on the scale given (the official runs use 10
    for a success). ``beta`` overrides the variant's β.
    """
    if variant not in PROXMO_VARIANTS:
        raise ValueError(f"unknown ProxMO variant {variant!r}; known: {', '.join(PROXMO_VARIANTS)}")
    batch = _StepBatch(group_ids, traj_ids, observations, step_rewards, valid, gamma, invalid_penalty)
    if variant == "official":
        beta = psc_beta(0.05) if beta is None else beta
        episode, group_mean = _row_episode_advantages(batch, normalise_std=False)
        success = batch.episode_return[batch.traj] - batch.penalty > 0.5
        episode = psc_weight(success, group_mean.clamp(0.0, 1.0), alpha=alpha, beta=beta) * episode
        step = proximity_step_advantages(batch, tau=tau, same_step=False, max_features=1024)
    else:
        beta = 0.1 if beta is None else beta
        episode = _trajectory_episode_advantages(batch, alpha, beta)
        step = proximity_step_advantages(batch, tau=tau, same_step=True, max_features=None)
    return (episode + step_weight * step).to(torch.float32)
