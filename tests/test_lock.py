"""Reproducible installs: the environment is exactly requirements/lock.txt, and the lock fits what the project asks.

`make setup` syncs the virtual environment to the lock (uv removes whatever the lock does not name) and `make lock`
regenerates the lock from requirements/lock.in, requirements/no-deps.in, pyproject.toml and constraints.txt.
"""

import importlib.metadata
import re
import sysconfig
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest
from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
LOCK = REQUIREMENTS / "lock.txt"
# Only grpokit itself is left out: it is the work tree, installed editable (`-e .` in the lock, which has no version).
# Nothing else is: pip is pinned in the lock like every other package, and uv's virtual environment has no
# pip, setuptools or wheel of its own.
IGNORED = frozenset({"grpokit"})
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;]+)$")
EDITABLE_PROJECT = re.compile(r"^(?:-e\s+|--editable[=\s]+)?\.(?:\[(?P<extras>[^\]]*)\])?$")


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-``, ``_`` and ``.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of each requirement line, without comments and blank lines."""
    lines = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        text = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if text:
            lines.append((number, text))
    return lines


def read_pins(path: Path) -> dict[str, str]:
    """The lock's ``name==version`` pins by normalized name; the editable project line (``-e .``) is skipped.

    Anything else (a range, a marker, an option) is an error: the lock must pin every package exactly.
    """
    pins: dict[str, str] = {}
    for number, text in _lines(path):
        if EDITABLE_PROJECT.match(text):
            continue
        match = PIN.match(text)
        if match is None:
            raise ValueError(f"{path.name}:{number}: not an exact pin (name==version): {text!r}")
        name = normalize(match["name"])
        if name in pins:
            raise ValueError(f"{path.name}:{number}: {name} is pinned twice")
        pins[name] = match["version"]
    return pins


def installed_distributions() -> dict[str, str]:
    """Version of each distribution installed in this interpreter's environment, by normalized name.

    Only the environment's own site-packages is read, not all of sys.path: ray, once imported, puts its vendored
    packages (colorama, psutil, ...) on sys.path, and they are part of ray, not installs of their own.
    """
    paths = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=paths):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalize(name), dist.version)
    return found


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)  # "2.13.0+cpu" differs from "2.13.0"; "1.0" equals "1.0.0"
    except InvalidVersion:
        return a == b


def compare(pins: dict[str, str], installed: dict[str, str], ignored: frozenset[str] = IGNORED) -> list[str]:
    """One line per difference between the lock's pins and the installed versions: missing, extra, different."""
    locked, present = set(pins) - ignored, set(installed) - ignored
    problems = [f"missing: {name}=={pins[name]}" for name in sorted(locked - present)]
    problems += [f"extra: {name}=={installed[name]}" for name in sorted(present - locked)]
    problems += [
        f"different: {name} locked {pins[name]}, installed {installed[name]}"
        for name in sorted(locked & present)
        if not _same_version(pins[name], installed[name])
    ]
    return problems


class Input(NamedTuple):
    """One requirement the lock must satisfy: where it is written, its text, and whether it is only a constraint
    (which binds a package only where the lock has it)."""

    where: str
    text: str
    constraint: bool = False


def _project_requirements(extras: list[str]) -> list[Input]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = [("pyproject.toml dependencies", project.get("dependencies", []))]
    groups += [(f"pyproject.toml extra {extra!r}", project["optional-dependencies"][extra]) for extra in extras]
    return [Input(where, text) for where, texts in groups for text in texts]


def lock_inputs(path: Path, constraint: bool = False) -> list[Input]:
    """Each requirement the lock must satisfy, following ``-r`` and ``-c`` includes and expanding the editable
    project line into pyproject.toml's dependencies and the extras it names."""
    found: list[Input] = []
    for number, text in _lines(path):
        include = re.match(r"^-(?P<kind>[rc])\s+(?P<file>\S+)$", text)
        project = EDITABLE_PROJECT.match(text)
        if include:
            found += lock_inputs(path.parent / include["file"], constraint or include["kind"] == "c")
        elif project:
            extras = [extra.strip() for extra in (project["extras"] or "").split(",") if extra.strip()]
            found += _project_requirements(extras)
        else:
            found.append(Input(f"{path.name}:{number}", text, constraint))
    return found


