"""Checking a whole ``TrainConfig`` before anything is created: no run directory, no model, no data read.

``validate_config`` raises a ``ConfigError`` that names the key for every mistake it can see up front: an unknown
loss, estimator, rule, task or environment (listing the known ones); a parameter that the function does not take or
of the wrong type; a value out of its range (the loss's, the estimator's and DynaMO's own checks run on one dummy
token or row); a missing data file or model directory. What only the data can tell (a malformed row, a split the
task lacks) surfaces where the task is built, inside ``user_errors``.
"""

from __future__ import annotations

import functools
import os
import platform
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from grpokit.agent.manager import ROWS
from grpokit.agent.prompts import PROMPT_STYLES
from grpokit.config import ConfigError, TrainConfig, coerce
from grpokit.host_memory import has_glibc

# Estimators that compare a response with the other responses to its prompt: a group of one has nothing to compare.
GROUP_RELATIVE_ESTIMATORS = ("grpo", "dr_grpo", "rloo")
WEIGHT_SUFFIXES = (".safetensors", ".bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")

Rule = tuple[Callable[[Any], bool], str]
AT_LEAST_ONE: Rule = (lambda value: value >= 1, ">= 1")
NON_NEGATIVE: Rule = (lambda value: value >= 0, ">= 0")
POSITIVE: Rule = (lambda value: value > 0, "> 0")

RANGES: dict[str, Rule] = {
    **dict.fromkeys(
        (
            "prompts_per_step",
            "group_size",
            "max_new_tokens",
            "generation_batch_size",
            "ppo_epochs",
            "mini_batches",
            "micro_batch_tokens",
            "max_bad_steps",
            "keep_checkpoints",
            "task.train_size",
            "eval.problems",
            "eval.max_new_tokens",
            "eval.batch_size",
            "allocation.n_max",
            "agent.tasks_per_step",
            "agent.max_turns",
            "agent.warm_start_tasks",
        ),
        AT_LEAST_ONE,
    ),
    **dict.fromkeys(
        (
            "steps",
            "temperature",
            "lr",
            "weight_decay",
            "warmup_steps",
            "kl_coef",
            "entropy_coef",
            "checkpoint_every",
            "eval.every",
            "eval.base_problems",
            "eval.samples",
            "eval.temperature",
            "model.lora_r",
            "allocation.n_min",
            "allocation.initial_budget",
            "agent.history_length",
            "agent.fallback_chars",
            "agent.warm_start_steps",
            "agent.warm_start_lr",
            "agent.control_steps",
        ),
        NON_NEGATIVE,
    ),
    **dict.fromkeys(
        ("max_grad_norm", "loss_scale_factor", "model.lora_alpha", "agent.reward_scale", "agent.step_timeout_s"),
        POSITIVE,
    ),
    "top_p": (lambda value: 0 < value <= 1, "in (0, 1]"),
}


def validate_config(config: TrainConfig) -> None:
    """Raise ``ConfigError`` naming the key for anything wrong in ``config`` that can be seen without data.

    Checks what the run uses: the single-turn task, advantage and allocation, or the multi-turn environment and
    credit estimator. A number that YAML read as text in a parameter mapping (``{eps_high: 3e-4}``) becomes a float
    in place, as it does for the top-level keys.
    """
    for key, rule in RANGES.items():
        check_range(key, functools.reduce(getattr, key.split("."), config), rule)
    check_precision(config.model.dtype, config.model.device, "model.dtype", "model.device")
    if config.model.release_freed_memory and not has_glibc():
        raise ConfigError(f"model.release_freed_memory: needs Linux with glibc, not {platform.platform()}")
    recompute = config.recompute_old_log_probs
    if recompute not in (True, False, "auto"):
        raise ConfigError(f"recompute_old_log_probs must be true, false or auto, got {recompute!r}")
    check_model(config.model.name, "model.name")
    _check_loss(config)
    _check_modulation(config.modulation.params)
    _check_skip_zero_advantage_rows(config)
    if config.agent.env:
        _check_agent(config)
    else:
        _check_single_turn(config)


def check_range(key: str, value: Any, rule: Rule) -> None:
    """``value`` (``None`` passes) must satisfy ``rule``; the error names ``key``."""
    test, text = rule
    if value is not None and not test(value):
        raise ConfigError(f"{key} must be {text}, got {value!r}")


@contextmanager
def user_errors(key: str) -> Iterator[None]:
    """Report a ``ValueError`` or ``FileNotFoundError`` raised inside as a ``ConfigError`` about ``key``.

    For code that builds or reads what the user configured (a task, an environment, a dummy call of a loss), where
    such an error means the user's name, parameter or data is wrong: a malformed row, a split the task lacks.
    """
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError(f"{key}: {error}") from error


