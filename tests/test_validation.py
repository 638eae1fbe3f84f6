"""validate_config: every mistake is a ConfigError that names its key, before a model or data is touched."""

import pytest
import torch

from grpokit.config import ConfigError, load_config
from grpokit.core.losses import POLICY_LOSSES, register_policy_loss
from grpokit.validation import check_model, user_errors, validate_config
from tests.helpers import REPO, tiny_agent_config

FIXTURES = REPO / "tests" / "fixtures" / "tasks"


def tiny(*overrides: str):
    return load_config(REPO / "configs" / "tiny-test.yaml", list(overrides))


@pytest.mark.parametrize(
    "preset", sorted(str(p.relative_to(REPO / "configs")) for p in (REPO / "configs").rglob("*.yaml"))
)
def test_every_preset_is_valid(preset):
    config = load_config(REPO / "configs" / preset)
    config.model.device = "cpu"  # the GPU presets are checked where CUDA is
    for params in (config.task.params, config.eval.params or {}):
        if "path" in params:  # data files that their users download
            params["path"] = str(FIXTURES / "math500.jsonl")
    validate_config(config)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["loss=grpoo"], r"^loss: unknown policy loss 'grpoo'; known: cegppo, cispo, dgpo, gppo, gspo, ppo, sapo$"),
        (["advantage=gae"], r"^advantage: unknown advantage estimator 'gae'; known: dr_grpo, grpo, rloo$"),
        (["allocation.rule=greedy"], r"^allocation.rule: unknown allocation rule 'greedy'; known: neyman, official$"),
        (["task.name=gsm9k"], r"^task.name: unknown task 'gsm9k'; known: arithmetic, champ, jsonl"),
        (["eval.task=gsm9k"], r"^eval.task: unknown task 'gsm9k'"),
        (["loss_agg_mode=sum"], r"^loss_agg_mode: unknown mode 'sum'; known: token-mean"),
        (["loss_params={eps_hgh: 0.3}"], r"^loss_params: policy loss 'dgpo' got unknown parameter\(s\) eps_hgh"),
        (["loss_params={eps_low: high}"], r"^loss_params.eps_low: expected float, got 'high' \(str\)$"),
        (["loss_params={n: -2}"], r"^loss_params: n must be >= -1 .*got -2$"),
        (["loss_params={m: 0}"], r"^loss_params: m must be > 0"),
        (["loss_params={eps_low: 1.0}"], r"^loss_params: eps_low must be in \(0, 1\)"),
        (["loss_params={eps_low: 0}"], r"^loss_params: eps_low must be in \(0, 1\)"),
        (["loss_params={eps_high: 0}"], r"^loss_params: eps_high must be > 0, got 0$"),
        (["loss=ppo", "loss_params={clip_c: 0.5}"], r"^loss_params: clip_c must be > 1"),
        (["loss=gppo", "loss_params={beta_low: -1}"], r"^loss_params: beta_low and beta_high must be >= 0"),
        (["loss=sapo", "loss_params={tau_pos: 0}"], r"^loss_params: tau_pos and tau_neg must be > 0"),
        (["modulation.params={eps_high: 0}"], r"^modulation.params: eps_low must be in \(0, 1\) and eps_high > 0"),
        (["modulation.params={mu_max: 0.5}"], r"^modulation.params: mu_max must be >= 1"),
        (["modulation.params={beta: 1}"], r"^modulation.params: dynamo_modulate got unknown parameter\(s\) beta"),
        (["advantage_params={epsilon: 1}"], r"^advantage_params: advantage estimator 'grpo' got unknown"),
        (["task.params={digitz: 1}"], r"^task.params: task 'arithmetic' got unknown parameter\(s\) digitz"),
        (["task.params={digits: many}"], r"^task.params.digits: expected int, got 'many' \(str\)$"),
        (["task.name=jsonl", "task.params={path: nowhere.jsonl}"], r"^task.params.path: data file nowhere.jsonl does"),
        (["eval.params={path: nowhere.jsonl}", "eval.task=jsonl"], r"^eval.params.path: data file nowhere.jsonl"),
        (
            ["skip_zero_advantage_rows=true", "kl_coef=0.1", "modulation.enabled=true"],
            r"^skip_zero_advantage_rows: kl_coef, modulation.enabled gives rows of advantage 0 a gradient",
        ),
        (["skip_zero_advantage_rows=true", "entropy_coef=0.01"], r"^skip_zero_advantage_rows: entropy_coef gives"),
        (["lr=-1e-5"], r"^lr must be >= 0, got -1e-05$"),
        (["steps=-1"], r"^steps must be >= 0, got -1$"),
        (["prompts_per_step=0"], r"^prompts_per_step must be >= 1, got 0$"),
        (["group_size=0"], r"^group_size must be >= 1, got 0$"),
        (["eval.problems=0"], r"^eval.problems must be >= 1, got 0$"),
        (["temperature=-0.5"], r"^temperature must be >= 0, got -0.5$"),
        (["top_p=0"], r"^top_p must be in \(0, 1\], got 0.0$"),
        (["top_p=1.1"], r"^top_p must be in \(0, 1\], got 1.1$"),
        (["group_size=1"], r"^group_size must be >= 2 with the group-relative advantage estimator 'grpo'"),
        (["advantage=rloo", "group_size=1"], r"^group_size must be >= 2 .* estimator 'rloo'"),
        (
            ["allocation.enabled=true", "group_size=9"],
            r"^group_size .* \[allocation.n_min, allocation.n_max\] = \[2, 8\]",
        ),
        (["model.device=gpu"], r"^model.device: unknown device 'gpu'; use auto, cpu, cuda or cuda:N$"),
        (["model.dtype=fp8"], r"^model.dtype: unknown dtype 'fp8'"),
        (["recompute_old_log_probs=often"], r"^recompute_old_log_probs must be true, false or auto, got 'often'$"),
        (["model.name=./no/such/model"], r"^model.name: model directory ./no/such/model does not exist$"),
    ],
)
def test_a_mistake_is_named_by_its_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(tiny(*overrides))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["agent.env=nethack"], r"^agent.env: unknown environment 'nethack'; known: alfworld"),
        (["agent.env_params={splitt: x}"], r"^agent.env_params: environment 'test-parity-room' got unknown .* splitt"),
        (
            ["eval.params={splitt: x}"],
            r"^eval.params: environment 'test-parity-room' got unknown parameter\(s\) splitt",
        ),
        (
            ["eval.params={split: valid}", "eval.split=test"],
            r"^eval.params.split \(valid\) and eval.split \(test\) disagree: set eval.split alone$",
        ),
        (["agent.credit=gae"], r"^agent.credit: unknown credit estimator 'gae'; known: gigpo, grpo, proxmo$"),
        (["agent.credit_params={variant: paperr}"], r"^agent.credit_params: unknown ProxMO variant 'paperr'"),
        (["agent.credit_params={tau: 0}"], r"^agent.credit_params: tau must be > 0"),
        (["agent.tasks_per_step=0"], r"^agent.tasks_per_step must be >= 1, got 0$"),
        (["eval.base_problems=3"], r"^eval.base_problems \(3\) must be at most eval.problems \(2\)$"),
        (["eval.base_problems=-1"], r"^eval.base_problems must be >= 0, got -1$"),
        (
            ["agent.prompt_style=terse"],
            r"^agent.prompt_style must be one of full, compact, compact_actions, compact_moves, got 'terse'$",
        ),
    ],
)
def test_a_mistake_in_an_agent_run_is_named_by_its_key(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(tiny_agent_config(tmp_path, *overrides))


def test_what_a_run_does_not_use_is_not_held_against_it(tmp_path):
    validate_config(tiny("group_size=1", "allocation.enabled=true", "allocation.n_min=1"))  # DynaMO mixes sizes
    validate_config(tiny_agent_config(tmp_path, "task.name=jsonl", "task.params={path: nowhere.jsonl}"))


def test_skipping_zero_advantage_rows_refuses_a_loss_that_does_not_vanish_with_the_advantage():
    name = "test-length-penalty"

    @register_policy_loss(name)
    def length_penalty(log_prob, old_log_prob, advantages, response_mask):  # a term without the advantage
        no_region = torch.zeros_like(log_prob, dtype=torch.bool)
        return -advantages * log_prob + 0.01 * log_prob, {"clipfrac_low": no_region, "clipfrac_high": no_region}

    try:
        validate_config(tiny(f"loss={name}"))
        with pytest.raises(ConfigError, match=rf"^skip_zero_advantage_rows: loss '{name}' gives rows of advantage 0"):
            validate_config(tiny(f"loss={name}", "skip_zero_advantage_rows=true"))
        for loss in ("ppo", "dgpo", "cispo", "gppo", "cegppo", "sapo", "gspo"):
            validate_config(tiny(f"loss={loss}", "skip_zero_advantage_rows=true"))
        validate_config(tiny("loss=ppo", "loss_params={clip_c: 3.0}", "skip_zero_advantage_rows=true"))
    finally:
        POLICY_LOSSES._fns.pop(name, None)


def test_numbers_that_yaml_read_as_text_become_floats():
    config = tiny("loss=gspo", "loss_params={eps_low: 3e-4, eps_high: 4e-4}")
    assert config.loss_params == {"eps_low": "3e-4", "eps_high": "4e-4"}  # YAML 1.1 wants a dot
    validate_config(config)
    assert config.loss_params == {"eps_low": 3e-4, "eps_high": 4e-4}


def test_large_eps_high_is_allowed_for_clip_higher_and_cispo():
    validate_config(tiny("loss=ppo", "loss_params={eps_low: 0.2, eps_high: 1.5}"))
    validate_config(tiny("loss=cispo", "loss_params={eps_high: 4.0}"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_is_named():
    with pytest.raises(ConfigError, match=r"^model.device: 'cuda' asks for CUDA, which this machine does not have$"):
        validate_config(tiny("model.device=cuda"))


def test_a_model_directory_needs_weights_and_a_tokenizer(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"^model.name: model directory .*model has no weights \(\*.safetensors"):
        check_model(str(model), "model.name")
    (model / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"^model.name: model directory .*model has no tokenizer \(tokenizer.json"):
        check_model(str(model), "model.name")
    (model / "tokenizer.json").write_text("{}")
    check_model(str(model), "model.name")
    with pytest.raises(ConfigError, match=r"has no weights .*\(did you mean .*/model\?\)$"):
        check_model(str(tmp_path), "--model")  # a checkpoint directory instead of its model/


def test_a_hub_id_passes_unless_the_hub_is_off(monkeypatch):
    check_model("HuggingFaceTB/SmolLM2-135M-Instruct", "model.name")
    check_model("tiny-random", "model.name")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"^model.name: 'org/model' is neither a built-in model .*HF_HUB_OFFLINE=1"):
        check_model("org/model", "model.name")


def test_user_errors_name_the_key_and_leave_other_exceptions_alone():
    with pytest.raises(ConfigError, match=r"^task: digits must be >= 1$"), user_errors("task"):
        raise ValueError("digits must be >= 1")
    with pytest.raises(ConfigError, match=r"^already named$"), user_errors("task"):
        raise ConfigError("already named")
    with pytest.raises(KeyError), user_errors("task"):
        raise KeyError("a bug")
