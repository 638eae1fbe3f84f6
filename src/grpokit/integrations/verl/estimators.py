"""ProxMO and GiGPO as verl advantage estimators (``algorithm.adv_estimator=proxmo`` or ``gigpo``).

verl's ``compute_advantage`` hands a custom estimator only ``token_level_rewards``, ``response_mask``, ``index`` (the
prompt uid of each row) and ``config``. Multi-turn credit needs, for every row (one agent turn), its trajectory, its
step index, the anchor observation the agent saw before acting, the environment's reward for the step and whether
the answer was well formed. The ``grpokit_agent`` agent loop writes them into each row's ``extra_fields`` and the
``grpokit_agent`` trainer passes them here as ``agent=AgentRows(...)`` with the estimator's parameters
(``grpokit.credit.*``) as ``credit_params``. Any other v1 trainer refuses these estimators when it is built
(``trainer.check_estimator_trainer``); called without the agent rows anyway, they raise an error that says so.

The rows may come in any order (verl balances the batch across data-parallel ranks) and may include verl's padding
rows; the estimators put each trajectory's rows in time order for ``grpokit.core.credit``, give padding rows a zero
advantage and broadcast each row's advantage over its response tokens. The returns equal the advantages, as for
verl's GRPO.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from verl.trainer.ppo.core_algos import register_adv_est

from grpokit.core.credit import CREDIT_ESTIMATORS
from grpokit.integrations.verl.dynamo import prompt_key
from grpokit.integrations.verl.names import ADVANTAGE_ESTIMATORS, AGENT_LOOP, AGENT_TRAINER

EXTRA_FIELDS = ("anchor_obs", "step_index", "step_reward", "action_valid")
"""Keys the ``grpokit_agent`` agent loop writes into every row's ``extra_fields``."""


@dataclass(frozen=True)
class AgentRows:
    """The per-row agent data of a verl batch, in the batch's row order."""

    traj_ids: Sequence[Hashable]
    step_index: Sequence[int]
    anchors: Sequence[str]
    step_rewards: Sequence[float]
    valid: Sequence[float]
    padding: Sequence[bool]

    def __len__(self) -> int:
        return len(self.traj_ids)

    @classmethod
    def from_rows(cls, keys: Sequence[str], extra_fields: Sequence[Any], padding: Sequence[bool]) -> AgentRows:
        """From verl v1's row keys ``{uid}_{session}_{output}`` and the rows' ``extra_fields`` dicts.

        A row's trajectory is its ``traj_uid``, else its key's ``{uid}_{session}`` (one agent-loop session = one
        episode); padding rows carry no agent data and are marked so.
        """
        if not len(keys) == len(extra_fields) == len(padding):
            raise ValueError(f"{len(keys)} keys, {len(extra_fields)} extra_fields and {len(padding)} padding flags")
        traj, records = [], []
        for key, extra, pad in zip(keys, extra_fields, padding, strict=True):
            extra = getattr(extra, "data", extra)
            if pad:  # verl copies the first row's fields into its padding rows: nothing in them is this row's
                traj.append(str(key))
                records.append((0, "", 0.0, 1.0))
                continue
            missing = [k for k in EXTRA_FIELDS if not isinstance(extra, dict) or k not in extra]
            if missing:
                raise ValueError(
                    f"row {key!r} has no {', '.join(missing)} in its extra_fields: the proxmo and gigpo estimators "
                    f"need rows from grpokit's agent loop (actor_rollout_ref.rollout.agent.default_agent_loop="
                    f"{AGENT_LOOP})"
                )
            traj.append(extra.get("traj_uid") or str(key).rsplit("_", 1)[0])
            step, anchor = int(extra["step_index"]), str(extra["anchor_obs"])
            records.append((step, anchor, float(extra["step_reward"]), float(bool(extra["action_valid"]))))
        steps, anchors, rewards, valid = (
            (list(column) for column in zip(*records, strict=True)) if records else ([],) * 4
        )
        return cls(traj, steps, anchors, rewards, valid, [bool(p) for p in padding])


def agent_advantages(
    estimator: str,
    index: Sequence[Hashable],
    rows: AgentRows,
    response_mask: Tensor,
    **params: Any,
) -> Tensor:
    """``(rows, tokens)`` advantages of ``grpokit.core.credit``'s ``estimator`` for a verl batch in any row order.

    ``index`` is each row's task group (verl's ``uid``); ``params`` are the estimator's keyword parameters.
    """
    n = len(rows)
    if len(index) != n or response_mask.shape[0] != n:
        raise ValueError(f"{len(index)} group ids and {response_mask.shape[0]} mask rows for {n} agent rows")
    real = [i for i in range(n) if not rows.padding[i]]
    order = sorted(real, key=lambda i: (str(rows.traj_ids[i]), rows.step_index[i]))
    for a, b in itertools.pairwise(order):
        if rows.traj_ids[a] == rows.traj_ids[b] and rows.step_index[a] == rows.step_index[b]:
            raise ValueError(f"trajectory {rows.traj_ids[a]!r} has two rows for step {rows.step_index[a]}")
    per_row = torch.zeros(n, dtype=torch.float32)
    if order:
        values = CREDIT_ESTIMATORS.call(
            estimator,
            [prompt_key(index[i]) for i in order],
            [rows.traj_ids[i] for i in order],
            [rows.anchors[i] for i in order],
            [rows.step_rewards[i] for i in order],
            [rows.valid[i] for i in order],
            **params,
        )
        per_row[torch.tensor(order)] = values.to(torch.float32)
    return per_row.to(response_mask.device).unsqueeze(-1) * response_mask.to(torch.float32)


def _estimator(name: str):
    def compute(
        token_level_rewards: Tensor,
        response_mask: Tensor,
        index: Sequence[Hashable] | None = None,
        config: Any = None,
        reward_baselines: Tensor | None = None,
        *,
        agent: AgentRows | None = None,
        credit_params: dict[str, Any] | None = None,
    ) -> tuple[Tensor, Tensor]:
        if agent is None or index is None:
            raise ValueError(
                f"the {name!r} advantage estimator needs each row's trajectory, step, anchor observation and step "
                f"reward, which verl's stock trainers do not pass: run with trainer.v1.trainer_mode={AGENT_TRAINER} "
                f"and actor_rollout_ref.rollout.agent.default_agent_loop={AGENT_LOOP}"
            )
        advantages = agent_advantages(name, index, agent, response_mask, **(credit_params or {}))
        advantages = advantages.to(token_level_rewards.dtype)
        return advantages, advantages.clone()

    compute.__name__ = f"compute_{name}_advantage"
    compute.__qualname__ = compute.__name__
    compute.__doc__ = (
        f"grpokit's {name!r} credit in verl's estimator convention.\n\n{CREDIT_ESTIMATORS.get(name).__doc__}"
    )
    return compute


ESTIMATOR_FUNCTIONS = {name: _estimator(name) for name in ADVANTAGE_ESTIMATORS}


def register() -> None:
    """Add ``proxmo`` and ``gigpo`` to verl's ``ADV_ESTIMATOR_REGISTRY``."""
    for name, fn in ESTIMATOR_FUNCTIONS.items():
        register_adv_est(name)(fn)
