"""How much the ALFWorld engine's memoized parses save: resets and steps with and without them, side by side.

    .venv/bin/python benchmarks/alfworld_engine.py

Each variant runs in its own process (the memoization is process-wide), on the same generated pick-and-place game
and the same 150 random admissible actions; the final observations must agree.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time


def measure(memoized: bool) -> dict:
    from grpokit.envs.alfworld import engine

    if not memoized:
        engine._share_parses = lambda: None
    from grpokit.envs import make

    env = make(
        "alfworld", split="train", task_types=["pick_and_place_simple"], max_turns=500, distractor_types=0, expert=False
    )
    env.reset(0)
    started = time.perf_counter()
    for _ in range(5):
        env.reset(0)
    reset_s = (time.perf_counter() - started) / 5
    rng = random.Random(0)
    observation, info = env.reset(0)
    started = time.perf_counter()
    for _ in range(150):
        observation, _, _, info = env.step(rng.choice(info["admissible_actions"]))
    return {"reset_s": reset_s, "step_s": (time.perf_counter() - started) / 150, "observation": observation}


def main() -> None:
    if len(sys.argv) == 2:
        print(json.dumps(measure(sys.argv[1] == "memoized")))
        return
    runs = {
        name: json.loads(
            subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        for name in ("plain", "memoized")
    }
    assert runs["plain"]["observation"] == runs["memoized"]["observation"], "the memoized engine played differently"
    for key in ("reset_s", "step_s"):
        plain, memoized = runs["plain"][key], runs["memoized"][key]
        print(
            f"{key[:-2]:<6} plain {plain * 1000:7.1f} ms   memoized {memoized * 1000:7.1f} ms   {plain / memoized:.1f}x"
        )


if __name__ == "__main__":
    main()
