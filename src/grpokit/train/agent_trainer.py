"""Training LLM agents in multi-turn text environments with GRPO, GiGPO or ProxMO credit.

One step: ``agent.tasks_per_step`` tasks (seeds) × ``group_size`` episodes played by the current policy (only the
active environments generate each turn, batched) → step advantages from the chosen credit estimator over the steps'
anchor observations → training rows (``agent.rows``: one per agent step, or one per episode whose answers carry
their steps' advantages) → the same updates as the single-turn ``Trainer``.
"""

from __future__ import annotations

import json
import math
import time
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any

import torch

from grpokit.agent import baselines
from grpokit.agent.conversation import EpisodeTokens
from grpokit.agent.manager import Answer, EnvPool, Episode, Turn, episode_metrics, run_episodes, step_rows
from grpokit.config import TrainConfig, UserError, load_config
from grpokit.core.credit import CREDIT_ESTIMATORS, episode_balance_weights
from grpokit.envs import make as make_env
from grpokit.evaluate import EvalResult, paired_gain, standard_error
from grpokit.models import merged_lora
from grpokit.rollout import ConversationCache, SamplingParams, generate
from grpokit.train.behaviour_cloning import chat_batch, clone_expert
from grpokit.train.logger import read_metrics, truncate_log
from grpokit.train.trainer import TrainBatch, Trainer
from grpokit.validation import user_errors

EVAL_SEED_OFFSET = 10_000_000  # evaluation tasks never share a seed with training tasks
WARM_START_SEED_OFFSET = 20_000_000  # nor do behaviour-cloning tasks
EVAL_EPISODES_FILE = "eval_episodes.jsonl"  # the greedy held-out games of every evaluation
CONTROL_EPISODES_FILE = "control_episodes.jsonl"  # the cloning control's held-out games
TRAIN_EPISODES_FILE = "train_episodes.jsonl"  # every training episode, with each turn's advantage
BASELINES_FILE = "baselines.json"  # reference policies on the held-out games (grpokit.agent.baselines)


def episode_batch(episodes: list[Episode], advantages: list[float], pad: int) -> TrainBatch:
    """One row per episode (its ``EpisodeTokens``, kept in its answers' ``extra``): each answer trained with its
    step's advantage; ``advantages`` are the steps', in ``step_rows`` order."""
    played = [episode for episode in episodes if episode.records]
    ends = list(accumulate(len(episode.records) for episode in played))
    answer_advantages = [advantages[end - len(e.records) : end] for e, end in zip(played, ends, strict=True)]
    return chat_batch([e.records[0].answer.extra for e in played], answer_advantages, pad)


def trainable_weights(model) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s trained weights on the CPU: its LoRA adapter, or its whole state."""
    from peft import PeftModel, get_peft_model_state_dict

    weights = get_peft_model_state_dict(model) if isinstance(model, PeftModel) else model.state_dict()
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in weights.items()}


def set_trainable_weights(model, weights: dict[str, torch.Tensor]) -> None:
    """Put ``trainable_weights``' copy back into ``model``."""
    from peft import PeftModel, set_peft_model_state_dict

    if isinstance(model, PeftModel):
        unexpected = set_peft_model_state_dict(model, weights).unexpected_keys
        if unexpected:
            raise ValueError(f"weights of another adapter: {', '.join(unexpected[:3])}")
    else:
        model.load_state_dict(weights)


def last_evaluation(run_dir: Path) -> list[dict[str, Any]]:
    """The games of a run's last greedy held-out evaluation (from ``eval_episodes.jsonl``), in the order played."""
    path = Path(run_dir) / EVAL_EPISODES_FILE
    if not path.exists():
        raise UserError(f"{run_dir} has no {EVAL_EPISODES_FILE}: not an agent run, or not evaluated yet")
    games = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    last = max(game["step"] for game in games)
    problems = load_config(Path(run_dir) / "config.yaml").eval.problems
    return [game for game in games if game["step"] == last][-problems:]


def _game_identity(game: dict[str, Any]) -> tuple[str, str | None]:
    return game["task"], game["turns"][0]["observation"] if game["turns"] else None


