"""``python -c "import verl"`` with and without grpokit's verl plugin, side by side: seconds, modules, ratio.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/verl_import.py --repeats 3

verl imports every module of its ``verl.plugins`` entry-point group when it is imported, in every process of a run
(driver, TaskRunner, each actor, rollout, reward and agent-loop worker), so whatever the plugin imports is paid many
times over; the plugin registers lazily to keep that cost near zero (target: a ratio of at most 1.2). "without" runs
the same interpreter with verl's own switch ``VERL_USE_EXTERNAL_PLUGINS`` set to every installed plugin but
grpokit's (a comma list loads only those; empty loads none). Runs alternate, after one untimed run of each, so a
change in the machine's load falls on both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from importlib.metadata import entry_points

PLUGIN = "grpokit"
PROBE = "import sys, verl; print(len(sys.modules), 'grpokit.integrations.verl.plugin' in sys.modules)"


def environments() -> dict[str, dict[str, str]]:
    """The environment of each side: verl's default (every plugin) and every plugin but grpokit's."""
    others = ",".join(ep.name for ep in entry_points(group="verl.plugins") if ep.name != PLUGIN)
    return {
        "without plugin": {**os.environ, "VERL_USE_EXTERNAL_PLUGINS": others},
        "with plugin": {**os.environ, "VERL_USE_EXTERNAL_PLUGINS": "auto"},
    }


def import_verl(env: dict[str, str], expect_plugin: bool) -> tuple[float, int]:
    """Wall-clock seconds of one fresh interpreter importing verl, and the number of modules it ended with."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    modules, loaded = result.stdout.split()[-2:]
    if (loaded == "True") != expect_plugin:
        raise SystemExit(f"grpokit's plugin loaded: {loaded}, expected {expect_plugin} (VERL_USE_EXTERNAL_PLUGINS)")
    return seconds, int(modules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed imports per side")
    args = parser.parse_args()
    sides = environments()
    for name, env in sides.items():  # untimed: fills the file cache for both
        import_verl(env, name == "with plugin")
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, env in sides.items():
            runs[name].append(import_verl(env, name == "with plugin"))
    medians = {}
    for name, results in runs.items():
        medians[name] = statistics.median(seconds for seconds, _ in results)
        timings = ", ".join(f"{seconds:.2f}" for seconds, _ in results)
        print(f"{name:>15}: median {medians[name]:.2f} s ({timings}), {results[-1][1]} modules")
    print(f"ratio with / without: {medians['with plugin'] / medians['without plugin']:.2f}")


if __name__ == "__main__":
    main()
