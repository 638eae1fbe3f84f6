"""grpokit's verl v1 trainers (``trainer.v1.trainer_mode``): ``grpokit_agent`` (ProxMO / GiGPO) and ``dynamo``.

Both are verl's synchronous trainer (``PPOTrainerSync``) with a few hooks; everything else (workers, rollout, loss,
validation, logging, checkpoints) is verl's. verl keys its synchronous behaviour (replay buffer, refill, TransferQueue
checkpoints) and its per-mode settings (``trainer.v1.sync.*``) on the mode's name being ``"sync"``, so both trainers
report themselves as ``"sync"`` to it.

The hooks read and write the step's rows in verl's TransferQueue (``_fetch`` / ``_store``) and leave the algorithm to
``grpokit.integrations.verl.estimators`` and ``grpokit.integrations.verl.dynamo``, which work on plain batches.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
import transfer_queue as tq
from tensordict import TensorDict
from transfer_queue import KVBatchMeta
from verl.protocol import DataProto
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_and_add_to_batch
from verl.trainer.ppo.v1 import PPOTrainer, PPOTrainerSync, register_trainer
from verl.workers.utils.padding import response_to_nested

from grpokit.core.allocation import PromptStats
from grpokit.envs import ENVS
from grpokit.integrations.verl import dynamo
from grpokit.integrations.verl.estimators import AgentRows
from grpokit.integrations.verl.names import ADVANTAGE_ESTIMATORS, AGENT_LOOP, AGENT_TRAINER, DYNAMO_TRAINER
from grpokit.integrations.verl.settings import AgentSettings, CreditSettings, DynamoSettings


def rows_as_proto(data: TensorDict, keys: list[str], tags: list[dict]) -> DataProto:
    """A TransferQueue fetch as a padded ``DataProto``: tensors padded; non-tensor fields, ``key``, ``is_padding``."""
    size = len(keys)
    non_tensor = {"key": np.array(keys, dtype=object)}
    non_tensor["is_padding"] = np.array([bool(t.get("is_padding", False)) for t in tags], dtype=object)
    for name in [k for k in data.keys() if not isinstance(data.get(k), torch.Tensor)]:  # noqa: SIM118
        values = np.empty(size, dtype=object)
        values[:] = dynamo.column(data.pop(name), size)
        non_tensor[name] = values
    return DataProto(batch=data.to_padded_tensor(), non_tensor_batch=non_tensor)


class _GrpokitSyncTrainer(PPOTrainerSync):
    """verl's synchronous trainer under another name, with TransferQueue helpers."""

    @property
    def trainer_mode(self) -> str:
        """``"sync"`` whatever ``trainer.v1.trainer_mode`` names: verl's sync-only code paths test the mode's name
        and read the mode's settings, such as ``trainer.v1.sync.parameter_sync_step``, from ``trainer.v1.<mode>``."""
        return "sync"

    @trainer_mode.setter
    def trainer_mode(self, name: str) -> None:
        """verl's ``__init__`` assigns the configured name (``dynamo``, ``grpokit_agent``), which is only ours."""

    @staticmethod
    def _fetch(batch: KVBatchMeta, fields: list[str]) -> TensorDict:
        return tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)

    @staticmethod
    def _store(batch: KVBatchMeta, fields: dict[str, Any]) -> KVBatchMeta:
        data = TensorDict(fields, batch_size=len(batch))
        return tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=data)


