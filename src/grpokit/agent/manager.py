"""Running groups of agent episodes: N tasks × G rollouts, the G environments of a group sharing task and seed.

Environments come from an ``EnvPool`` and are reused from batch to batch. Each turn, only the environments still
active ask the policy, in one batch. With step rows each turn's prompt is a fresh chat (the task, the last steps,
the observation); with episode rows it is the episode's whole chat so far, one user message per observation.
Every step becomes a ``StepRecord`` (anchor observation, trajectory id, step index, reward, validity), ready for
``grpokit.core.credit``: the records of a trajectory are contiguous and in time order. An exception or a time-out
inside an environment ends that trajectory as failed with the error recorded and logged; the rest of the batch
goes on.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from grpokit.agent.projection import project_action
from grpokit.agent.prompts import PROMPT_STYLES, History, next_turn_prompt, turn_prompt
from grpokit.envs.base import Env

log = logging.getLogger("grpokit.agent")

Conversation = list[dict[str, str]]
ROWS = ("step", "episode")  # a training row per agent step, or per episode (its whole chat)


@dataclass
class Answer:
    """A policy's answer: its text, and whatever the trainer needs later (token ids, log-probs) in ``extra``."""

    text: str
    extra: Any = None
    truncated: bool = False  # the answer hit the token limit without ending


@dataclass
class Turn:
    """What the policy sees at one step: the chat prompt, and the raw state it was built from."""

    conversation: Conversation
    observation: str
    admissible_actions: list[str]
    task: str
    expert_action: str | None = None  # the environment's, for behaviour cloning; a policy being trained ignores it
    traj_id: str = ""  # the episode's: a policy that keeps state per episode (a key/value cache) keys it by this


Policy = Callable[[list[Turn]], list[Answer]]


@dataclass
class StepRecord:
    """One agent step: the training row of multi-turn credit assignment."""

    group_id: str
    traj_id: str
    step_index: int
    anchor: str  # the raw observation the agent saw before acting
    prompt: Conversation
    answer: Answer
    action: str
    valid: bool
    reward: float
    done: bool
    error: str | None = None


@dataclass
class Episode:
    group_id: str
    traj_id: str
    task: str
    won: bool = False
    length: int = 0
    score: float | None = None
    task_type: str | None = None
    error: str | None = None
    records: list[StepRecord] = field(default_factory=list)