def unsatisfied(pins: dict[str, str], inputs: list[Input]) -> list[str]:
    """One line per requirement that the pins leave out or pin outside its range (markers evaluated here)."""
    problems = []
    for where, text, constraint in inputs:
        requirement = Requirement(text)
        name = normalize(requirement.name)
        if name in IGNORED or (requirement.marker is not None and not requirement.marker.evaluate()):
            continue
        if name not in pins:
            if not constraint:
                problems.append(f"{where}: {text!r} is not in the lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{where}: {text!r}, but the lock pins {name}=={pins[name]}")
    return problems


def test_installed_environment_is_exactly_the_lock():
    problems = compare(read_pins(LOCK), installed_distributions())
    assert not problems, (
        "the environment differs from requirements/lock.txt; `rm -f .venv/.installed && make setup` syncs it "
        "(after changing dependencies, `make lock` first):\n  " + "\n  ".join(problems)
    )


def test_lock_satisfies_the_project_and_its_inputs():
    inputs = lock_inputs(REQUIREMENTS / "lock.in") + lock_inputs(REQUIREMENTS / "no-deps.in")
    inputs += lock_inputs(ROOT / "constraints.txt", constraint=True)
    problems = unsatisfied(read_pins(LOCK), inputs)
    assert not problems, "requirements/lock.txt is out of date, run `make lock`:\n  " + "\n  ".join(problems)


def test_lock_pins_the_cpu_build_of_torch():
    pins = read_pins(LOCK)
    assert Version(pins["torch"]).local == "cpu", f"torch=={pins['torch']} is not the CPU build"
    gpu_only = sorted(name for name in pins if name.startswith("nvidia-") or name == "triton")
    assert not gpu_only, f"the lock pulls CUDA packages: {gpu_only}"


def test_compare_lists_missing_extra_and_different_packages():
    pins = {"torch": "2.13.0+cpu", "numpy": "2.4.6", "rich": "14.1.0", "pyyaml": "6.0"}
    installed = {"torch": "2.13.0", "numpy": "2.4.6", "six": "1.17.0", "pyyaml": "6.0.0", "grpokit": "0.1.0"}
    assert compare(pins, installed) == [
        "missing: rich==14.1.0",
        "extra: six==1.17.0",
        "different: torch locked 2.13.0+cpu, installed 2.13.0",
    ]
    assert compare(pins, pins) == []


def test_read_pins_normalizes_names_and_rejects_anything_but_exact_pins(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("# header\n-e .\n    # via -r lock.in\nFoo_Bar.baz==1.0  # comment\ntorch==2.13.0+cpu\n")
    assert read_pins(lock) == {"foo-bar-baz": "1.0", "torch": "2.13.0+cpu"}
    lock.write_text("numpy>=2\n")
    with pytest.raises(ValueError, match=r"lock.txt:1: not an exact pin"):
        read_pins(lock)
    lock.write_text("numpy==2.0\nNumPy==2.1\n")
    with pytest.raises(ValueError, match="numpy is pinned twice"):
        read_pins(lock)


def test_unsatisfied_names_the_requirement_and_the_pin():
    inputs = [
        Input("lock.in:1", "numpy>=2,<3"),
        Input("lock.in:2", "rich"),
        Input("lock.in:3", "torch==2.13.0"),
        Input("lock.in:4", "pywin32; sys_platform == 'win32'"),
        Input("constraints.txt:1", "ray<3", constraint=True),
        Input("constraints.txt:2", "torch<=2.12", constraint=True),
    ]
    assert unsatisfied({"numpy": "1.26.4", "torch": "2.13.0+cpu"}, inputs) == [
        "lock.in:1: 'numpy>=2,<3', but the lock pins numpy==1.26.4",
        "lock.in:2: 'rich' is not in the lock",
        "constraints.txt:2: 'torch<=2.12', but the lock pins torch==2.13.0+cpu",
    ]


def test_lock_inputs_follow_includes_and_expand_the_project(tmp_path):
    (tmp_path / "extra.txt").write_text("ray>=2.40  # what verl needs\n")
    (tmp_path / "caps.txt").write_text("torch<=2.14.1\n")
    (tmp_path / "lock.in").write_text("# comment\n-e .[test]\n-r extra.txt\n-c caps.txt\npip\n")
    inputs = lock_inputs(tmp_path / "lock.in")
    assert Input("extra.txt:1", "ray>=2.40") in inputs
    assert Input("caps.txt:1", "torch<=2.14.1", constraint=True) in inputs
    assert Input("lock.in:5", "pip") in inputs
    assert any(i.where == "pyproject.toml extra 'test'" and i.text.startswith("pytest") for i in inputs)
    assert any(i.where == "pyproject.toml dependencies" and i.text.startswith("torch") for i in inputs)