@register_trainer(AGENT_TRAINER)
class GrpokitAgentTrainer(_GrpokitSyncTrainer):
    """verl's sync trainer that gives the ``proxmo`` and ``gigpo`` estimators the agent loop's per-row data.

    Other estimators run verl's own ``_compute_advantage`` unchanged.
    """

    def __init__(self, config):
        super().__init__(config)
        estimator = str(config.algorithm.adv_estimator)
        self.credit = CreditSettings.from_config(config, estimator) if estimator in ADVANTAGE_ESTIMATORS else None
        agent_loop = config.actor_rollout_ref.rollout.get("agent", {}).get("default_agent_loop", None)
        if self.credit is not None or agent_loop == AGENT_LOOP:  # fail here, not later in a Ray worker
            ENVS.get(AgentSettings.from_config(config).env)
        if self.credit is not None and config.algorithm.get("use_kl_in_reward", False):
            raise ValueError(
                f"algorithm.use_kl_in_reward=True with adv_estimator={estimator}: ProxMO and GiGPO credit the "
                "environment's step rewards, so an in-reward KL penalty would be ignored; use the KL loss "
                "(actor_rollout_ref.actor.use_kl_loss=True) as the papers do"
            )

    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        if self.credit is None:
            return super()._compute_advantage(batch, metrics)
        fields = ["uid", "response_mask", "rm_scores", "rollout_log_probs", "old_log_probs", "extra_fields"]
        data = self._fetch(batch, fields)
        nested_mask = data["response_mask"]
        proto = rows_as_proto(data, list(batch.keys), list(batch.tags))
        proto.batch["token_level_scores"] = proto.batch["rm_scores"]
        proto.batch["token_level_rewards"] = proto.batch["rm_scores"]

        # Rollout correction (importance weights of the rollout policy), as verl's own _compute_advantage does it.
        correction = self.config.algorithm.get("rollout_correction", None)
        bypass = correction and correction.get("bypass_mode", False)
        corrected = correction is not None and "rollout_log_probs" in proto.batch.keys() and not bypass  # noqa: SIM118
        if corrected:
            proto, correction_metrics = compute_rollout_correction_and_add_to_batch(proto, correction)
            metrics.update(correction_metrics)

        padding = [bool(p) for p in proto.non_tensor_batch["is_padding"]]
        rows = AgentRows.from_rows(list(batch.keys), list(proto.non_tensor_batch["extra_fields"]), padding)
        estimator = core_algos.get_adv_estimator_fn(str(self.config.algorithm.adv_estimator))
        advantages, returns = estimator(
            token_level_rewards=proto.batch["token_level_rewards"],
            response_mask=proto.batch["response_mask"],
            index=list(proto.non_tensor_batch["uid"]),
            config=self.config.algorithm,
            agent=rows,
            credit_params=self.credit.params,
        )
        metrics.update(agent_metrics(rows, list(proto.non_tensor_batch["extra_fields"])))
        output = {
            "advantages": response_to_nested(advantages, nested_mask),
            "returns": response_to_nested(returns, nested_mask),
        }
        if corrected:
            output["response_mask"] = response_to_nested(proto.batch["response_mask"], nested_mask)
            if "rollout_is_weights" in proto.batch.keys():  # noqa: SIM118
                output["rollout_is_weights"] = response_to_nested(proto.batch["rollout_is_weights"], nested_mask)
        return self._store(batch, output)


def agent_metrics(rows: AgentRows, extra_fields: list[Any]) -> dict[str, float]:
    """Invalid-answer rate over steps, success rate and length over episodes (``grpokit/…`` metrics)."""
    steps = [i for i in range(len(rows)) if not rows.padding[i]]
    if not steps:
        return {}
    episodes: dict[Any, tuple[int, bool]] = {}
    for i in steps:
        extra = getattr(extra_fields[i], "data", extra_fields[i])
        won = bool(extra.get("won", False)) if isinstance(extra, dict) else False
        length, _ = episodes.get(rows.traj_ids[i], (0, False))
        episodes[rows.traj_ids[i]] = (max(length, rows.step_index[i] + 1), won)
    return {
        "grpokit/invalid_answer_rate": sum(1.0 - rows.valid[i] for i in steps) / len(steps),
        "grpokit/success": sum(won for _, won in episodes.values()) / len(episodes),
        "grpokit/episode_length": sum(length for length, _ in episodes.values()) / len(episodes),
    }


