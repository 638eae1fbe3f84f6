"""Registries: selection by name, clear errors, keyword checking."""

import pytest

from grpokit.core.registry import Registry, keyword_params


def make_registry():
    registry = Registry("widget")

    @registry.register("double")
    def double(x, *, factor: float = 2.0):
        return x * factor

    return registry


def test_call_passes_keyword_parameters():
    registry = make_registry()
    assert registry.call("double", 3) == 6
    assert registry.call("double", 3, factor=3.0) == 9
    assert "double" in registry and list(registry) == ["double"] and len(registry) == 1


def test_unknown_name_and_unknown_parameter_are_named():
    registry = make_registry()
    with pytest.raises(ValueError, match=r"unknown widget 'triple'; known: double"):
        registry.call("triple", 3)
    with pytest.raises(TypeError, match=r"widget 'double' got unknown parameter\(s\) fator; it accepts: factor"):
        registry.call("double", 3, fator=3.0)


def test_a_name_registers_once():
    registry = make_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register("double")(lambda x: x)


def test_keyword_params_are_the_hyperparameters():
    def fn(a, b=1, *, eps: float = 0.2, n: int = 1):
        return a

    assert keyword_params(fn) == {"eps": 0.2, "n": 1}
