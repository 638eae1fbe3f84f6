"""Post-import hooks: run a callback right after a module has been imported, without importing it.

The plugin registers grpokit's names with verl's registries, which live in heavy modules (``core_algos`` pulls in
transformers and datasets; the v1 trainer Ray, TransferQueue and the agent loops). Importing them from the plugin
would make every ``import verl`` pay for them, in every Ray, FSDP, agent-loop and vLLM process. Instead the plugin
asks to be called when verl itself imports one of them: a finder at the front of ``sys.meta_path`` lends the
module's own loader a callback that runs once the module has executed. Nothing else about the import changes (the
module keeps its own loader), and the finder leaves ``sys.meta_path`` once every callback has run.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

Callback = Callable[[], None]


class _WhenImported(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of each watched module that another finder finds."""

    def __init__(self) -> None:
        self.callbacks: dict[str, list[Callback]] = {}
        self.lock = threading.Lock()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self.callbacks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _CallbackLoader(spec.loader, self)
                return spec
        return None

    def add(self, name: str, callback: Callback) -> None:
        with self.lock:
            self.callbacks.setdefault(name, []).append(callback)
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def pop(self, name: str) -> list[Callback]:
        with self.lock:
            callbacks = self.callbacks.pop(name, [])
            if not self.callbacks and self in sys.meta_path:
                sys.meta_path.remove(self)
            return callbacks


class _CallbackLoader(importlib.abc.Loader):
    """The module's own loader, then the callbacks waiting for it."""

    def __init__(self, loader: importlib.abc.Loader, finder: _WhenImported) -> None:
        self.loader, self.finder = loader, finder

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader  # the module never sees this wrapper
        self.loader.exec_module(module)
        for callback in self.finder.pop(module.__spec__.name):  # kept for a retry when the module itself fails
            callback()


_FINDER = _WhenImported()


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback()`` once module ``name`` has been imported: now if it already has been, else right after the
    import that executes it (in whichever thread runs that import)."""
    if name in sys.modules:
        callback()
    else:
        _FINDER.add(name, callback)
