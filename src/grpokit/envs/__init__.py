"""Text environments for multi-turn agents (see ``grpokit.envs.base`` for the protocol)."""

from grpokit.envs import alfworld, webshop  # noqa: F401  (register "alfworld" and "webshop")
from grpokit.envs.base import ENVS, INFO_KEYS, Env, make

__all__ = ["ENVS", "INFO_KEYS", "Env", "make"]
