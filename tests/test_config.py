"""Typed configuration: presets load, unknown keys get a suggestion, bad types name the key."""

import pytest

from grpokit.config import ConfigError, config_help, config_reference, load_config, parse_override
from tests.helpers import REPO


@pytest.mark.parametrize("preset", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_every_preset_is_valid(preset):
    config = load_config(REPO / "configs" / preset)
    assert config.steps > 0


def test_overrides_are_typed_yaml():
    config = load_config(None, ["lr=3e-5", "loss=ppo", "loss_params={eps_high: 0.28}", "eval.every=5", "run_dir=null"])
    assert config.lr == 3e-5 and config.loss == "ppo" and config.loss_params == {"eps_high": 0.28}
    assert config.eval.every == 5 and config.run_dir is None


def test_unknown_key_suggests_the_closest():
    with pytest.raises(
        ConfigError, match=r"unknown config key 'lerning_rate'|unknown config key 'lrr'.*did you mean lr"
    ):
        load_config(None, ["lrr=1e-5"])
    with pytest.raises(ConfigError, match=r"'eval.problemz'.*did you mean eval.problems"):
        load_config(None, ["eval.problemz=5"])


def test_ill_typed_value_names_the_key_and_type():
    with pytest.raises(ConfigError, match=r"steps: expected int, got 'many'"):
        load_config(None, ["steps=many"])
    with pytest.raises(ConfigError, match=r"allocation.enabled: expected bool"):
        load_config(None, ["allocation.enabled=3"])


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: 3\nmodle: {name: x}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'modle'; did you mean model"):
        load_config(bad)


def test_override_syntax():
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    with pytest.raises(ConfigError, match="not key=value"):
        parse_override("steps")


def test_every_field_has_help():
    rows = config_help()
    assert {"lr", "model.name", "allocation.rule"} <= {key for key, _, _ in rows}
    assert all(text for _, text, _ in rows)


def test_the_configuration_reference_is_generated_from_trainconfig():
    reference = config_reference()
    assert all(f"| `{key}` |" in reference for key, _, _ in config_help())
    written = (REPO / "docs" / "configuration.md").read_text()
    assert written == reference, (
        "docs/configuration.md is stale; regenerate it with `python -m grpokit.config > docs/configuration.md`"
    )