def check_precision(dtype: str, device: str, dtype_key: str, device_key: str) -> None:
    """A known compute dtype and a device this machine has."""
    from grpokit.models import resolve_device, resolve_dtype

    try:
        torch_device = resolve_device(device)
    except RuntimeError:
        raise ConfigError(f"{device_key}: unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{device_key}: {device!r} asks for CUDA, which this machine does not have")
    with user_errors(dtype_key):
        resolve_dtype(dtype, torch_device)


def check_model(name: str, key: str) -> None:
    """A built-in name, a hub id, or a local directory that holds weights and a tokenizer."""
    from grpokit.models import BUILTIN_MODELS

    if name in BUILTIN_MODELS:
        return
    path = Path(name).expanduser()
    if not path.exists():
        if name.startswith((".", "/", "~")) or name.count("/") > 1:  # a path, where a hub id is "owner/name"
            raise ConfigError(f"{key}: model directory {name} does not exist")
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ConfigError(
                f"{key}: {name!r} is neither a built-in model ({', '.join(BUILTIN_MODELS)}) nor a local directory, "
                "and HF_HUB_OFFLINE=1 forbids the hub"
            )
        return
    if not path.is_dir():
        raise ConfigError(f"{key}: {name} is a file, not a model directory")
    files = [p.name for p in path.iterdir()]
    hint = f" (did you mean {path / 'model'}?)" if (path / "model").is_dir() else ""
    if not any(f.endswith(WEIGHT_SUFFIXES) for f in files):
        raise ConfigError(f"{key}: model directory {name} has no weights (*.safetensors or *.bin){hint}")
    if not any(f in TOKENIZER_FILES for f in files):
        raise ConfigError(f"{key}: model directory {name} has no tokenizer ({', '.join(TOKENIZER_FILES)}){hint}")


def check_task(name: str, params: dict[str, Any], name_key: str, params_key: str) -> None:
    """A registered task whose parameters it takes; a ``path`` parameter must name an existing file."""
    from grpokit.tasks import TASKS

    _check_registered(TASKS, name, params, name_key, params_key)
    path = params.get("path")
    if isinstance(path, str) and not Path(path).exists():
        raise ConfigError(f"{_join(params_key, 'path')}: data file {path} does not exist")


def check_params(fn: Callable[..., Any], params: dict[str, Any], key: str, what: str) -> None:
    """``params`` must be keyword parameters of ``fn`` (called ``what`` in errors) whose values fit their
    annotations, checked and converted in place by ``grpokit.config.coerce`` as the top-level keys are."""
    from grpokit.core.registry import check_params as check_names

    try:
        check_names(fn, params, what)
    except TypeError as error:
        raise ConfigError(f"{key}: {error}" if key else str(error)) from None
    try:
        hints = typing.get_type_hints(fn.__init__ if isinstance(fn, type) else fn)
    except (NameError, TypeError):  # annotations that do not resolve: only the names can be checked
        return
    for name, value in params.items():
        checked = coerce(value, hints.get(name, Any), _join(key, name))
        if isinstance(value, str):  # only YAML's numbers read as text change; an int stays an int
            params[name] = checked


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _check_registered(registry, name: str, params: dict[str, Any], name_key: str, params_key: str):
    """The function registered as ``name`` (an unknown name lists the known ones), checked to take ``params``."""
    try:
        fn = registry.get(name)
    except ValueError as error:
        raise ConfigError(f"{name_key}: {error}") from None
    check_params(fn, params, params_key, f"{registry.kind} {name!r}")
    return fn


def _check_loss(config: TrainConfig) -> None:
    from grpokit.core.losses import LOSS_AGG_MODES, POLICY_LOSSES, compute_policy_loss

    _check_registered(POLICY_LOSSES, config.loss, config.loss_params, "loss", "loss_params")
    if config.loss_agg_mode not in LOSS_AGG_MODES:
        raise ConfigError(f"loss_agg_mode: unknown mode {config.loss_agg_mode!r}; known: {', '.join(LOSS_AGG_MODES)}")
    token = torch.zeros(1, 1)
    with user_errors("loss_params"):
        compute_policy_loss(config.loss, token, token, token, torch.ones(1, 1), **config.loss_params)


