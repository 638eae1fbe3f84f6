"""Reference policies played on an agent evaluation's own games, so an agent's success rate has a scale.

* ``random``: a uniformly random admissible action (the floor);
* ``random_walk``: the environment's trivial goal-taking walk, where it has one (ALFWorld: ``GoalRandomWalk``);
* ``expert``: the environment's ``info["expert_action"]`` (ALFWorld: the ``observed`` expert, which acts on what the
  agent sees; the ceiling a cloned policy imitates).

Each game is played once per policy; the random choices are seeded by the game's seed, so the numbers are fixed by
the games. ``eval.json`` reports them as ``baseline_<name>`` (success rate) and ``baseline_<name>_se``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from grpokit.envs import make as make_env
from grpokit.envs.base import Env
from grpokit.evaluate import standard_error

Chooser = Callable[[str, list[str], dict[str, Any]], str]  # (observation, admissible actions, info) -> action
EXPERT_PARAMS = {"alfworld": {"expert": "observed"}}  # how an environment is told to supply expert actions


def _random(observation: str, info: dict[str, Any], seed: int) -> Chooser:
    rng = random.Random(f"random:{seed}")
    return lambda obs, actions, info: rng.choice(actions)


def _expert(observation: str, info: dict[str, Any], seed: int) -> Chooser:
    return lambda obs, actions, info: info.get("expert_action") or "look"


def _alfworld_walk(observation: str, info: dict[str, Any], seed: int) -> Chooser:
    from grpokit.envs.alfworld.random_walk import GoalRandomWalk

    walk = GoalRandomWalk(str(info["task"]), observation, random.Random(f"random_walk:{seed}"))
    return lambda obs, actions, info: walk.act(obs, actions)


def policies(env_name: str) -> dict[str, Callable[[str, dict[str, Any], int], Chooser]]:
    """The baselines ``env_name`` has, by name: each makes a fresh chooser from a game's start and seed."""
    found = {"random": _random}
    if env_name == "alfworld":
        found["random_walk"] = _alfworld_walk
    found["expert"] = _expert
    return found


def play(env: Env, seed: int, start: Callable[[str, dict[str, Any], int], Chooser], max_turns: int | None) -> bool:
    """Whether one game (``env.reset(seed)``) is won by the chooser ``start`` makes, within ``max_turns`` turns."""
    observation, info = env.reset(seed)
    choose = start(observation, info, seed)
    for _ in range(max_turns or env.max_turns):
        observation, _, done, info = env.step(choose(observation, list(info["admissible_actions"]), info))
        if done:
            break
    return bool(info.get("won", False))


def measure(env_name: str, env_params: dict[str, Any], seeds: Sequence[int], max_turns: int | None) -> dict[str, float]:
    """Success rate and its standard error of every baseline of ``env_name`` on the games ``seeds`` name."""
    env = make_env(env_name, **env_params)
    expert_env = make_env(env_name, **{**env_params, **EXPERT_PARAMS.get(env_name, {})})
    results: dict[str, float] = {}
    for name, start in policies(env_name).items():
        wins = [float(play(expert_env if name == "expert" else env, seed, start, max_turns)) for seed in seeds]
        results[f"baseline_{name}"] = sum(wins) / len(wins)
        results[f"baseline_{name}_se"] = standard_error(wins)
    return results
