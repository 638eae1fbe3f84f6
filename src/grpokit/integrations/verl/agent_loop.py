"""grpokit's text environments (ALFWorld, WebShop, any ``grpokit.envs`` name) as verl's agent loop ``grpokit_agent``.

One ``run`` is one episode (verl starts ``rollout.n`` of them per dataset row, the row's seed picking the task, so a
group plays the same task). Each turn is a fresh single-turn chat built by ``grpokit.agent.prompts.turn_prompt``
from the task, the current observation, the admissible actions and the last ``history_length`` steps, as in
verl-agent and ProxMO; the answer's ``<action>`` is projected by ``grpokit.agent.projection.project_action``.

The loop returns one ``AgentLoopOutput`` per turn (verl v1 stores them as rows ``{uid}_{session}_{turn}``), each
with the turn's prompt and response tokens and, in ``extra_fields``, what multi-turn credit needs: ``traj_uid``,
``anchor_obs`` (the raw observation the agent saw before acting), ``step_index``, ``step_reward`` (environment
reward × ``reward_scale``), ``action_valid`` and ``won``. Every row's ``reward_score`` is the episode's return, which
verl puts on the row's last response token (as verl-agent does); ``reward_extra_info`` carries ``acc`` (= won) for
verl's validation metrics. Environment calls run in a thread so the event loop keeps serving the other episodes; an
environment that raises ends its episode as failed (logged) and is replaced.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput

from grpokit.agent.projection import project_action
from grpokit.agent.prompts import History, turn_prompt
from grpokit.envs import make as make_env
from grpokit.envs.base import Env
from grpokit.integrations.verl.settings import AgentSettings

log = logging.getLogger("grpokit.integrations.verl")


@dataclass
class Generated:
    """One model answer, tokenised as verl's rollout produced it."""

    prompt_ids: list[int]
    response_ids: list[int]
    response_mask: list[int]
    log_probs: list[float] | None
    text: str
    extra_fields: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    num_preempted: int = -1


@dataclass
class Turn:
    """One played step: the answer, what the environment made of it, and the state the agent acted in."""

    answer: Generated
    anchor: str
    action: str
    valid: bool
    reward: float
    step_index: int
    env_seconds: float = 0.0


@dataclass
class Episode:
    turns: list[Turn] = field(default_factory=list)
    won: bool = False
    score: float | None = None
    error: str | None = None


Generate = Callable[[list[dict[str, str]]], Awaitable[Generated]]
EnvCall = Callable[..., Awaitable[Any]]


async def play_episode(
    env: Env, seed: int, generate: Generate, settings: AgentSettings, call: EnvCall | None = None
) -> Episode:
    """Play one episode of ``env`` on task ``seed``, asking ``generate`` for every turn's answer.

    ``call(fn, *args)`` runs an environment method (default: directly); the reset's exception propagates, a step's
    ends the episode as failed with the error recorded.
    """
    call = call or _call_directly
    observation, info = await call(env.reset, seed)
    task = str(info.get("task", ""))
    history = History(settings.history_length)
    episode = Episode()
    for step in range(settings.max_turns or env.max_turns):
        actions = list(info.get("admissible_actions", []))
        text = turn_prompt(env.name, task, observation, actions, history)
        answer = await generate([{"role": "user", "content": text}])
        action, valid = project_action(answer.text, fallback_chars=settings.fallback)
        started = time.perf_counter()
        try:
            next_observation, reward, done, info = await call(env.step, action)
        except Exception as error:  # the episode ends as failed; the batch goes on
            episode.error = f"{type(error).__name__}: {error}"
            log.warning("environment %s failed at step %d of task %d: %s", env.name, step, seed, episode.error)
            episode.turns.append(Turn(answer, observation, action, valid, 0.0, step, time.perf_counter() - started))
            episode.won = False
            break
        scaled = float(reward) * settings.reward_scale
        episode.turns.append(Turn(answer, observation, action, valid, scaled, step, time.perf_counter() - started))
        history.add(observation, action)
        observation = next_observation
        episode.won = bool(info.get("won", False))
        if "score" in info:
            episode.score = float(info["score"])
        if done:
            break
    return episode


async def _call_directly(fn, *args):
    return fn(*args)


