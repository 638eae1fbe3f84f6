"""Name → function registries, so a config string can select a loss, estimator or rule.

Every registry checks keyword parameters against the registered function's signature before calling it, so a
misspelt hyperparameter is a ``TypeError`` that names it instead of a silently ignored key.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any


class Registry:
    """A named collection of functions with the same calling convention.

    ``kind`` is a human word for error messages ("policy loss", "advantage estimator", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._fns: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator that adds a function under ``name``; a name may be registered only once."""

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._fns:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._fns[name] = fn
            return fn

        return decorator

    def get(self, name: str) -> Callable[..., Any]:
        """The function registered as ``name``; an unknown name lists the known ones."""
        try:
            return self._fns[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._fns))}") from None

    def call(self, name: str, *args: Any, **params: Any) -> Any:
        """Call ``name`` with ``args`` and keyword ``params``, rejecting parameters it does not take."""
        fn = self.get(name)
        check_params(fn, params, f"{self.kind} {name!r}")
        return fn(*args, **params)

    def names(self) -> list[str]:
        return sorted(self._fns)

    def __contains__(self, name: object) -> bool:
        return name in self._fns

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._fns)


def keyword_params(fn: Callable[..., Any]) -> dict[str, Any]:
    """The keyword-only parameters of ``fn`` with their defaults: a function's hyperparameters."""
    return {
        p.name: p.default for p in inspect.signature(fn).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def check_params(fn: Callable[..., Any], params: dict[str, Any], what: str) -> None:
    """Raise ``TypeError`` naming every key of ``params`` that is not a keyword-only parameter of ``fn``."""
    accepted = keyword_params(fn)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(
            f"{what} got unknown parameter(s) {', '.join(unknown)}; it accepts: {', '.join(accepted) or 'none'}"
        )
