"""Play a ``game.tw-pddl`` file through ``textworld.gym`` with ALFWorld's wrappers (names like ``cabinet 1``)."""

from __future__ import annotations

import copy
import functools
from typing import Any

from grpokit.envs.alfworld.expert import tidy


@functools.cache
def _share_parses() -> None:
    """Memoize TextWorld's two costly pure functions, which it recomputes from the same text over and over.

    * Fast Downward's PDDL→SAS translation: four per reset (twice on load, twice on reset); its result is only
      read, so the G environments of a group and every later reset of the same game share one.
    * The text-grammar parse behind every observation and admissible command (``textgen._parse_and_convert``,
      a tatsu parse of a template string): memoized, and deep-copied on return because ``derive`` writes into it.

    Same transcripts, a reset 4.2× and a step 1.6× faster on the CPU machine (``benchmarks/alfworld_engine.py``).
    """
    import fast_downward
    from textworld.envs.pddl import textgen

    fast_downward.pddl2sas = functools.lru_cache(maxsize=32)(fast_downward.pddl2sas)
    parse = functools.lru_cache(maxsize=4096)(textgen._parse_and_convert)
    textgen._parse_and_convert = lambda *args, **kwargs: copy.deepcopy(parse(*args, **kwargs))


class Engine:
    """One TextWorld PDDL environment reused across games (each new gym env would load another planner copy).

    ``reset``/``step`` return TextWorld's ``(observation, infos)`` / ``(observation, score, done, infos)``, with
    ``infos`` holding ``admissible_commands`` and ``won``. ``plan()`` asks Fast Downward for a plan from the current
    state on demand (TextWorld's ``policy_commands`` would replan after every step, sometimes for seconds).
    """

    def __init__(self, max_steps: int) -> None:
        self.max_steps = max_steps
        self._env: Any = None

    def load(self, gamefile: str) -> None:
        import textworld
        import textworld.gym
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos

        _share_parses()
        if self._env is None:
            infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
            env_id = textworld.gym.register_game(
                gamefile,
                infos,
                max_episode_steps=self.max_steps,
                wrappers=[AlfredDemangler(shuffle=False), AlfredInfos],
            )
            self._env = textworld.gym.make(env_id)
            textworld.gym.registry.pop(env_id)  # one-off id: keep textworld's global registry from growing
        self._env.gamefiles = [gamefile]
        self._env.seed(0)  # restarts textworld's game cycle on the new (single) game file

    def reset(self) -> tuple[str, dict[str, Any]]:
        return self._env.reset()

    def step(self, command: str) -> tuple[str, float, bool, dict[str, Any]]:
        return self._env.step(command)

    def plan(self) -> list[str]:
        """The planner's commands from the current state to the goal (tidied); [] when there is none."""
        pddl_env = self._env.batch_env.envs[0].unwrapped  # textworld's PddlEnv under the wrappers
        return tidy(pddl_env._pddl_state.replan(pddl_env._entity_infos))
