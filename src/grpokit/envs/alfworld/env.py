"""The ``alfworld`` environment: generated (or official) ALFWorld games behind the project's text-env protocol."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from grpokit.envs.alfworld import assets, generator, official
from grpokit.envs.alfworld.engine import Engine
from grpokit.envs.alfworld.observed_expert import ObservedExpert
from grpokit.envs.alfworld.tasks import resolve_task_types
from grpokit.envs.base import ENVS

TASK_PREFIX = "Your task is to: "
NOTHING_HAPPENS = "Nothing happens."  # the engine's answer to an inadmissible command; the state is unchanged
MAX_ATTEMPTS = 20  # redraws before giving up on a seed (an unsolvable or too-long draw is rare)
MAX_PLAN = 50  # a generated game is dealt only if its expert plan fits ALFWorld's 50-step episodes
SOURCES = ("auto", "generated", "official")
EXPERTS = ("planner", "observed", "none")
PLAN_FILE = "plan.json"  # the planner's plan from the start of a generated game, beside its game.tw-pddl


class AlfworldEnv:
    """ALFWorld through its TextWorld engine. ``reset(seed)`` plays the game that (split, seed) names.

    Reward: 1.0 on the step that wins, 0.0 otherwise (ProxMO's text env pays 10·won; the trainer scales).
    An episode ends on a win or after ``max_turns`` steps; a generated game whose expert plan is longer than
    ``MAX_PLAN`` (50) steps is redrawn.

    ``expert`` decides ``info["expert_action"]``:

    * ``"planner"``: the first command of Fast Downward's plan, which reads the hidden state (where every object
      is). ``info["expert_plan"]`` holds the whole plan from the current state; it is kept while the agent follows
      it or sends inadmissible commands, and recomputed after any other action (~0.3 s a step, sometimes seconds).
    * ``"observed"``: ``ObservedExpert``'s command, chosen from the episode's texts alone (goal, room description,
      observations) as a policy has to: it searches, where the planner knows. No planning after the reset's
      solvability check; ``expert_plan`` is [].
    * ``"none"``: ``expert_action`` is always None and ``expert_plan`` [] (rollouts that never read them).
    """

    name = "alfworld"

    def __init__(
        self,
        split: str,
        task_types: tuple[str, ...],
        cache_dir: Path,
        max_turns: int,
        distractor_types: int,
        source: str,
        expert: str,
        max_receptacles: int | None = None,
    ) -> None:
        if expert not in EXPERTS:
            raise ValueError(f"unknown ALFWorld expert {expert!r}; known: {', '.join(EXPERTS)} (or true/false)")
        self.max_turns = max_turns
        self.expert = expert
        self.settings = generator.Settings(split, task_types, distractor_types, max_receptacles)
        self.cache_dir = cache_dir
        self.official_root = official.data_root() if source != "generated" else None
        if source == "official" and self.official_root is None:
            raise FileNotFoundError("source='official' needs $ALFWORLD_DATA/json_2.1.1 (alfworld-download)")
        self._engine = Engine(max_turns)
        self._task = ""
        self._gamefile = ""
        self._turns = 0
        self._done = True
        self._last: tuple[str, dict[str, Any]] = ("", {})
        self._plan: list[str] = []
        self._observed: ObservedExpert | None = None

    def reset(self, seed: int) -> tuple[str, dict[str, Any]]:
        obs, infos = self._reset_official(seed) if self.official_root else self._reset_generated(seed)
        self._task = obs.partition(TASK_PREFIX)[2].strip()
        self._gamefile = str(infos["extra.gamefile"])
        self._task_type = task_type_of(self._gamefile)
        self._turns, self._done = 0, False
        self._plan = self._plan if self.expert == "planner" else []
        self._observed = ObservedExpert(self._task, obs) if self.expert == "observed" else None
        info = self._info(obs, infos)
        self._last = (obs, info)
        return obs, info

    def step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if self._done:
            return self._last[0], 0.0, True, self._last[1]
        obs, _, _, infos = self._engine.step(action)
        self._turns += 1
        if infos["won"] or self.expert != "planner":
            self._plan = []
        elif self._plan and action.strip() == self._plan[0]:
            self._plan = self._plan[1:]
        elif obs != NOTHING_HAPPENS:
            self._plan = self._engine.plan()
        info = self._info(obs, infos)
        self._done = info["won"] or self._turns >= self.max_turns
        self._last = (obs, info)
        return obs, float(info["won"]), self._done, info

    def _reset_generated(self, seed: int) -> tuple[str, dict[str, Any]]:
        for attempt in range(MAX_ATTEMPTS):
            folder = generator.game_dir(self.cache_dir, self.settings, seed, attempt)
            path = folder / "game.tw-pddl"
            if path.exists() and not json.loads(path.read_text())["solvable"]:
                continue
            if not path.exists():
                drawn, goal_text = generator.draw(self.settings, seed, attempt)
                generator.write(folder, drawn, goal_text, f"grpokit_{self.settings.split}_{seed}_{attempt}")
            self._engine.load(str(path))
            obs, infos = self._engine.reset()
            self._plan = self._first_plan(folder)
            if self._plan and len(self._plan) <= MAX_PLAN:
                return obs, infos
            generator.save_game(path, {**json.loads(path.read_text()), "solvable": False})
        raise RuntimeError(f"no solvable ALFWorld game for seed {seed} after {MAX_ATTEMPTS} draws")

    def _first_plan(self, folder: Path) -> list[str]:
        """The planner's plan from the start of the game in ``folder``, computed once and kept beside the game.

        It decides whether the game is dealt at all (solvable within ``MAX_PLAN``), whatever ``expert`` is, so a
        seed names the same game for every expert; kept, it spares the G environments of a group and every later
        reset of the game the search (0.5-7 s on the CPU machine, the largest part of an episode with expert
        "observed" or "none").
        """
        kept = folder / PLAN_FILE
        if kept.exists():
            return json.loads(kept.read_text())["plan"]
        plan = self._engine.plan()
        generator.save_game(kept, {"plan": plan})
        return plan

    def _reset_official(self, seed: int) -> tuple[str, dict[str, Any]]:
        assert self.official_root is not None
        files = official.games(self.official_root, self.settings.split, self.settings.task_types)
        if not files:  # never hand AlfredTWEnv-style code an empty pool: it spins forever
            raise FileNotFoundError(
                f"no {self.settings.split} games of types {self.settings.task_types} in {self.official_root}"
            )
        self._engine.load(str(random.Random(f"alfworld:official:{seed}").choice(files)))
        obs, infos = self._engine.reset()
        self._plan = self._engine.plan() if self.expert == "planner" else []
        return obs, infos

    def _info(self, obs: str, infos: dict[str, Any]) -> dict[str, Any]:
        plan = list(self._plan)
        admissible = [a for a in infos["admissible_commands"] if a != "help"]
        if self._observed is not None:
            expert_action = None if infos["won"] else self._observed.act(obs, admissible)
        else:
            expert_action = plan[0] if plan else None
        return {
            "admissible_actions": admissible,
            "won": bool(infos["won"]),
            "task": self._task,
            "expert_action": expert_action,
            "expert_plan": plan,
            "gamefile": self._gamefile,
            "task_type": self._task_type,
        }


def task_type_of(gamefile: str) -> str | None:
    """The ALFRED task type of a game (``traj_data.json`` beside it, generated and official games alike)."""
    traj = Path(gamefile).parent / "traj_data.json"
    try:
        return json.loads(traj.read_text()).get("task_type")
    except (OSError, ValueError):
        return None


@ENVS.register("alfworld")
def make_alfworld(
    *,
    split: str = "train",
    task_types: list[str | int] | tuple[str | int, ...] | None = None,
    cache_dir: str | Path | None = None,
    max_turns: int = 50,
    distractor_types: int = 8,
    max_receptacles: int | None = None,
    source: str = "auto",
    expert: bool | str = True,
) -> AlfworldEnv:
    """Build the ALFWorld environment.

    ``split``: train, eval_in_distribution or eval_out_of_distribution. ``task_types``: names (or 1-6) of
    the six ALFWorld task types, default all. ``cache_dir``: where generated games are saved (default
    ``$GRPOKIT_CACHE/alfworld``). ``distractor_types``: object types placed besides the task's own.
    ``max_receptacles``: room size, the floor plan cut down to this many receptacles (those the task needs
    first; generated games only; None: the whole floor plan).
    ``source``: "auto" plays official games when ``$ALFWORLD_DATA/json_2.1.1`` exists, else generated ones.
    ``expert``: who supplies ``info["expert_action"]``: "planner" (Fast Downward on the hidden state; True means
    this), "observed" (``ObservedExpert``: only what the texts showed, a teacher for behaviour cloning; no planning
    after the reset) or "none" (always None; False means this: the fastest rollouts).
    """
    assets.require()
    if split not in generator.SPLITS:
        raise ValueError(f"unknown ALFWorld split {split!r}; known: {', '.join(generator.SPLITS)}")
    if source not in SOURCES:
        raise ValueError(f"unknown ALFWorld source {source!r}; known: {', '.join(SOURCES)}")
    if isinstance(expert, bool):  # the older switch: true = the planner, false = none
        expert = "planner" if expert else "none"
    if max_receptacles is not None and max_receptacles < 1:
        raise ValueError(f"ALFWorld max_receptacles must be at least 1 (or null), got {max_receptacles}")
    folder = Path(cache_dir) if cache_dir is not None else generator.default_cache_dir()
    return AlfworldEnv(
        split, resolve_task_types(task_types), folder, max_turns, distractor_types, source, expert, max_receptacles
    )
