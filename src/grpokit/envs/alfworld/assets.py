"""Locate what the ``alfworld`` wheel ships (PDDL domain, grammar, floor plans) and fail clearly without it."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

MISSING = "the ALFWorld environment needs the `alfworld` package: pip install alfworld==0.4.2"


def available() -> bool:
    """Whether ``alfworld`` and ``textworld`` (with its PDDL backend ``fast_downward``) can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("alfworld", "textworld", "fast_downward"))


def require() -> None:
    """Raise ``ImportError`` naming the package when ALFWorld is not installed."""
    if not available():
        raise ImportError(MISSING)


@cache
def package_dir() -> Path:
    """The installed ``alfworld`` folder, found without importing it (its import creates ~/.cache/alfworld)."""
    require()
    spec = importlib.util.find_spec("alfworld")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0])


@cache
def domain() -> str:
    """The ALFRED PDDL domain text."""
    return (package_dir() / "data" / "alfred.pddl").read_text()


@cache
def grammar() -> str:
    """The ALFRED TextWorld grammar, with the placeholder ``UNKNOWN GOAL`` where the task text goes."""
    return (package_dir() / "data" / "alfred.twl2").read_text()


def layouts_dir() -> Path:
    """The folder of ``FloorPlan*-objects.json`` / ``FloorPlan*-openable.json`` files."""
    return package_dir() / "gen" / "layouts"
