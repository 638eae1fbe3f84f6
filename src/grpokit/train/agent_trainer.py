"""Training LLM agents in multi-turn text environments with GRPO, GiGPO or ProxMO credit.

One step: ``agent.tasks_per_step`` tasks (seeds) × ``group_size`` episodes played by the current policy (only the
active environments generate each turn, batched) → one training row per agent step with its anchor observation →
step advantages from the chosen credit estimator → the same updates as the single-turn ``Trainer``.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from grpokit.agent.manager import Answer, Episode, Turn, episode_metrics, run_episodes, step_rows
from grpokit.core.credit import CREDIT_ESTIMATORS
from grpokit.envs import make as make_env
from grpokit.evaluate import EvalResult
from grpokit.rollout import SamplingParams, generate
from grpokit.train.trainer import TrainBatch, Trainer

EVAL_SEED_OFFSET = 10_000_000  # evaluation tasks never share a seed with training tasks


class AgentTrainer(Trainer):
    """``Trainer`` whose rollouts are episodes in ``config.agent.env``; evaluation is the success rate."""

    def _setup_data(self) -> None:
        agent = self.config.agent
        CREDIT_ESTIMATORS.get(agent.credit)  # an unknown estimator fails now, listing the known ones
        self.env_params = dict(agent.env_params)
        eval_params = self.config.eval.params
        self.eval_env_params = (
            dict(eval_params) if eval_params is not None else {**self.env_params, "split": self.config.eval.split}
        )
        make_env(agent.env, **self.env_params)  # fail now on a bad name or parameter, not mid-run
        self.eval_seeds = [EVAL_SEED_OFFSET + self.config.seed * 1000 + i for i in range(self.config.eval.problems)]

    @property
    def eval_size(self) -> int:
        return len(self.eval_seeds)

    def _policy(self, params: SamplingParams, generator: torch.Generator | None):
        """A batched policy over chat prompts that keeps each answer's tokens and log-probs for training."""

        def answer(turns: list[Turn]) -> list[Answer]:
            self.model.eval()
            try:
                rollout = generate(
                    self.model,
                    self.tokenizer,
                    [turn.conversation for turn in turns],
                    params,
                    generator=generator,
                    batch_size=self.config.generation_batch_size,
                )
            finally:
                self.model.train()
            answers = []
            for i, text in enumerate(rollout.texts):
                length = int(rollout.response_mask[i].sum())
                prompt = rollout.prompt_ids[i][rollout.prompt_mask[i].bool()]
                answers.append(Answer(text, (prompt, rollout.response_ids[i, :length], rollout.log_probs[i, :length])))
            return answers

        return answer

    def _play(self, seeds: list[int], group_size: int, params: SamplingParams, env_params: dict[str, Any], generator):
        agent = self.config.agent
        return run_episodes(
            lambda: make_env(agent.env, **env_params),
            seeds,
            group_size,
            self._policy(params, generator),
            max_turns=agent.max_turns,
            history_length=agent.history_length,
            step_timeout_s=agent.step_timeout_s,
            fallback_chars=agent.fallback_chars,
        )

    def train_step(self) -> dict[str, Any]:
        config, agent = self.config, self.config.agent
        started = time.perf_counter()
        seeds = [config.seed * 1_000_003 + self.step * agent.tasks_per_step + i for i in range(agent.tasks_per_step)]
        episodes = self._play(seeds, config.group_size, self.sampling, self.env_params, self.sampling_generator)
        played = time.perf_counter()
        rows = step_rows(episodes)
        metrics: dict[str, Any] = episode_metrics(episodes)
        if rows:
            advantages = CREDIT_ESTIMATORS.call(
                agent.credit,
                [r.group_id for r in rows],
                [r.traj_id for r in rows],
                [r.anchor for r in rows],
                [r.reward * agent.reward_scale for r in rows],
                [float(r.valid) for r in rows],
                **agent.credit_params,
            )
            prompts, responses, log_probs = zip(*(r.answer.extra for r in rows), strict=True)
            batch = TrainBatch.from_sequences(
                list(prompts), list(responses), list(log_probs), advantages, self.tokenizer.pad_token_id
            )
            self._fill_reference_log_probs(batch)
            metrics.update(self.update(batch))
            metrics["response/length"] = batch.response_mask.sum(1).float().mean().item()
        self.step += 1
        metrics.update(
            {
                "reward/mean": sum(r.reward for r in rows) / len(episodes),
                "reward/accuracy": metrics.get("agent/success", 0.0),
                "agent/rows": len(rows),
                "time/play_s": played - started,
                "time/update_s": time.perf_counter() - played,
                "time/step_s": time.perf_counter() - started,
            }
        )
        metrics.setdefault("response/length", 0.0)
        metrics.setdefault("train/grad_norm", float("nan"))
        return metrics

    def run_eval(self) -> EvalResult:
        """Success rate of greedy episodes on the held-out tasks (one episode per task)."""
        params = SamplingParams(0.0, 1.0, self.config.eval.max_new_tokens or self.config.max_new_tokens)
        episodes: list[Episode] = self._play(self.eval_seeds, 1, params, self.eval_env_params, None)
        rows = step_rows(episodes)
        return EvalResult(
            correct=[float(e.won) for e in episodes],
            parsed_rate=sum(r.valid for r in rows) / max(len(rows), 1),
            mean_length=sum(e.length for e in episodes) / max(len(episodes), 1),
        )
