"""Text environments for multi-turn agents (see ``grpokit.envs.base`` for the protocol)."""

from grpokit.envs.base import ENVS, INFO_KEYS, Env, make

__all__ = ["ENVS", "INFO_KEYS", "Env", "make"]
