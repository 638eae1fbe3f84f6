"""Imports point down the layers (cli → train → core; integrations → core), and grpokit runs without the engines.

Imports are read from the source (those inside functions too), so a lazy import that climbs a layer fails here
instead of waiting for the code path that runs it.
"""

import ast
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import REPO

SRC = REPO / "src"


def imported_modules(path) -> set[str]:
    """Every absolute module a file imports, anywhere in it (``from a import b`` counts as ``a`` and ``a.b``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules_of(package: str) -> dict[str, set[str]]:
    """``{module: its imports}`` for every module of ``package`` (e.g. ``grpokit.train``)."""
    folder = SRC.joinpath(*package.split("."))
    return {
        ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): imported_modules(path)
        for path in sorted(folder.rglob("*.py"))
    }


def within(name: str, prefixes) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def offending(package: str, forbidden) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in modules_of(package).items()
        for name in sorted(names)
        if within(name, forbidden)
    ]


def test_core_imports_nothing_of_grpokit_but_core():
    """core is pure tensor math: no config, trainer, model, integration or engine."""
    others = ("grpokit.config", "grpokit.train", "grpokit.models", "grpokit.rollout", "grpokit.tasks", "grpokit.cli")
    assert offending("grpokit.core", (*others, "trl", "verl")) == []
    grpokit_imports = {n for names in modules_of("grpokit.core").values() for n in names if within(n, ["grpokit"])}
    assert all(within(name, ["grpokit.core"]) for name in grpokit_imports), grpokit_imports


def test_train_does_not_import_the_layers_above_it():
    """Regression: the trainer imported grpokit.plot (above it) to write the plots; the CLI does that now."""
    assert offending("grpokit.train", ("grpokit.cli", "grpokit.plot", "trl", "verl")) == []


def test_the_trainers_do_not_import_the_factory_above_them():
    """Regression: trainer.py imported agent_trainer.py (which imports trainer.py) inside build_trainer."""
    graph = {m: {n for n in names if within(n, ["grpokit.train"])} for m, names in modules_of("grpokit.train").items()}
    assert "grpokit.train.agent_trainer" not in graph["grpokit.train.trainer"]
    for module in ("grpokit.train.trainer", "grpokit.train.agent_trainer"):
        assert "grpokit.train.factory" not in graph[module]

    def reaches(start, goal, seen=()):
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in graph.get(start, ()))

    cycles = [m for m in graph if reaches(m, m)]
    assert cycles == [], f"import cycle through {cycles}"


@pytest.mark.parametrize("package", ["grpokit.core", "grpokit.train"])
def test_core_and_train_never_import_an_integration(package):
    """Integrations import core; the reverse would make grpokit need TRL or verl."""
    assert offending(package, ("grpokit.integrations",)) == []


def without_engines(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where ``import trl`` and ``import verl`` fail, as if not installed."""
    script = 'import sys\nsys.modules["trl"] = sys.modules["verl"] = None\n' + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=600)


def test_grpokit_imports_without_trl_or_verl_and_the_trl_integration_names_the_extra():
    result = without_engines(
        """
        import grpokit, grpokit.cli, grpokit.integrations
        try:
            import grpokit.integrations.trl
        except ImportError as error:
            print(error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "grpokit.integrations.trl needs TRL: pip install 'grpokit[trl]'"


@pytest.mark.slow  # imports torch, transformers and both trainers in a fresh interpreter
def test_core_trainers_and_cli_run_without_trl_or_verl():
    result = without_engines(
        """
        import grpokit.core, grpokit.train.factory
        from grpokit.cli import main
        assert main(["list"]) == 0
        assert not any(name.startswith("grpokit.integrations") for name in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "dgpo" in result.stdout
