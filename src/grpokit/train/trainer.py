"""The lean trainer for verifiable single-turn tasks, readable top to bottom.

One step: draw prompts → (DynaMO) allocate rollouts per prompt → sample → score → outcome advantages →
``ppo_epochs`` × ``mini_batches`` optimizer updates, each accumulated over token-budget micro-batches, with the
chosen policy loss, optional DynaMO token modulation, KL to a frozen reference and entropy bonus.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor

from grpokit.attention import use_grouped_sdpa
from grpokit.config import TrainConfig, config_to_dict, load_config
from grpokit.core.advantages import compute_outcome_advantages
from grpokit.core.allocation import PromptStats, bernoulli_variance, optimal_counts
from grpokit.core.losses import aggregate_loss, compute_policy_loss, low_var_kl
from grpokit.core.modulation import dynamo_modulate
from grpokit.evaluate import EvalResult, compare, evaluate
from grpokit.host_memory import release_freed_memory
from grpokit.models import LoraSettings, Precision, load_policy, merged_lora
from grpokit.rollout import Rollout, SamplingParams, distinct_rows, generate, token_log_probs
from grpokit.tasks import Problem, build_messages, make_task
from grpokit.train.checkpoint import checkpoint_step, latest_checkpoint, load_model_weights, save_checkpoint
from grpokit.train.logger import METRICS_FILE, RunLogger, truncate_log
from grpokit.validation import user_errors, validate_config

KINDS = ("new", "mastered", "mixed", "unsolved")  # a prompt's history, for the share of rollouts spent on each


class TrainingDivergedError(RuntimeError):
    """Too many non-finite updates in a row."""


@dataclass
class TrainBatch:
    """One rollout batch on its way through the update: rows are responses."""

    input_ids: Tensor  # (B, prompt + response)
    attention_mask: Tensor
    response_mask: Tensor  # (B, response): the tokens the loss counts
    old_log_probs: Tensor  # (B, response)
    advantages: Tensor  # (B,), or (B, response) when each token has its own (an agent's whole-episode rows)
    ref_log_probs: Tensor | None = None

    @classmethod
    def from_rollout(cls, rollout: Rollout, advantages: Tensor) -> TrainBatch:
        return cls(
            input_ids=torch.cat([rollout.prompt_ids, rollout.response_ids], dim=1),
            attention_mask=torch.cat([rollout.prompt_mask, rollout.response_mask], dim=1),
            response_mask=rollout.response_mask,
            old_log_probs=rollout.log_probs,
            advantages=advantages,
        )

    @classmethod
    def from_sequences(
        cls,
        prompts: list[Tensor],
        responses: list[Tensor],
        log_probs: list[Tensor],
        advantages: Tensor | list[Tensor],
        pad: int,
        trained: list[Tensor] | None = None,
    ) -> TrainBatch:
        """Rows of different lengths: prompts left-padded, responses (and their log-probs) right-padded.

        ``advantages``: one per row, or one tensor per row with a value for each response token. ``trained``: per
        response token, whether the loss counts it (default: every token; a whole-episode row counts its answers,
        not the observations between them).
        """
        prompt_width = max(len(p) for p in prompts)
        response_width = max(len(r) for r in responses)
        rows = len(prompts)
        input_ids = torch.full((rows, prompt_width + response_width), pad, dtype=torch.long)
        attention = torch.zeros_like(input_ids)
        response_mask = torch.zeros((rows, response_width), dtype=torch.long)
        old = torch.zeros((rows, response_width), dtype=torch.float32)
        per_token = isinstance(advantages, list)
        token_advantages = torch.zeros((rows, response_width), dtype=torch.float32)
        for i, (prompt, response, lp) in enumerate(zip(prompts, responses, log_probs, strict=True)):
            input_ids[i, prompt_width - len(prompt) : prompt_width] = prompt
            input_ids[i, prompt_width : prompt_width + len(response)] = response
            attention[i, prompt_width - len(prompt) : prompt_width + len(response)] = 1
            response_mask[i, : len(response)] = 1 if trained is None else trained[i].long()
            old[i, : len(lp)] = lp
            if per_token:
                token_advantages[i, : len(response)] = advantages[i]
        return cls(input_ids, attention, response_mask, old, token_advantages if per_token else advantages)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def response_length(self) -> int:
        return self.response_mask.shape[1]

    def lengths(self) -> tuple[Tensor, Tensor]:
        """Prompt and response lengths of each row (without padding; a response's untrained tokens count)."""
        prompt_width = self.input_ids.shape[1] - self.response_length
        return self.attention_mask[:, :prompt_width].sum(1), self.attention_mask[:, prompt_width:].sum(1)

    def token_advantages(self) -> Tensor:
        """``(B, response)`` advantages: a row's advantage on each of its tokens, or the tokens' own."""
        if self.advantages.dim() == 2:
            return self.advantages
        return self.advantages[:, None].expand_as(self.response_mask).float()

    def select(self, index: Tensor, device: torch.device) -> TrainBatch:
        """Rows ``index`` on ``device``, with the padding columns that none of them uses cut away."""
        prompt_lengths, response_lengths = self.lengths()
        prompt_width = self.input_ids.shape[1] - self.response_length
        keep_prompt = int(prompt_lengths[index].max())
        keep_response = max(int(response_lengths[index].max()), 1)
        columns = slice(prompt_width - keep_prompt, prompt_width + keep_response)

        def pick(t: Tensor | None, cols: slice) -> Tensor | None:
            return None if t is None else t[index][:, cols].to(device)

        response = slice(0, keep_response)
        return TrainBatch(
            input_ids=pick(self.input_ids, columns),
            attention_mask=pick(self.attention_mask, columns),
            response_mask=pick(self.response_mask, response),
            old_log_probs=pick(self.old_log_probs, response),
            advantages=self.advantages[index].to(device)
            if self.advantages.dim() == 1
            else pick(self.advantages, response),
            ref_log_probs=pick(self.ref_log_probs, response),
        )

    def micro_batches(self, rows: Tensor, token_budget: int) -> list[Tensor]:
        """Split ``rows`` into micro-batches of at most ``token_budget`` (padded) tokens.

        Rows are ordered by prompt, then response length, so a group's rows stay together (they share one prompt
        forward pass in ``token_log_probs``) and little padding is computed.
        """
        prompt_lengths, response_lengths = self.lengths()
        _, prompt_index = distinct_rows(self.input_ids[:, : self.input_ids.shape[1] - self.response_length])
        rows = sorted(rows.tolist(), key=lambda r: (int(prompt_index[r]), int(response_lengths[r])))
        rows = torch.tensor(rows)
        batches, current, widest_prompt, widest_response = [], [], 0, 0
        for row in rows.tolist():
            prompt = max(widest_prompt, int(prompt_lengths[row]))
            response = max(widest_response, int(response_lengths[row]))
            if current and (len(current) + 1) * (prompt + response) > token_budget:
                batches.append(torch.tensor(current))
                current, prompt, response = [], int(prompt_lengths[row]), int(response_lengths[row])
            current.append(row)
            widest_prompt, widest_response = prompt, response
        if current:
            batches.append(torch.tensor(current))
        return batches


class Trainer:
    """Build with a ``TrainConfig`` (or through ``grpokit.train.factory``: ``build_trainer``, ``resume_trainer``),
    then call ``train()``."""

    eval_label = "held-out accuracy"
    # grpokit.attention's grouped_sdpa on the CPU: agents decode long masked key/value caches, where transformers'
    # sdpa copies the cache per query head; single-turn prompts are short, and the main job keeps the attention its
    # measured results were made with.
    grouped_attention = False

    def __init__(self, config: TrainConfig, run_dir: Path | None = None, *, quiet: bool = False):
        validate_config(config)
        self.config = config
        self.quiet = quiet
        torch.manual_seed(config.seed)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_dir = Path(run_dir or config.run_dir or f"runs/{config.loss}-{stamp}")
        self._setup_data()  # before the model: a malformed data row fails in a second, not after a model load

        model_config = config.model
        lora = LoraSettings(r=model_config.lora_r, alpha=model_config.lora_alpha)
        self.precision = Precision.resolve(model_config.dtype, model_config.device)
        self.model, self.tokenizer = load_policy(
            model_config.name,
            dtype=model_config.dtype,
            device=model_config.device,
            lora=lora,
            seed=config.seed,
            float32_lm_head=model_config.float32_lm_head,
            float32_lora_sum=model_config.float32_lora_sum,
        )
        if model_config.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        if model_config.release_freed_memory:
            release_freed_memory()
        if self.grouped_attention and self.precision.device.type == "cpu":
            use_grouped_sdpa(self.model)
        self.device = next(self.model.parameters()).device
        self.reference = None
        if config.kl_coef > 0:
            self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)

        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
        warmup = max(config.warmup_steps, 0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda update: min(1.0, (update + 1) / warmup) if warmup else 1.0
        )
        self.sampling = SamplingParams(config.temperature, config.top_p, config.max_new_tokens)
        # Sampling draws on the model's device; mini-batch shuffles on the CPU. Both states go into checkpoints.
        self.sampling_generator = torch.Generator(device=self.device).manual_seed(config.seed)
        self.shuffle_generator = torch.Generator().manual_seed(config.seed)
        self.stats = PromptStats()
        self.step = 0
        self.epoch = 0
        self.position = 0
        self.bad_updates_in_row = 0
        self.baseline_eval: EvalResult | None = None
        self.final_eval: EvalResult | None = None  # kept in the last checkpoint: a resumed run does not play it again
        # Only now that the model and the data are in place: a run that cannot start leaves no directory behind.
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))

    def _setup_data(self) -> None:
        """The training problems and the held-out set (``AgentTrainer`` sets up environments instead)."""
        config = self.config
        with user_errors("task"):
            self.task = make_task(config.task.name, **config.task.params)
            self.train_problems = self.task.problems(config.task.train_split, config.task.train_size, seed=config.seed)
            if not self.train_problems:
                raise ValueError(f"task {config.task.name!r} gave no {config.task.train_split!r} problems")
        eval_config = config.eval
        with user_errors("eval"):
            self.eval_task = make_task(
                eval_config.task or config.task.name,
                **(eval_config.params if eval_config.params is not None else config.task.params),
            )
            self.eval_problems = self.eval_task.problems(eval_config.split, eval_config.problems, seed=config.seed)

    @property
    def eval_size(self) -> int:
        return len(self.eval_problems)

    # ------------------------------------------------------------------------------------------ resume

    def restore(self, checkpoint: Path, state: dict[str, Any]) -> None:
        """Continue from ``checkpoint``: its weights, and ``state`` (its ``load_trainer_state``, the inverse of
        ``_state``); metrics logged after its step are dropped. ``grpokit.train.factory.resume_trainer`` builds the
        right trainer for a run directory and calls this."""
        load_model_weights(self.model, checkpoint)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.sampling_generator.set_state(state["sampling_generator"])
        self.shuffle_generator.set_state(state["shuffle_generator"])
        torch.set_rng_state(state["torch_rng"])
        self.stats.load_state_dict(state["prompt_stats"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.bad_updates_in_row = state["bad_updates_in_row"]
        if state.get("baseline_eval") is not None:
            self.baseline_eval = EvalResult(**state["baseline_eval"])
        if state.get("final_eval") is not None:
            self.final_eval = EvalResult(**state["final_eval"])
        truncate_log(self.run_dir / METRICS_FILE, self.step)

    def _state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "sampling_generator": self.sampling_generator.get_state(),
            "shuffle_generator": self.shuffle_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "prompt_stats": self.stats.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "position": self.position,
            "bad_updates_in_row": self.bad_updates_in_row,
            "baseline_eval": None if self.baseline_eval is None else vars(self.baseline_eval),
            "final_eval": None if self.final_eval is None else vars(self.final_eval),
        }

    def save(self) -> Path:
        return save_checkpoint(
            self.run_dir, self.step, self.model, self.tokenizer, self._state(), self.config.keep_checkpoints
        )

    # ------------------------------------------------------------------------------------------ data

    def _epoch_order(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.epoch)
        return torch.randperm(len(self.train_problems), generator=generator).tolist()

    def next_prompts(self, count: int) -> list[Problem]:
        """The next ``count`` training problems in a seeded per-epoch order; refreshes DynaMO priorities per epoch."""
        picked = []
        order = self._epoch_order()
        while len(picked) < count:
            if self.position >= len(order):
                self.stats.end_epoch()
                self.epoch += 1
                self.position = 0
                order = self._epoch_order()
            picked.append(self.train_problems[order[self.position]])
            self.position += 1
        return picked

    def rollout_counts(self, problems: list[Problem]) -> list[int]:
        config = self.config
        if not config.allocation.enabled:
            return [config.group_size] * len(problems)
        allocation = config.allocation
        return self.stats.allocate(
            [p.id for p in problems],
            len(problems) * config.group_size,
            n_min=allocation.n_min,
            n_max=allocation.n_max,
            initial_budget=allocation.initial_budget,
            rule=allocation.rule,
        )

    # ------------------------------------------------------------------------------------------ one step

    def train_step(self) -> dict[str, Any]:
        config = self.config
        started = time.perf_counter()
        problems = self.next_prompts(config.prompts_per_step)
        counts = self.rollout_counts(problems)
        rows = [p for p, n in zip(problems, counts, strict=True) for _ in range(n)]  # metadata repeated n_i times
        history = self._history_kind(problems)  # before this step's scores
        rollout = self.sample(rows)
        generated = time.perf_counter()

        scores = [self.task.score(p, text) for p, text in zip(rows, rollout.texts, strict=True)]
        self.stats.update_many([p.id for p in rows], [s.correct for s in scores])  # before any reordering
        rewards = [s.reward for s in scores]
        if config.truncated_reward is not None:  # a response cut off at the limit never gave its final answer
            rewards = [config.truncated_reward if cut else r for r, cut in zip(rewards, rollout.truncated, strict=True)]
        advantages = compute_outcome_advantages(
            config.advantage, rewards, [p.id for p in rows], **config.advantage_params
        )
        batch = TrainBatch.from_rollout(rollout, advantages)
        self._fill_reference_log_probs(batch)
        update_metrics = self.update(batch)
        self.step += 1

        groups: dict[str, list[float]] = {}
        for p, r in zip(rows, rewards, strict=True):
            groups.setdefault(p.id, []).append(r)
        lengths = rollout.response_mask.sum(dim=1).float()
        # DynaMO's objective: the summed Bernoulli variance of the prompts' success estimates, sum p(1-p)/n_i, with
        # p from every rollout so far, for these counts, for uniform ones and for the best counts had p been known.
        success = [self.stats.num_correct(p.id) / max(self.stats.sample_count(p.id), 1) for p in problems]
        budget, bounds = sum(counts), {"n_min": config.allocation.n_min, "n_max": config.allocation.n_max}
        spent = {kind: sum(n for k, n in zip(history, counts, strict=True) if k == kind) / budget for kind in KINDS}
        return {
            "reward/mean": sum(rewards) / len(rewards),
            "reward/accuracy": sum(s.correct for s in scores) / len(scores),
            "reward/parsed_rate": sum(s.parsed for s in scores) / len(scores),
            "reward/mixed_groups": sum(len(set(g)) > 1 for g in groups.values()) / len(groups),
            "response/length": lengths.mean().item(),
            "response/truncated_rate": rollout.truncated.float().mean().item(),
            "allocation/counts": counts,
            "allocation/min": min(counts),
            "allocation/max": max(counts),
            "allocation/bernoulli_variance": bernoulli_variance(success, counts),
            "allocation/bernoulli_variance_uniform": bernoulli_variance(success, [config.group_size] * len(success)),
            "allocation/bernoulli_variance_optimal": bernoulli_variance(
                success, optimal_counts(success, budget, **bounds)
            ),
            **{f"allocation/rollouts_{kind}": share for kind, share in spent.items()},
            **update_metrics,
            "time/generate_s": generated - started,
            "time/update_s": time.perf_counter() - generated,
            "time/step_s": time.perf_counter() - started,
            "epoch": self.epoch,
        }

    def _history_kind(self, problems: list[Problem]) -> list[str]:
        """Each prompt as its history so far has it: ``mastered`` (accuracy at least DynaMO's mastery level),
        ``unsolved`` (never right), ``mixed``, or ``new`` (fewer rollouts than a priority needs)."""
        kinds = []
        for p in problems:
            samples, correct = self.stats.sample_count(p.id), self.stats.num_correct(p.id)
            if samples < self.stats.min_samples:
                kinds.append("new")
            elif correct >= self.stats.mastery * samples:
                kinds.append("mastered")
            else:
                kinds.append("unsolved" if correct == 0 else "mixed")
        return kinds

    def sample(self, rows: list[Problem]) -> Rollout:
        """One response to each of ``rows`` from the current policy, at the training temperature."""
        self.model.eval()
        with self.precision.autocast():
            rollout = generate(
                self.model,
                self.tokenizer,
                [build_messages(p) for p in rows],
                self.sampling,
                generator=self.sampling_generator,
                batch_size=self.config.generation_batch_size,
            )
        self.model.train()
        return rollout

    @torch.no_grad()
    def _fill_reference_log_probs(self, batch: TrainBatch) -> None:
        """π_old recomputed by a forward pass (unless the sampler's are used) and π_ref when there is a KL term."""
        models = []
        if self.recomputes_old_log_probs:
            models.append(("old_log_probs", self.model))
        if self.reference is not None:
            models.append(("ref_log_probs", self.reference))
        if not models:
            return
        for name, model in models:
            values = torch.zeros_like(batch.old_log_probs)
            for micro in batch.micro_batches(torch.arange(len(batch)), self.config.micro_batch_tokens):
                sub = batch.select(micro, self.device)
                with self.precision.autocast():
                    log_probs, _ = token_log_probs(
                        model,
                        sub.input_ids,
                        sub.attention_mask,
                        sub.response_length,
                        temperature=self._temperature(),
                        scored=sub.response_mask,
                    )
                values[micro, : sub.response_length] = log_probs.float().cpu()
            setattr(batch, name, values * batch.response_mask)

    @property
    def recomputes_old_log_probs(self) -> bool:
        """``recompute_old_log_probs``, with ``auto`` resolved: recompute unless the compute dtype is float32."""
        setting = self.config.recompute_old_log_probs
        return self.precision.compute != torch.float32 if setting == "auto" else setting

    def _temperature(self) -> float:
        return self.config.temperature if self.config.temperature > 0 else 1.0

    def update(self, batch: TrainBatch) -> dict[str, float]:
        """``ppo_epochs`` × ``mini_batches`` optimizer updates over ``batch``."""
        config = self.config
        sums: dict[str, float] = {}
        grad_norms, skipped = [], 0
        for _ in range(config.ppo_epochs):
            order = torch.randperm(len(batch), generator=self.shuffle_generator)
            for mini in order.chunk(min(config.mini_batches, len(batch))):
                self.optimizer.zero_grad(set_to_none=True)
                finite = self.accumulate_gradients(batch, mini, sums)
                trainable = [p for p in self.model.parameters() if p.requires_grad]
                if all(p.grad is None for p in trainable):  # every row skipped: AdamW steps as on a zero gradient
                    for p in trainable:
                        p.grad = torch.zeros_like(p)
                grad_norm = torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
                if not finite or not torch.isfinite(grad_norm):
                    self.optimizer.zero_grad(set_to_none=True)
                    skipped += 1
                    self.bad_updates_in_row += 1
                    if not self.quiet:
                        print(f"step {self.step}: non-finite loss or gradient, update skipped")
                    if self.bad_updates_in_row >= config.max_bad_steps:
                        raise TrainingDivergedError(
                            f"{self.bad_updates_in_row} non-finite updates in a row (max_bad_steps="
                            f"{config.max_bad_steps}); last good checkpoint: {latest_checkpoint(self.run_dir)}"
                        )
                    continue
                self.bad_updates_in_row = 0
                grad_norms.append(grad_norm.item())
                self.optimizer.step()
                self.scheduler.step()
        tokens_seen = max(sums.pop("tokens", 0.0), 1.0)
        out = {key: value / tokens_seen for key, value in sums.items()}
        out["train/grad_norm"] = sum(grad_norms) / len(grad_norms) if grad_norms else math.nan
        out["train/skipped_updates"] = skipped
        out["train/lr"] = self.scheduler.get_last_lr()[0]
        return out

    def accumulate_gradients(self, batch: TrainBatch, rows: Tensor, sums: dict[str, float]) -> bool:
        """Backpropagate the loss of the mini-batch ``rows``, one token-budget micro-batch at a time.

        Every aggregate is normalised by the whole mini-batch (its tokens, its sequences, or the run's constant), so
        the accumulated gradient equals one pass over the mini-batch. Token-weighted metric sums and the token count
        (``"tokens"``) are added to ``sums``. Returns False, and stops backpropagating, at a non-finite loss.
        """
        num_tokens = batch.response_mask[rows].sum().clamp(min=1).item()
        num_seqs = (batch.response_mask[rows].sum(dim=1) > 0).sum().clamp(min=1).item()
        if self.config.skip_zero_advantage_rows:
            rows = rows[(batch.token_advantages()[rows] != 0).any(dim=1)]
        finite = True
        for micro in batch.micro_batches(rows, self.config.micro_batch_tokens):
            sub = batch.select(micro, self.device)
            loss, metrics = self._micro_batch_loss(sub, num_tokens, num_seqs)
            finite &= bool(torch.isfinite(loss))
            if finite:
                loss.backward()
            weight = sub.response_mask.sum().item()
            sums["tokens"] = sums.get("tokens", 0.0) + weight
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value * weight
        return finite

    def _micro_batch_loss(self, sub: TrainBatch, num_tokens: float, num_seqs: float) -> tuple[Tensor, dict[str, float]]:
        config = self.config
        mask = sub.response_mask
        with self.precision.autocast():  # the forward pass only; backward runs outside the region
            log_probs, entropy = token_log_probs(
                self.model,
                sub.input_ids,
                sub.attention_mask,
                sub.response_length,
                temperature=self._temperature(),
                with_entropy=True,
                entropy_grad=config.entropy_coef > 0,
                scored=mask,
            )
        advantages = sub.token_advantages()
        if config.modulation.enabled:
            advantages = dynamo_modulate(
                advantages, log_probs.detach(), sub.old_log_probs, entropy.detach(), mask, **config.modulation.params
            )
        # One normaliser for the whole run in every term (Dr. GRPO's constant; the others ignore it).
        counts = {
            "batch_num_tokens": num_tokens,
            "batch_num_seqs": num_seqs,
            "loss_scale_factor": config.loss_scale_factor or config.max_new_tokens,
        }
        loss, metrics = compute_policy_loss(
            config.loss,
            log_probs,
            sub.old_log_probs,
            advantages,
            mask,
            loss_agg_mode=config.loss_agg_mode,
            **counts,
            **config.loss_params,
        )
        to_micro_scale = num_tokens / max(mask.sum().item(), 1)  # the aggregates are over the mini-batch's tokens
        out = {f"loss/{key}": value for key, value in metrics.items()}
        out["loss/policy"] = loss.item() * to_micro_scale
        entropy_mean = aggregate_loss(entropy, mask, config.loss_agg_mode, **counts)
        out["train/entropy"] = entropy_mean.item() * to_micro_scale
        if self.reference is not None:
            kl = aggregate_loss(low_var_kl(log_probs, sub.ref_log_probs), mask, config.loss_agg_mode, **counts)
            loss = loss + config.kl_coef * kl
            out["train/kl_ref"] = kl.item() * to_micro_scale
        if config.entropy_coef > 0:
            loss = loss - config.entropy_coef * entropy_mean
        return loss, out

    # ------------------------------------------------------------------------------------------ loop

    def run_eval(self) -> EvalResult:
        config = self.config.eval
        with self.precision.autocast(), merged_lora(self.model):
            return evaluate(
                self.model,
                self.tokenizer,
                self.eval_task,
                self.eval_problems,
                max_new_tokens=config.max_new_tokens or self.config.max_new_tokens,
                samples=config.samples,
                temperature=config.temperature,
                batch_size=config.batch_size,
                seed=self.config.seed,
            )

    def train(self) -> dict[str, Any]:
        """Run to ``config.steps`` with evaluation before, every ``eval.every`` steps and after; returns the summary.

        A fresh run checkpoints step 0 after its first evaluation, the rest at ``checkpoint_every`` and at the end.
        """
        from grpokit.train.progress import Progress

        config = self.config
        logger = RunLogger(
            self.run_dir,
            tensorboard=config.tensorboard,
            wandb_project=config.wandb_project,
            config=config_to_dict(config),
        )
        progress = Progress(config.steps, start=self.step, quiet=self.quiet, eval_label=self.eval_label)
        try:
            if self.baseline_eval is None:
                with progress.status("evaluating the model before training"):
                    self.baseline_eval = self.run_eval()
                logger.log(self.step, self.baseline_eval.metrics())
                progress.print_eval("before training", self.baseline_eval, self.eval_size)
                self.save()  # the starting point (an agent's cloned model): a resumed run begins here
            while self.step < config.steps:
                metrics = self.train_step()
                logger.log(self.step, metrics)
                progress.advance(self.step, metrics)
                if config.eval.every and self.step % config.eval.every == 0 and self.step < config.steps:
                    result = self.run_eval()
                    logger.log(self.step, result.metrics())
                    progress.print_eval(f"step {self.step}", result, self.eval_size)
                if config.checkpoint_every and self.step % config.checkpoint_every == 0:
                    self.save()
            if self.final_eval is None:
                with progress.status("evaluating the trained model"):
                    self.final_eval = self.run_eval()
                logger.log(self.step, self.final_eval.metrics())
                self.save()
        finally:
            progress.close()
            logger.close()
        summary = self.summary(self.final_eval) | self.finish(self.final_eval)
        (self.run_dir / "eval.json").write_text(json.dumps(summary, indent=2) + "\n")
        progress.print_summary(summary, self.run_dir)
        return summary

    def summary(self, final: EvalResult) -> dict[str, Any]:
        """What ``eval.json`` records: accuracy before and after training with SEs, and their paired gain; with
        ``eval.samples = k`` the same for avg@k (``avg_at_k_*``) and pass@k before and after."""
        return {"problems": self.eval_size, **compare(self.baseline_eval, final), "steps": self.step}

    def finish(self, final: EvalResult) -> dict[str, Any]:
        """Work after the final evaluation whose results go into ``eval.json`` (``AgentTrainer``: the cloning
        control); none here."""
        return {}


def finished_step(run_dir: Path) -> int | None:
    """The last step of a run that has already finished (``eval.json`` written, final checkpoint at ``steps``)."""
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None or not (run_dir / "eval.json").exists():
        return None
    step = checkpoint_step(checkpoint)
    return step if step >= load_config(run_dir / "config.yaml").steps else None
