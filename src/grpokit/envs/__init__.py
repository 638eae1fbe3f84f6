"""Text environments for multi-turn agents (see ``grpokit.envs.base`` for the protocol)."""

from grpokit.envs import webshop  # noqa: F401  (registers "webshop")
from grpokit.envs.base import ENVS, INFO_KEYS, Env, make

__all__ = ["ENVS", "INFO_KEYS", "Env", "make"]