@contextmanager
def time_limit(seconds: float | None):
    """Raise ``TimeoutError`` if the block runs longer than ``seconds`` (main thread only; elsewhere no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(*_):
        raise TimeoutError(f"environment step took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class EnvPool:
    """Environments kept and reused from batch to batch; ``get(n)`` makes new ones only when it has fewer than n.

    Reuse matters: each ALFWorld environment loads its own 34 MB copy of the Fast Downward planner library, which
    a process never unloads (the deleted copy keeps its disk space in /tmp), so one new environment per episode
    fills the disk within an hour of training. An environment that raised is replaced by a fresh one.
    """

    def __init__(self, factory: Callable[[], Env]):
        self.factory = factory
        self.envs: list[Env] = []

    def get(self, count: int) -> list[Env]:
        while len(self.envs) < count:
            self.envs.append(self.factory())
        return self.envs[:count]

    def replace(self, env: Env) -> None:
        """Forget a failed environment (the next ``get`` makes a fresh one in its place)."""
        self.envs = [e for e in self.envs if e is not env]


class _Slot:
    """One environment of the batch and the state of its current episode."""

    def __init__(self, env: Env, episode: Episode, history_length: int):
        self.env = env
        self.episode = episode
        self.history = History(history_length)
        self.conversation: Conversation = []  # the episode's chat so far (episode rows)
        self.observation = ""
        self.info: dict[str, Any] = {}
        self.active = True

    def fail(self, error: BaseException, when: str) -> None:
        message = f"{type(error).__name__}: {error}"
        log.warning("%s: environment failed during %s: %s", self.episode.traj_id, when, message)
        self.episode.error = message
        self.episode.won = False
        self.active = False


def run_episodes(
    envs: EnvPool,
    seeds: Sequence[int],
    group_size: int,
    policy: Policy,
    *,
    max_turns: int | None = None,
    history_length: int = 2,
    step_timeout_s: float | None = 30.0,
    fallback_chars: int = 30,
    prompt_style: str = "full",
    rows: str = "step",
) -> list[Episode]:
    """Play ``group_size`` episodes of every seed in ``seeds``; return the episodes with their step records.

    Prompts and answers follow ``prompt_style`` (``grpokit.agent.prompts``); ``rows`` is ``step`` (each turn a fresh
    prompt with the last ``history_length`` steps) or ``episode`` (each turn the whole chat so far: the first prompt,
    then every answer and the user message of each later observation). The environments' own ``max_turns``
    applies when ``max_turns`` is None. Invalid answers are only recorded here (``StepRecord.valid``); credit
    assignment applies the penalty.
    """
    if rows not in ROWS:
        raise ValueError(f"unknown agent rows {rows!r}; known: {', '.join(ROWS)}")
    slots: list[_Slot] = []
    available = iter(envs.get(len(seeds) * group_size))
    for seed in seeds:
        group_id = f"seed{seed}"
        for k in range(group_size):
            env = next(available)
            slot = _Slot(env, Episode(group_id=group_id, traj_id=f"{group_id}/{k}", task=""), history_length)
            try:
                with time_limit(step_timeout_s):
                    slot.observation, slot.info = env.reset(seed)
                slot.episode.task = str(slot.info.get("task", ""))
                slot.episode.task_type = slot.info.get("task_type")
            except Exception as error:  # an environment that cannot start ends its trajectory, not the batch
                slot.fail(error, "reset")
            slots.append(slot)
    turn_limit = max_turns if max_turns is not None else max((s.env.max_turns for s in slots), default=0)
    think = PROMPT_STYLES[prompt_style].think

    for _ in range(turn_limit):
        active = [s for s in slots if s.active]
        if not active:
            break
        turns = []
        for s in active:
            actions = list(s.info.get("admissible_actions", []))
            if rows == "episode" and s.conversation:
                text = next_turn_prompt(s.observation, actions, prompt_style)
            else:
                text = turn_prompt(s.env.name, s.episode.task, s.observation, actions, s.history, prompt_style)
            message = {"role": "user", "content": text}
            conversation = [*s.conversation, message] if rows == "episode" else [message]
            expert = s.info.get("expert_action")
            turns.append(Turn(conversation, s.observation, actions, s.episode.task, expert, traj_id=s.episode.traj_id))
        answers = policy(turns)
        if len(answers) != len(active):
            raise ValueError(f"policy returned {len(answers)} answers for {len(active)} turns")
        for slot, turn, answer in zip(active, turns, answers, strict=True):
            if rows == "episode":
                slot.conversation = [*turn.conversation, {"role": "assistant", "content": answer.text}]
            _advance(slot, turn.conversation, answer, fallback_chars, step_timeout_s, think=think)
    for slot in slots:
        if slot.episode.error is not None:
            envs.replace(slot.env)
    return [s.episode for s in slots]


def _advance(
    slot: _Slot, prompt: Conversation, answer: Answer, fallback_chars: int, timeout: float | None, think: bool
) -> None:
    action, valid = project_action(answer.text, fallback_chars=fallback_chars, think=think)
    episode = slot.episode
    record = StepRecord(
        group_id=episode.group_id,
        traj_id=episode.traj_id,
        step_index=episode.length,
        anchor=slot.observation,
        prompt=prompt,
        answer=answer,
        action=action,
        valid=valid,
        reward=0.0,
        done=False,
    )
    episode.records.append(record)
    episode.length += 1
    try:
        with time_limit(timeout):
            observation, reward, done, info = slot.env.step(action)
    except Exception as error:  # the trajectory ends as failed; the batch goes on
        record.done, record.error = True, f"{type(error).__name__}: {error}"
        slot.fail(error, f"step {record.step_index}")
        return
    record.reward, record.done = float(reward), bool(done)
    slot.history.add(slot.observation, action)
    slot.observation, slot.info = observation, info
    episode.won = bool(info.get("won", False))
    if "score" in info:
        episode.score = float(info["score"])
    if done:
        slot.active = False


def step_rows(episodes: Sequence[Episode]) -> list[StepRecord]:
    """All step records, trajectory after trajectory, each in time order (the layout credit assignment expects)."""
    return [record for episode in episodes for record in episode.records]


def episode_metrics(episodes: Sequence[Episode]) -> dict[str, float]:
    """Success rate (overall and per task type), score, episode length, invalid-action rate, singleton anchors.

    The singleton share is the fraction of steps whose exact anchor observation occurs once in its group: the
    steps GiGPO's exact matching cannot compare (ProxMO, appendix A.2).
    """
    if not episodes:
        return {}
    rows = step_rows(episodes)
    metrics = {
        "agent/success": sum(e.won for e in episodes) / len(episodes),
        "agent/episode_length": sum(e.length for e in episodes) / len(episodes),
        "agent/env_errors": sum(e.error is not None for e in episodes) / len(episodes),
    }
    if rows:
        anchors = Counter((r.group_id, r.anchor) for r in rows)
        metrics["agent/invalid_action_rate"] = sum(not r.valid for r in rows) / len(rows)
        metrics["agent/singleton_anchor_share"] = sum(anchors[(r.group_id, r.anchor)] == 1 for r in rows) / len(rows)
    scores = [e.score for e in episodes if e.score is not None]
    if scores:
        metrics["agent/score"] = sum(scores) / len(scores)
    for task_type in sorted({e.task_type for e in episodes if e.task_type}):
        typed = [e for e in episodes if e.task_type == task_type]
        metrics[f"agent/success/{task_type}"] = sum(e.won for e in typed) / len(typed)
    return metrics
