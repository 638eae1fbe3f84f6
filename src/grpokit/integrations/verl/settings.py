"""Where grpokit's settings live in a verl configuration, and their typed, validated readers.

verl runs the policy loss inside the actor workers, which receive only ``actor_rollout_ref.actor`` instantiated as
verl's ``ActorConfig`` dataclass; everything else grpokit needs runs in the trainer or in the agent-loop workers,
which receive the whole configuration. So:

* loss hyperparameters are fields of ``PolicyLossConfig`` below, a subclass of verl's, chosen by overriding the
  section's ``_target_`` (verl's own ``PolicyLossConfig`` rejects unknown keys: hydra's ``instantiate`` raises
  "unexpected keyword argument")::

      actor_rollout_ref.actor.policy_loss._target_=grpokit.integrations.verl.settings.PolicyLossConfig
      +actor_rollout_ref.actor.policy_loss.dgpo_n=2

* DynaMO, credit-assignment and agent settings are a top-level ``grpokit`` section added with ``+``
  (``+grpokit.dynamo.n_min=8``, ``+grpokit.credit.variant=official``, ``+grpokit.agent.env=webshop``); an unknown
  key is an error that names it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from verl.workers.config import PolicyLossConfig as VerlPolicyLossConfig

from grpokit.core.allocation import ALLOCATION_RULES
from grpokit.core.credit import CREDIT_ESTIMATORS
from grpokit.core.registry import check_params


@dataclass
class PolicyLossConfig(VerlPolicyLossConfig):
    """verl's ``actor_rollout_ref.actor.policy_loss`` section with grpokit's loss hyperparameters added.

    ``None`` means the loss's own default (DGPO ``n=1, m=2``; GPPO ``β=1, 1``; CE-GPPO ``β_low=0.5, β_high=1``).
    ε comes from verl's ``clip_ratio_low`` / ``clip_ratio_high`` and the dual clip of GPPO / CE-GPPO from
    ``clip_ratio_c``.
    """

    dgpo_n: float | None = None
    """DGPO's low-side (LN tokens) decay exponent ``n`` (arXiv 2603.14389; paper default 1)."""
    dgpo_m: float | None = None
    """DGPO's high-side (HP tokens) reciprocal-radical exponent ``m`` (paper default 2)."""
    gppo_beta_low: float | None = None
    """GPPO / CE-GPPO gradient scale on the low boundary (``w = beta_low * (1 - eps_low)``)."""
    gppo_beta_high: float | None = None
    """GPPO / CE-GPPO gradient scale on the high boundary (``w = β_high·(1+ε_high)``)."""


POLICY_LOSS_TARGET = f"{PolicyLossConfig.__module__}.{PolicyLossConfig.__qualname__}"


def grpokit_section(config: Any, name: str) -> dict[str, Any]:
    """``config.grpokit.<name>`` as a plain dict (empty when absent)."""
    root = config.get("grpokit", None) if isinstance(config, Mapping | DictConfig) else None
    section = root.get(name, None) if root is not None else None
    if section is None:
        return {}
    if isinstance(section, DictConfig):
        section = OmegaConf.to_container(section, resolve=True)
    if not isinstance(section, Mapping):
        raise ValueError(f"grpokit.{name} must be a mapping of settings, got {section!r}")
    return dict(section)


def _build(cls, values: dict[str, Any], prefix: str):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(f'{prefix}.{k}' for k in unknown)}; known: {sorted(known)}")
    return cls(**values)


MIN_GROUP = 2
"""Fewest rollouts DynaMO may give a prompt (``grpokit.dynamo.n_min``): a group-relative advantage needs two."""


