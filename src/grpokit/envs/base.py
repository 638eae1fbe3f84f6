"""The text-environment protocol shared by ALFWorld, WebShop and any other multi-turn environment.

``reset(seed)`` starts an episode and returns ``(observation, info)``; ``step(action)`` returns
``(observation, reward, done, info)``. Every ``info`` carries:

* ``admissible_actions``: the actions the environment accepts now (list of str);
* ``won``: whether the task is solved (bool);
* ``task``: the natural-language task description (str);
* ``expert_action``: an action on a shortest known path to success, or ``None`` when there is none.

Environments may add keys (WebShop adds ``score`` ∈ [0, 1]). A bad action never raises: it is answered the way the
original environment answers it. ``make(name, **kwargs)`` builds a registered environment.
"""

from __future__ import annotations

from typing import Any, Protocol

from grpokit.core.registry import Registry

ENVS = Registry("environment")
INFO_KEYS = ("admissible_actions", "won", "task", "expert_action")


class Env(Protocol):
    """A text environment; ``max_turns`` is its default episode limit (ALFWorld 50, WebShop 15)."""

    name: str
    max_turns: int

    def reset(self, seed: int) -> tuple[str, dict[str, Any]]: ...

    def step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]: ...


def make(name: str, **kwargs: Any) -> Env:
    """Build the environment registered as ``name``; an unknown name or keyword is an error that names it."""
    return ENVS.call(name, **kwargs)
