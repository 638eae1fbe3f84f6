"""ALFWorld's official games (``$ALFWORLD_DATA/json_2.1.1``), played instead of generated ones when present."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

# Our split names → ALFWorld's folders (valid_seen is ALFWorld's in-distribution eval, valid_unseen its OOD eval).
FOLDERS = {"train": "train", "eval_in_distribution": "valid_seen", "eval_out_of_distribution": "valid_unseen"}


def data_root() -> Path | None:
    """``$ALFWORLD_DATA/json_2.1.1`` when the variable is set and that folder exists, else None."""
    root = os.environ.get("ALFWORLD_DATA")
    if not root:
        return None
    folder = Path(root) / "json_2.1.1"
    return folder if folder.is_dir() else None


@cache
def games(root: Path, split: str, task_types: tuple[str, ...]) -> tuple[Path, ...]:
    """Sorted solvable ``game.tw-pddl`` files of ``split`` with those task types, skipping what AlfredTWEnv skips
    (movable-receptacle and sliced tasks, games not marked solvable)."""
    found = []
    for traj_path in sorted((root / FOLDERS[split]).rglob("traj_data.json")):
        folder = traj_path.parent
        game_path = folder / "game.tw-pddl"
        if "movable" in str(folder) or "Sliced" in str(folder) or not game_path.exists():
            continue
        if json.loads(traj_path.read_text())["task_type"] not in task_types:
            continue
        if json.loads(game_path.read_text()).get("solvable"):
            found.append(game_path)
    return tuple(found)