@register_trainer(DYNAMO_TRAINER)
class DynamoTrainer(_GrpokitSyncTrainer):
    """DynaMO (Fang et al., arXiv 2602.19208) in verl's v1 synchronous trainer.

    * Allocation: each step's prompts get rollout counts from ``PromptStats`` (``grpokit.dynamo.allocate``),
      summing to ``rollout.n × prompts``, per row (a prompt drawn twice gets two counts) and for every refill verl
      draws during the step; priorities are refreshed when an epoch begins (the official ``update_rank`` at epoch
      end); every scored response is counted for its prompt.
    * Modulation: the advantages verl computed (GRPO in the paper) are multiplied by DynaMO's token factors
      (``grpokit.dynamo.modulate``).
    * The prompt statistics are saved in every verl checkpoint folder and restored with it.
    """

    def __init__(self, config):
        super().__init__(config)
        self.dynamo = DynamoSettings.from_config(config)
        self.prompt_stats = PromptStats(
            mastery=self.dynamo.mastery, floor=self.dynamo.floor, min_samples=self.dynamo.min_samples
        )
        correction = config.algorithm.get("rollout_correction", None)
        if self.dynamo.modulate and correction is not None and correction.get("bypass_mode", False):
            raise ValueError(
                "grpokit.dynamo.modulate needs the entropy of verl's old-log-prob pass, which "
                "algorithm.rollout_correction.bypass_mode=True skips; turn one of them off"
            )
        self._allocations = dynamo.AllocationLog()

    # -- allocation -------------------------------------------------------------------------------------------

    def prepare_step(self) -> dict:
        first_of_epoch = self.global_steps > 1 and (self.global_steps - 1) % max(self.steps_per_epoch, 1) == 0
        if first_of_epoch:  # the official code refreshes priorities once per epoch, from all counts so far
            self.prompt_stats.end_epoch()
        self._allocations = dynamo.AllocationLog()
        return super().prepare_step()

    def step(self, metrics: dict, timing_raw: dict) -> KVBatchMeta:
        """verl's step, then the allocation metrics of every prompt it drew: its batch and the refills during it."""
        batch = super().step(metrics, timing_raw)
        metrics.update(self._allocations.metrics())
        return batch

    def _next_train_batch(self, num_prompts: int | None = None) -> TensorDict:
        batch = super()._next_train_batch(num_prompts)
        if self.dynamo.allocate:
            ids = dynamo.prompt_ids(batch)
            counts = dynamo.allocate(self.prompt_stats, ids, self.dynamo, int(self.config.actor_rollout_ref.rollout.n))
            dynamo.assign_rollout_counts(batch, counts)
            self._allocations.add([self.prompt_stats.priority(i) for i in ids], counts)
        return batch

    # -- statistics and modulation ----------------------------------------------------------------------------

    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        batch = super()._compute_advantage(batch, metrics)
        fields = ["index", "rm_scores", "extra_fields", "response_mask", "advantages", "old_log_probs", "entropy"]
        data = self._fetch(batch, fields if self.dynamo.modulate else fields[:4])
        nested_mask = data["response_mask"]
        proto = rows_as_proto(data, list(batch.keys), list(batch.tags))
        metrics["dynamo/responses_counted"] = float(dynamo.record_outcomes(self.prompt_stats, proto))
        if not self.dynamo.modulate:
            return batch
        actor = self.config.actor_rollout_ref.actor
        clip = actor.get("clip_ratio", 0.2)
        eps_low = actor.get("clip_ratio_low", None)
        eps_high = actor.get("clip_ratio_high", None)
        advantages, modulation_metrics = dynamo.modulate(
            proto,
            self.dynamo,
            eps_low=float(clip if eps_low is None else eps_low),
            eps_high=float(clip if eps_high is None else eps_high),
        )
        metrics.update(modulation_metrics)
        return self._store(batch, {"advantages": response_to_nested(advantages, nested_mask)})

    # -- checkpoints ------------------------------------------------------------------------------------------

    def _save_checkpoint(self):
        # Written before verl's files so that verl's "latest checkpoint" marker never points at a folder without it.
        folder = dynamo.checkpoint_folder(self.config.trainer.default_local_dir, self.global_steps)
        dynamo.save_prompt_stats(self.prompt_stats, folder)
        super()._save_checkpoint()

    def _load_checkpoint(self):
        super()._load_checkpoint()
        if self.global_steps > 0:
            dynamo.load_prompt_stats(self.prompt_stats, dynamo.resume_folder(self.config.trainer, self.global_steps))


def check_estimator_trainer(trainer_cls: type, config: Any) -> None:
    """Refuse ``algorithm.adv_estimator=proxmo|gigpo`` with any trainer but ``grpokit_agent``.

    Only that trainer passes those estimators the agent rows they need; any other would fail in its first
    ``_compute_advantage``, after a whole rollout.
    """
    estimator = str(config.algorithm.get("adv_estimator", ""))
    if estimator in ADVANTAGE_ESTIMATORS and not issubclass(trainer_cls, GrpokitAgentTrainer):
        mode = config.trainer.v1.get("trainer_mode", None)
        raise ValueError(
            f"algorithm.adv_estimator={estimator} needs each row's trajectory, step and anchor observation, which "
            f"trainer.v1.trainer_mode={mode} does not pass: use trainer.v1.trainer_mode={AGENT_TRAINER} with "
            f"actor_rollout_ref.rollout.agent.default_agent_loop={AGENT_LOOP}"
        )


def _check_estimators_when_trainers_are_built() -> None:
    """Make every v1 trainer (verl's ``sync``, ``colocate_async``, ``separate_async``, grpokit's ``dynamo``) run
    ``check_estimator_trainer`` first thing in its ``__init__``: in the TaskRunner, before any worker starts. verl
    offers no hook there, so ``PPOTrainer.__init__`` is wrapped (once per process)."""
    build = PPOTrainer.__init__
    if getattr(build, "checks_estimator", False):
        return

    @functools.wraps(build)
    def checked_init(self, config, *args, **kwargs):
        check_estimator_trainer(type(self), config)
        build(self, config, *args, **kwargs)

    checked_init.checks_estimator = True
    PPOTrainer.__init__ = checked_init


def register() -> None:
    """The trainers register when this module is imported (``register_trainer`` is a class decorator); this adds the
    estimator check to every v1 trainer's construction."""
    _check_estimators_when_trainers_are_built()