def _check_skip_zero_advantage_rows(config: TrainConfig) -> None:
    """Skipping rows of advantage 0 is exact only if nothing gives them a gradient: the loss (a registered one need not
    be a multiple of the advantage, so it is tried on tokens inside and outside the clip range), KL, entropy bonus,
    or DynaMO's modulation (whose factors are normalised over the micro-batch's rows)."""
    if not config.skip_zero_advantage_rows:
        return
    from grpokit.core.losses import compute_policy_loss

    log_prob = torch.tensor([[-0.5, -1.5, -3.0]], requires_grad=True)
    old_log_prob = torch.tensor([[-0.7, -1.0, -4.0]])
    loss, _ = compute_policy_loss(
        config.loss, log_prob, old_log_prob, torch.zeros(1, 1), torch.ones(1, 3), **config.loss_params
    )
    loss.backward()
    blockers = [f"loss {config.loss!r}"] if loss.item() != 0 or log_prob.grad.abs().max() > 0 else []
    blockers += [
        key
        for key, on in (
            ("kl_coef", config.kl_coef > 0),
            ("entropy_coef", config.entropy_coef > 0),
            ("modulation.enabled", config.modulation.enabled),
        )
        if on
    ]
    if blockers:
        raise ConfigError(
            f"skip_zero_advantage_rows: {', '.join(blockers)} gives rows of advantage 0 a gradient (or, for "
            "modulation, a say in other rows' factors); skipping them would change the update"
        )


def _check_modulation(params: dict[str, Any]) -> None:
    from grpokit.core.modulation import dynamo_modulate

    check_params(dynamo_modulate, params, "modulation.params", "dynamo_modulate")
    token = torch.zeros(1, 1)
    with user_errors("modulation.params"):
        dynamo_modulate(token, token, token, token, torch.ones(1, 1), **params)


def _check_single_turn(config: TrainConfig) -> None:
    from grpokit.core.advantages import ADVANTAGE_ESTIMATORS, compute_outcome_advantages
    from grpokit.core.allocation import ALLOCATION_RULES

    check_task(config.task.name, config.task.params, "task.name", "task.params")
    if config.eval.task is not None or config.eval.params is not None:
        params = config.eval.params if config.eval.params is not None else config.task.params
        check_task(config.eval.task or config.task.name, params, "eval.task", "eval.params")

    _check_registered(ADVANTAGE_ESTIMATORS, config.advantage, config.advantage_params, "advantage", "advantage_params")
    with user_errors("advantage_params"):
        compute_outcome_advantages(config.advantage, [1.0, 0.0], ["prompt", "prompt"], **config.advantage_params)

    allocation = config.allocation
    _check_registered(ALLOCATION_RULES, allocation.rule, {}, "allocation.rule", "")
    if allocation.enabled and not allocation.n_min <= config.group_size <= allocation.n_max:
        raise ConfigError(
            f"group_size (the mean rollouts per prompt under allocation) must lie in [allocation.n_min, "
            f"allocation.n_max] = [{allocation.n_min}, {allocation.n_max}], got {config.group_size}"
        )
    if config.group_size < 2 and config.advantage in GROUP_RELATIVE_ESTIMATORS and not allocation.enabled:
        raise ConfigError(
            f"group_size must be >= 2 with the group-relative advantage estimator {config.advantage!r} (a group of "
            f"one response has no other to compare with), got {config.group_size}; or set allocation.enabled=true"
        )


def _check_agent(config: TrainConfig) -> None:
    from grpokit.core.credit import CREDIT_ESTIMATORS
    from grpokit.envs import ENVS

    agent = config.agent
    if agent.rows not in ROWS:
        raise ConfigError(f"agent.rows must be one of {', '.join(ROWS)}, got {agent.rows!r}")
    if agent.prompt_style not in PROMPT_STYLES:
        raise ConfigError(f"agent.prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {agent.prompt_style!r}")
    make_env = _check_registered(ENVS, agent.env, agent.env_params, "agent.env", "agent.env_params")
    for i, stage in enumerate(agent.curriculum):
        key = f"agent.curriculum[{i}]"
        if not isinstance(stage, dict) or set(stage) != {"steps", "env_params"}:
            raise ConfigError(f"{key} must be a mapping with the keys steps and env_params, got {stage!r}")
        check_range(f"{key}.steps", coerce(stage["steps"], int, f"{key}.steps"), AT_LEAST_ONE)
        coerce(stage["env_params"], dict, f"{key}.env_params")
        check_params(make_env, stage["env_params"], f"{key}.env_params", f"environment {agent.env!r}")
    if config.eval.base_problems > config.eval.problems:
        raise ConfigError(
            f"eval.base_problems ({config.eval.base_problems}) must be at most eval.problems ({config.eval.problems})"
        )
    eval_params, eval_split = config.eval.params, config.eval.split
    if eval_params is not None:
        check_params(make_env, eval_params, "eval.params", f"environment {agent.env!r}")
        if eval_params.get("split", eval_split) != eval_split:
            raise ConfigError(
                f"eval.params.split ({eval_params['split']}) and eval.split ({eval_split}) disagree: set eval.split "
                "alone"
            )
    credit = _check_registered(
        CREDIT_ESTIMATORS, agent.credit, agent.credit_params, "agent.credit", "agent.credit_params"
    )
    with user_errors("agent.credit_params"):
        credit(["task"], ["episode"], ["you are in the middle of a room"], [1.0], [1.0], **agent.credit_params)