def compare_runs(run_a: Path, run_b: Path) -> dict[str, Any]:
    """Run A's last held-out success minus run B's, paired game by game (RL against a cloning control, say).

    The runs must have played the same games (the same preset's split): each game's task and first observation are
    compared.
    """
    games_a, games_b = last_evaluation(run_a), last_evaluation(run_b)
    if [_game_identity(g) for g in games_a] != [_game_identity(g) for g in games_b]:
        raise UserError(f"{run_a} and {run_b} did not play the same held-out games (compare runs of one preset)")
    won_a, won_b = [float(g["won"]) for g in games_a], [float(g["won"]) for g in games_b]
    difference, difference_se = paired_gain(won_b, won_a)
    return {
        "games": len(won_a),
        "accuracy_a": sum(won_a) / len(won_a),
        "accuracy_a_se": standard_error(won_a),
        "accuracy_b": sum(won_b) / len(won_b),
        "accuracy_b_se": standard_error(won_b),
        "difference": difference,
        "difference_se": difference_se,
        "won_by_a_only": sum(a > b for a, b in zip(won_a, won_b, strict=True)),
        "won_by_b_only": sum(b > a for a, b in zip(won_a, won_b, strict=True)),
    }


def held_out_env_params(config: TrainConfig) -> dict[str, Any]:
    """The environment parameters of the held-out games: ``eval.params`` (else the training ones) on ``eval.split``
    (a split named in ``eval.params`` agrees with it: ``validate_config``)."""
    params = config.eval.params if config.eval.params is not None else config.agent.env_params
    return {**params, "split": config.eval.split}


