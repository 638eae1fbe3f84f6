"""ALFWorld: games generated from the ALFRED domain, floor plans and goal library shipped in the ``alfworld`` wheel,
played through its TextWorld engine; registered as ``make("alfworld", ...)``."""

from grpokit.envs.alfworld.assets import MISSING, available
from grpokit.envs.alfworld.env import AlfworldEnv, make_alfworld
from grpokit.envs.alfworld.generator import SPLITS
from grpokit.envs.alfworld.observed_expert import ObservedExpert
from grpokit.envs.alfworld.tasks import TASK_TYPES

__all__ = ["MISSING", "SPLITS", "TASK_TYPES", "AlfworldEnv", "ObservedExpert", "available", "make_alfworld"]