def turn_outputs(episode: Episode, traj_uid: str | None = None) -> list[AgentLoopOutput]:
    """One verl ``AgentLoopOutput`` per turn of ``episode`` (see the module docstring for the fields).

    ``traj_uid`` names the trajectory (verl v1: ``{uid}_{session}``, the prefix of the rows' keys).
    """
    episode_return = sum(turn.reward for turn in episode.turns)
    reward_info = {
        "acc": float(episode.won),
        "episode_return": episode_return,
        "episode_length": len(episode.turns),
        "score": float(episode.won) if episode.score is None else episode.score,
    }
    outputs = []
    for turn in episode.turns:
        answer = turn.answer
        extra = {
            **answer.extra_fields,
            "traj_uid": traj_uid,
            "anchor_obs": turn.anchor,
            "step_index": turn.step_index,
            "step_reward": turn.reward,
            "action_valid": turn.valid,
            "action": turn.action,
            "won": episode.won,
            "env_error": episode.error,
            "turn_scores": [],
            "tool_rewards": [],
            "reward_extra_info": dict(reward_info),
        }
        outputs.append(
            AgentLoopOutput(
                prompt_ids=answer.prompt_ids,
                response_ids=answer.response_ids,
                response_mask=answer.response_mask,
                response_logprobs=answer.log_probs,
                reward_score=episode_return,
                num_turns=2,  # each row is one user message and one answer
                metrics=AgentLoopMetrics(
                    generate_sequences=answer.seconds, tool_calls=turn.env_seconds, num_preempted=answer.num_preempted
                ),
                extra_fields=extra,
            )
        )
    return outputs


class EnvPool:
    """Idle environments of one kind, reused across episodes of this worker process.

    Reuse matters: each ALFWorld environment loads its own copy of the planner library, which a process never
    unloads (see ``grpokit.agent.manager.EnvPool``). Thread-safe: environments are built and used in threads.
    """

    def __init__(self, name: str, params: dict[str, Any]):
        self.name, self.params = name, params
        self._idle: list[Env] = []
        self._lock = threading.Lock()

    def acquire(self) -> Env:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return make_env(self.name, **self.params)

    def release(self, env: Env) -> None:
        with self._lock:
            self._idle.append(env)


_POOLS: dict[str, EnvPool] = {}
_POOLS_LOCK = threading.Lock()


def env_pool(name: str, params: dict[str, Any]) -> EnvPool:
    """This process's pool for environment ``name`` built with ``params``."""
    key = json.dumps([name, params], sort_keys=True, default=str)
    with _POOLS_LOCK:
        return _POOLS.setdefault(key, EnvPool(name, params))


class GrpokitAgentLoop(AgentLoopBase):
    """verl's agent loop ``grpokit_agent`` (the plugin registers it by its class path) playing ``grpokit.agent.env``
    (``+grpokit.agent.env=alfworld``; see ``AgentSettings``).

    A dataset row picks its task with ``extra_info.seed`` (default ``extra_info.index``) and may update the
    environment's parameters with ``extra_info.env_params`` (e.g. an evaluation split on validation rows).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = AgentSettings.from_config(self.config)
        self.response_length = self.rollout_config.response_length

    async def run(self, sampling_params: dict[str, Any], priority: int = 0, **kwargs) -> list[AgentLoopOutput]:
        extra_info = dict(kwargs.get("extra_info") or {})
        seed = int(extra_info.get("seed", kwargs.get("index", 0)))
        params = {**self.settings.env_params, **dict(extra_info.get("env_params") or {})}
        pool = env_pool(self.settings.env, params)
        env = await self._in_thread(pool.acquire)

        async def generate(messages: list[dict[str, str]]) -> Generated:
            return await self.generate(messages, sampling_params, int(priority))

        # A reset that raises propagates (verl marks the group failed) and, like an environment that failed a step,
        # the environment is not returned to the pool.
        episode = await play_episode(env, seed, generate, self.settings, call=self._in_thread)
        if episode.error is None:
            pool.release(env)
        if not episode.turns:
            raise RuntimeError(f"episode of task {seed} in {self.settings.env} ended before its first turn")
        uid, session = kwargs.get("uid"), kwargs.get("session_id")
        return turn_outputs(episode, None if uid is None or session is None else f"{uid}_{session}")

    async def _in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def generate(self, messages: list[dict[str, str]], sampling_params: dict[str, Any], priority: int = 0):
        """One answer from verl's rollout servers to a single-turn chat, as ``SingleTurnAgentLoop`` tokenises it."""
        prompt_ids = await self.ct_build_initial_tokens(messages)
        started = time.perf_counter()
        output = await self.server_manager.generate(
            request_id=uuid4().hex, prompt_ids=prompt_ids, sampling_params=sampling_params, priority=priority
        )
        seconds = time.perf_counter() - started
        merged, response_mask, log_probs = await self.ct_merge_assistant_token(
            prompt_ids,
            output.token_ids,
            [],
            [] if output.log_probs else None,
            assistant_logprobs=output.log_probs if output.log_probs else None,
        )
        response_ids = merged.token_ids[-len(response_mask) :] if response_mask else []
        prompt_ids = merged.token_ids[: len(merged.token_ids) - len(response_mask)]
        response_ids = response_ids[: self.response_length]
        return Generated(
            prompt_ids=prompt_ids,
            response_ids=response_ids,
            response_mask=response_mask[: self.response_length],
            log_probs=log_probs[: self.response_length] if log_probs else None,
            text=self.tokenizer.decode(response_ids, skip_special_tokens=True),
            extra_fields=dict(output.extra_fields or {}),
            seconds=seconds,
            num_preempted=output.num_preempted if output.num_preempted is not None else -1,
        )