class AgentTrainer(Trainer):
    """``Trainer`` whose rollouts are episodes in ``config.agent.env``; evaluation is the success rate."""

    eval_label = "held-out success rate"
    grouped_attention = True
    control_start: dict[str, torch.Tensor] | None = None  # the weights RL starts from, kept for the cloning control

    def _setup_data(self) -> None:
        agent = self.config.agent
        env_params = dict(agent.env_params)
        eval_env_params = held_out_env_params(self.config)
        self.train_envs = EnvPool(partial(make_env, agent.env, **env_params))
        self.eval_envs = EnvPool(partial(make_env, agent.env, **eval_env_params))
        self.curriculum_envs = [
            (stage["steps"], EnvPool(partial(make_env, agent.env, **{**env_params, **stage["env_params"]})))
            for stage in agent.curriculum
        ]
        with user_errors("agent.env_params"):  # fail now on a bad parameter value, not mid-run
            self.train_envs.get(1)
        for i, (_, envs) in enumerate(self.curriculum_envs):
            with user_errors(f"agent.curriculum[{i}].env_params"):
                envs.get(1)
        with user_errors("eval"):
            self.eval_envs.get(1)
        # The split fixes the held-out games, not the run's seed: every run of a preset plays the same games, so runs
        # (and seeds) compare on one game set. They are the games seed 0 played when the seed chose them.
        self.eval_seeds = [EVAL_SEED_OFFSET + i for i in range(self.config.eval.problems)]
        self.eval_env_params = eval_env_params

    @property
    def eval_size(self) -> int:
        return len(self.eval_seeds)

    def _policy(self, params: SamplingParams, generator: torch.Generator | None, batch_size: int):
        """A batched policy over chat prompts (``batch_size`` generated together) that keeps each answer's tokens and
        log-probs for training."""

        def answer(turns: list[Turn]) -> list[Answer]:
            self.model.eval()
            try:
                with self.precision.autocast():
                    rollout = generate(
                        self.model,
                        self.tokenizer,
                        [turn.conversation for turn in turns],
                        params,
                        generator=generator,
                        batch_size=batch_size,
                    )
            finally:
                self.model.train()
            answers = []
            for i, text in enumerate(rollout.texts):
                length = int(rollout.response_mask[i].sum())
                prompt = rollout.prompt_ids[i][rollout.prompt_mask[i].bool()]
                extra = (prompt, rollout.response_ids[i, :length], rollout.log_probs[i, :length])
                answers.append(Answer(text, extra, truncated=bool(rollout.truncated[i])))
            return answers

        return answer

    def _episode_policy(self, params: SamplingParams, generator: torch.Generator | None):
        """A policy over whole-episode chats (``agent.rows: episode``): each episode's tokens and key/value cache are
        kept across turns, so a turn prefills only its new user message; an answer's ``extra`` is its episode's
        ``EpisodeTokens``."""
        cache = ConversationCache(self.model, self.tokenizer, generator)
        episodes: dict[str, EpisodeTokens] = {}

        def answer(turns: list[Turn]) -> list[Answer]:
            new_tokens = []
            for turn in turns:
                text = turn.conversation[-1]["content"]
                if turn.traj_id in episodes:
                    new_tokens.append(episodes[turn.traj_id].next_user(self.tokenizer, text))
                else:
                    episodes[turn.traj_id] = EpisodeTokens.start(self.tokenizer, text)
                    new_tokens.append(list(episodes[turn.traj_id].ids))
            self.model.eval()
            try:
                with self.precision.autocast():
                    sampled = cache.answer([turn.traj_id for turn in turns], new_tokens, params)
            finally:
                self.model.train()
            answers = []
            for turn, (ids, log_probs, ended) in zip(turns, sampled, strict=True):
                episode = episodes[turn.traj_id]
                episode.add_answer(ids, log_probs, ended)
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                answers.append(Answer(text, episode, truncated=not ended))
            return answers

        return answer

    def _play(
        self, envs: EnvPool, seeds: list[int], group_size: int, params: SamplingParams, generator, batch_size: int
    ) -> list[Episode]:
        """``group_size`` episodes of each seed; with episode rows, ``batch_size`` episodes at a time (each batch
        keeps its episodes' key/value caches until they end)."""
        agent = self.config.agent
        play = partial(
            run_episodes,
            envs,
            group_size=group_size,
            max_turns=agent.max_turns,
            history_length=agent.history_length,
            step_timeout_s=agent.step_timeout_s,
            fallback_chars=agent.fallback_chars,
            prompt_style=agent.prompt_style,
            rows=agent.rows,
        )
        if agent.rows == "step":
            return play(seeds, policy=self._policy(params, generator, batch_size))
        per_batch = max(batch_size // group_size, 1)
        return [
            episode
            for i in range(0, len(seeds), per_batch)
            for episode in play(seeds[i : i + per_batch], policy=self._episode_policy(params, generator))
        ]

    @staticmethod
    def _task_seeds(first: int, step: int, count: int) -> list[int]:
        """The ``count`` task seeds of ``step`` in the run of seeds starting at ``first``."""
        return [first + step * count + i for i in range(count)]

    def _envs_of_step(self, step: int) -> EnvPool:
        """The environments RL step ``step`` (from 0) plays in: its ``agent.curriculum`` stage's, then env_params'."""
        end = 0
        for steps, envs in self.curriculum_envs:
            end += steps
            if step < end:
                return envs
        return self.train_envs

    def train_step(self) -> dict[str, Any]:
        config, agent = self.config, self.config.agent
        started = time.perf_counter()
        episodes = self._play(
            self._envs_of_step(self.step),
            self._task_seeds(config.seed * 1_000_003, self.step, agent.tasks_per_step),
            config.group_size,
            self.sampling,
            self.sampling_generator,
            config.generation_batch_size,
        )
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
            if agent.balance_episodes:
                advantages = advantages * episode_balance_weights([r.traj_id for r in rows])
            if agent.rows == "episode":
                batch = episode_batch(episodes, advantages.tolist(), self.tokenizer.pad_token_id)
            else:
                prompts, responses, log_probs = zip(*(r.answer.extra for r in rows), strict=True)
                batch = TrainBatch.from_sequences(
                    list(prompts), list(responses), list(log_probs), advantages, self.tokenizer.pad_token_id
                )
            self._fill_reference_log_probs(batch)
            metrics["agent/advantage_row_mean"] = advantages.mean().item()
            self._save_episodes(TRAIN_EPISODES_FILE, self.step + 1, episodes, advantages.tolist())
            metrics.update(self.update(batch))
            metrics["response/length"] = batch.response_mask.sum(1).float().mean().item()
        self.step += 1
        metrics.update(
            {
                "reward/mean": sum(r.reward for r in rows) / len(episodes),
                "reward/accuracy": metrics.get("agent/success", 0.0),
                "agent/steps": len(rows),
                "agent/rows": len(batch) if rows else 0,
                "response/truncated_rate": sum(r.answer.truncated for r in rows) / max(len(rows), 1),
                "time/play_s": played - started,
                "time/update_s": time.perf_counter() - played,
                "time/step_s": time.perf_counter() - started,
            }
        )
        metrics.setdefault("response/length", 0.0)
        metrics.setdefault("train/grad_norm", float("nan"))
        return metrics

    def train(self) -> dict[str, Any]:
        """Behaviour cloning first when ``agent.warm_start_steps`` asks for it (a fresh run only), then RL.

        With cloning, the base model is evaluated before it, so ``eval.json`` has three numbers: the base model
        (``accuracy_base``), the cloned one (``accuracy_before``: ``gain`` is what RL added) and the trained one.
        A fresh run first plays the reference policies on the held-out games (``baselines.json``, in ``eval.json``).
        """
        fresh = self.step == 0 and self.baseline_eval is None
        if fresh:
            self.measure_baselines()
        if fresh and self.config.agent.warm_start_steps > 0:
            base = self.run_eval(self.config.eval.base_problems or None)
            if not self.quiet:
                print(
                    f"{self.eval_label} of the base model: {base.accuracy:.3f} ± {base.accuracy_se:.3f} "
                    f"({len(base.correct)} problems)"
                )
            self.warm_start(base)
        if fresh and self.config.agent.control_steps > 0:
            self.control_start = trainable_weights(self.model)
        return super().train()

    def restore(self, checkpoint: Path, state: dict[str, Any]) -> None:
        super().restore(checkpoint, state)
        self.control_start = state.get("control_start")
        if self.config.agent.control_steps > 0 and self.control_start is None:
            raise UserError(
                f"{checkpoint} does not hold the model RL started from, which agent.control_steps needs: "
                "run the control afresh"
            )
        for name in (EVAL_EPISODES_FILE, TRAIN_EPISODES_FILE):
            truncate_log(self.run_dir / name, self.step)

    def _state(self) -> dict[str, Any]:
        state = super()._state()
        if self.control_start is not None:
            state["control_start"] = self.control_start
        return state

    def summary(self, final: EvalResult) -> dict[str, Any]:
        summary = super().summary(final)
        if (self.run_dir / BASELINES_FILE).exists():
            summary |= json.loads((self.run_dir / BASELINES_FILE).read_text())
        warm_start = self.run_dir / "warm_start.json"
        if warm_start.exists():
            base = json.loads(warm_start.read_text())
            summary |= {key: base[key] for key in ("problems_base", "accuracy_base", "accuracy_base_se") if key in base}
        return summary

    def measure_baselines(self) -> dict[str, float]:
        """Play the environment's reference policies (random, random walk, expert) on the held-out games; saved in
        ``baselines.json``."""
        measured = baselines.measure(
            self.config.agent.env, self.eval_env_params, self.eval_seeds, self.config.agent.max_turns
        )
        (self.run_dir / BASELINES_FILE).write_text(json.dumps(measured))
        if not self.quiet:
            print(
                "on the held-out games: "
                + ", ".join(f"{k} {v:.3f}" for k, v in measured.items() if not k.endswith("_se"))
            )
        return measured

    def warm_start(self, base: EvalResult | None = None) -> list[float]:
        """``agent.warm_start_steps`` supervised steps on expert episodes; the KL reference becomes the result.

        ``warm_start.json`` keeps the losses and, when given, the base model's evaluation ``base``.
        """
        agent = self.config.agent
        if not self.quiet:
            print(f"behaviour cloning from the expert: {agent.warm_start_steps} steps ...")
        losses = self._clone(agent.warm_start_steps)
        if self.reference is not None:
            self.reference.load_state_dict(self.model.state_dict())
        record: dict[str, Any] = {"loss": losses}
        if base is not None:
            record |= {
                "problems_base": len(base.correct),
                "accuracy_base": base.accuracy,
                "accuracy_base_se": base.accuracy_se,
            }
        (self.run_dir / "warm_start.json").write_text(json.dumps(record))
        return losses

    def _clone(self, steps: int, first_step: int = 0) -> list[float]:
        """``steps`` behaviour-cloning steps on the expert episodes of cloning steps ``first_step`` onwards."""
        agent, config = self.config.agent, self.config
        first = WARM_START_SEED_OFFSET + config.seed * 100_000
        tasks = agent.warm_start_tasks if agent.warm_start_tasks is not None else agent.tasks_per_step
        return clone_expert(
            self.model,
            self.tokenizer,
            self.train_envs,
            lambda step: self._task_seeds(first, first_step + step, tasks),
            steps=steps,
            lr=agent.warm_start_lr,
            max_turns=agent.max_turns,
            history_length=agent.history_length,
            token_budget=config.micro_batch_tokens,
            precision=self.precision,
            prompt_style=agent.prompt_style,
            rows=agent.rows,
            report=None if self.quiet else lambda step, loss: print(f"  cloning step {step:>3}  loss {loss:.3f}"),
        )

    def finish(self, final: EvalResult) -> dict[str, Any]:
        """With ``agent.control_steps``, the cloning control's numbers for ``eval.json`` (``cloning_control``)."""
        return self.cloning_control(final) if self.config.agent.control_steps > 0 else {}

    def cloning_control(self, trained: EvalResult) -> dict[str, Any]:
        """RL against more of what came before it: the model RL started from (the cloned one, with cloning) is cloned
        on for ``agent.control_steps`` steps, on the expert episodes after the warm start's, with a fresh AdamW at
        ``warm_start_lr``, and plays the held-out games (``control_episodes.jsonl``). Returns its success and RL's
        (``trained``) minus it, paired game by game, with the seconds RL's steps and the control's cloning took.
        The trained model is back in place afterwards; the control's weights are not kept."""
        agent = self.config.agent
        (self.run_dir / CONTROL_EPISODES_FILE).unlink(missing_ok=True)  # what a killed control left
        rl_weights = trainable_weights(self.model)
        set_trainable_weights(self.model, self.control_start)
        try:
            if not self.quiet:
                print(f"cloning control: {agent.control_steps} more behaviour-cloning steps ...")
            started = time.perf_counter()
            self._clone(agent.control_steps, first_step=agent.warm_start_steps)
            seconds = time.perf_counter() - started
            control = self.run_eval(episodes_file=CONTROL_EPISODES_FILE)
        finally:
            set_trainable_weights(self.model, rl_weights)
        difference, difference_se = paired_gain(control.correct, trained.correct)
        if not self.quiet:
            print(
                f"{self.eval_label} of the control: {control.accuracy:.3f} ± {control.accuracy_se:.3f}; "
                f"RL minus control {difference:+.3f} ± {difference_se:.3f} (paired SE)"
            )
        return {
            "control_steps": agent.control_steps,
            "accuracy_control": control.accuracy,
            "accuracy_control_se": control.accuracy_se,
            "rl_minus_control": difference,
            "rl_minus_control_se": difference_se,
            "control_seconds": seconds,
            "rl_seconds": sum(row.get("time/step_s") or 0.0 for row in read_metrics(self.run_dir)),
        }

    def run_eval(self, problems: int | None = None, episodes_file: str = EVAL_EPISODES_FILE) -> EvalResult:
        """Success rate of greedy episodes on the held-out tasks (one episode per task; the first ``problems`` of
        them when given); truncation is counted per answer, and the untruncated accuracy is over the games none of
        whose answers hit the token limit.

        With ``eval.samples = k > 0`` also ``k`` sampled episodes per task at ``eval.temperature``: avg@k is their
        mean success, pass@k (success@k) the share of tasks won at least once.
        """
        config = self.config.eval
        seeds = self.eval_seeds[:problems]
        max_new_tokens = config.max_new_tokens or self.config.max_new_tokens
        greedy = SamplingParams(0.0, 1.0, max_new_tokens)
        sampled: list[Episode] = []
        with merged_lora(self.model):
            episodes: list[Episode] = self._play(self.eval_envs, seeds, 1, greedy, None, config.batch_size)
            if config.samples > 0:
                generator = torch.Generator(device=self.precision.device).manual_seed(self.config.seed)
                params = SamplingParams(config.temperature, 1.0, max_new_tokens)
                sampled = self._play(self.eval_envs, seeds, config.samples, params, generator, config.batch_size)
        self._save_episodes(episodes_file, self.step, episodes)
        rows = step_rows(episodes)
        ended = [e.won for e in episodes if not any(r.answer.truncated for r in e.records)]
        result = EvalResult(
            correct=[float(e.won) for e in episodes],
            parsed_rate=sum(r.valid for r in rows) / max(len(rows), 1),
            mean_length=sum(e.length for e in episodes) / max(len(episodes), 1),
            truncated_rate=sum(r.answer.truncated for r in rows) / max(len(rows), 1),
            untruncated_accuracy=sum(ended) / len(ended) if ended else math.nan,
        )
        if config.samples > 0:
            wins: dict[str, int] = {}  # per task, in the order the tasks were played
            for episode in sampled:
                wins[episode.group_id] = wins.get(episode.group_id, 0) + episode.won
            result.record_samples(list(wins.values()), config.samples)
        return result

    def _save_episodes(
        self, filename: str, step: int, episodes: list[Episode], advantages: list[float] | None = None
    ) -> None:
        """Append ``episodes`` to ``filename`` in the run directory, one line per episode: what the agent saw,
        answered and did at each turn (with the turn's advantage when given), and whether it won.

        ``eval_episodes.jsonl`` holds the greedy held-out games (with cloning, step 0 comes twice: base, then
        cloned); ``train_episodes.jsonl`` the episodes each RL step trained on, under the step they led to.
        """
        turn_advantages = iter(advantages) if advantages is not None else None  # in step_rows order
        with (self.run_dir / filename).open("a") as log:
            for episode in episodes:
                turns = []
                for row in episode.records:
                    turn = {"observation": row.anchor, "answer": row.answer.text, "action": row.action}
                    if turn_advantages is not None:
                        turn["advantage"] = round(next(turn_advantages), 4)
                    turns.append(turn)
                record = {
                    "step": step,
                    "task": episode.task,
                    "task_type": episode.task_type,
                    "won": episode.won,
                    "length": episode.length,
                    "error": episode.error,
                    "turns": turns,
                }
                log.write(json.dumps(record) + "\n")
