"""Pure tensor math of grpokit: losses, advantages, multi-turn credit, modulation and rollout allocation.

Nothing here loads a model, reads a file or touches the network; inputs are plain tensors (``(batch, tokens)``
like verl's ``core_algos``) and keyword arguments, so trainers and engine integrations can share it.
"""

from grpokit.core.advantages import (
    ADVANTAGE_ESTIMATORS,
    compute_outcome_advantages,
    register_advantage_estimator,
)
from grpokit.core.allocation import ALLOCATION_RULES, PromptStats, allocate_rollouts, rollout_priority
from grpokit.core.credit import (
    CREDIT_ESTIMATORS,
    episode_balance_weights,
    gigpo_advantages,
    proxmo_advantages,
    step_returns,
)
from grpokit.core.losses import POLICY_LOSSES, aggregate_loss, compute_policy_loss, register_policy_loss
from grpokit.core.modulation import dynamo_modulate

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "ALLOCATION_RULES",
    "CREDIT_ESTIMATORS",
    "POLICY_LOSSES",
    "PromptStats",
    "aggregate_loss",
    "allocate_rollouts",
    "compute_outcome_advantages",
    "compute_policy_loss",
    "dynamo_modulate",
    "episode_balance_weights",
    "gigpo_advantages",
    "proxmo_advantages",
    "register_advantage_estimator",
    "register_policy_loss",
    "rollout_priority",
    "step_returns",
]