@dataclass(frozen=True)
class DynamoSettings:
    """``grpokit.dynamo.*``: DynaMO's rollout allocation and token modulation in the ``dynamo`` trainer.

    Budget per step: ``actor_rollout_ref.rollout.n × data.train_batch_size`` rollouts (the same number of rows verl
    sizes its mini-batches for). The defaults reproduce the official script at ``rollout.n=16``: ``n_min = n/2 = 8``,
    ``n_max = 3n/2 = 24``. ``n_min`` is at least 2: the paper's GRPO advantage compares a response with the other
    responses to its prompt (groups of 8 to 24 in the official run, spec §2.7), while verl's GRPO gives a lone
    response mean 0 and std 1, i.e. its raw score as its advantage.
    """

    n_min: int = 0
    n_max: int = 0
    initial_budget: int = 4
    rule: str = "official"
    mastery: float = 0.85
    floor: float = 0.01
    min_samples: int = 4
    allocate: bool = True
    modulate: bool = True
    lambda_min: float = 0.6
    mu_max: float = 1.2
    gamma: float = 50.0
    tau: float = 0.99
    modulation_rows: int = 1
    """Rows normalised together (max ΔH, H_min, H_max): 1 = each response alone, the nearest to the official
    micro-batches of 1 to 3 responses under dynamic batch size; 0 = the whole step's batch."""

    @classmethod
    def from_config(cls, config: Any) -> DynamoSettings:
        values = grpokit_section(config, "dynamo")
        n = int(config.actor_rollout_ref.rollout.n)
        values.setdefault("n_min", max(MIN_GROUP, n // 2))
        values.setdefault("n_max", max(n, n * 3 // 2))
        settings = _build(cls, values, "grpokit.dynamo")
        settings.check(n)
        return settings

    def check(self, rollout_n: int) -> None:
        if self.n_min < MIN_GROUP:
            raise ValueError(
                f"grpokit.dynamo.n_min must be >= {MIN_GROUP}, got {self.n_min}: a prompt with one rollout has no "
                "group to be compared with, and verl's GRPO would use its raw score as its advantage"
            )
        if not self.n_min <= rollout_n <= self.n_max:
            raise ValueError(
                f"DynaMO needs grpokit.dynamo.n_min ({self.n_min}) <= actor_rollout_ref.rollout.n ({rollout_n}) "
                f"<= grpokit.dynamo.n_max ({self.n_max}), so that the per-prompt counts can sum to the budget "
                "rollout.n * train_batch_size"
            )
        if self.rule not in ALLOCATION_RULES:
            raise ValueError(f"grpokit.dynamo.rule={self.rule!r}; known: {', '.join(ALLOCATION_RULES.names())}")
        if self.modulation_rows < 0:
            raise ValueError(f"grpokit.dynamo.modulation_rows must be >= 0, got {self.modulation_rows}")


@dataclass(frozen=True)
class CreditSettings:
    """``grpokit.credit.*``: keyword parameters of ``grpokit.core.credit``'s estimator (``algorithm.adv_estimator``).

    For example ``+grpokit.credit.variant=official`` or ``+grpokit.credit.gamma=0.95`` (verl's ``algorithm.gamma`` is
    not used: ProxMO and GiGPO discount with their own ``gamma``, default 0.95).
    """

    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Any, estimator: str) -> CreditSettings:
        params = grpokit_section(config, "credit")
        check_params(CREDIT_ESTIMATORS.get(estimator), params, f"grpokit.credit for the {estimator!r} estimator")
        return cls(params)


@dataclass(frozen=True)
class AgentSettings:
    """``grpokit.agent.*``: the environment the ``grpokit_agent`` agent loop plays.

    A dataset row's ``extra_info.seed`` picks the task (default: its ``extra_info.index``) and its
    ``extra_info.env_params`` (e.g. ``{"split": "eval_in_distribution"}`` on validation rows) update ``env_params``.
    """

    env: str = "alfworld"
    env_params: dict[str, Any] = field(default_factory=dict)
    max_turns: int | None = None
    """Turns per episode; None: the environment's own limit (ALFWorld 50, WebShop 15)."""
    history_length: int = 2
    reward_scale: float = 10.0
    """Multiplies environment rewards (the official ProxMO / GiGPO runs give 10 for a success)."""
    fallback_chars: int | None = None
    """Answer characters taken as the action when the tags are missing; None: 30 for ALFWorld, 20 otherwise."""

    @classmethod
    def from_config(cls, config: Any) -> AgentSettings:
        settings = _build(cls, grpokit_section(config, "agent"), "grpokit.agent")
        if settings.max_turns is not None and settings.max_turns < 1:
            raise ValueError(f"grpokit.agent.max_turns must be >= 1, got {settings.max_turns}")
        if settings.history_length < 0:
            raise ValueError(f"grpokit.agent.history_length must be >= 0, got {settings.history_length}")
        return settings

    @property
    def fallback(self) -> int:
        if self.fallback_chars is not None:
            return self.fallback_chars
        return 30 if self.env == "alfworld" else 20
