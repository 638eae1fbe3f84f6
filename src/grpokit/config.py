"""Typed training configuration: YAML presets in ``configs/`` plus ``key=value`` overrides.

Every field carries its help text (``grpokit train --help-config`` prints them). Loading checks every key and
type: an unknown key is an error that names it and suggests the closest valid one; an ill-typed value names the
key, the expected type and what it got.
"""

from __future__ import annotations

import dataclasses
import difflib
import textwrap
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class UserError(Exception):
    """A mistake in what the user asked for (a config value, a data file, an argument, a run directory).

    The message says what and where; ``grpokit`` prints it as one line ``error: <message>`` without a traceback
    (``GRPOKIT_DEBUG=1`` shows the traceback too). Anything else that goes wrong is a bug and keeps its traceback.
    """


class ConfigError(UserError, ValueError):
    """A configuration key or value is wrong; the message names the key."""


def _help(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING) -> Any:
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"help": text})
    return field(default=default, metadata={"help": text})


@dataclass
class ModelConfig:
    name: str = _help(
        "built-in name (smollm2-135m-instruct, tiny-random), local directory or hub id", "smollm2-135m-instruct"
    )
    dtype: str = _help(
        "compute dtype: auto (bf16 on a GPU that has it, float32 on a CPU: docs/precision.md), float32 or bfloat16; "
        "trained weights and optimizer state are float32 either way (bf16 runs under autocast)",
        "auto",
    )
    float32_lm_head: bool = _help(
        "compute the output layer (lm_head) in float32 under bf16 compute, so logits and log-probabilities are not "
        "rounded to bf16 (MiniMax-M1, arXiv 2506.13585); no effect in float32",
        True,
    )
    float32_lora_sum: bool = _help(
        "under bf16 compute, add each LoRA branch to its frozen layer's output in float32 (the residual stream then "
        "stays float32): in bf16 an update smaller than half a bf16 step of the output is rounded away "
        "(docs/precision.md); no effect in float32 or without LoRA",
        True,
    )
    device: str = _help("auto (CUDA when present), cpu or cuda[:N]", "auto")
    lora_r: int = _help("LoRA rank; 0 trains the full model", 0)
    lora_alpha: int = _help("LoRA alpha", 32)
    gradient_checkpointing: bool = _help("trade compute for memory in the backward pass", False)
    release_freed_memory: bool = _help(
        "hand freed CPU tensor memory straight back to the OS (glibc's mmap threshold fixed at 64 KiB; Linux only) "
        "instead of keeping it in malloc's fragmented heap: with gradient_checkpointing, a SmolLM2 forward + backward "
        "of 8192 tokens grows the process by 1.6 GiB instead of 6.2, at 50-75% more time (docs/benchmarks.md)",
        False,
    )


@dataclass
class TaskConfig:
    name: str = _help("task from `grpokit list` (arithmetic, jsonl, parquet, reasoning_gym, champ)", "arithmetic")
    params: dict[str, Any] = _help("the task's own parameters (e.g. digits, operations, path, format)", factory=dict)
    train_split: str = _help("split to train on", "train")
    train_size: int | None = _help("number of training problems (None: all the task offers)", 2000)


@dataclass
class EvalConfig:
    task: str | None = _help("held-out task (None: the training task)", None)
    params: dict[str, Any] | None = _help(
        "held-out task or environment parameters (None: the training task's; eval.split sets the split)",
        None,
    )
    split: str = _help("held-out split", "test")
    problems: int = _help("number of held-out problems", 200)
    base_problems: int = _help(
        "held-out problems the base model plays before behaviour cloning (agents): the first N of eval.problems "
        "(0: all of them)",
        0,
    )
    every: int = _help("evaluate every N steps (0: only before and after training)", 0)
    samples: int = _help("samples per problem for avg@k / pass@k (0: greedy accuracy only)", 0)
    temperature: float = _help("sampling temperature for avg@k / pass@k", 1.0)
    max_new_tokens: int | None = _help("response limit in evaluation (None: as in training)", None)
    batch_size: int = _help("prompts (an agent's turns) generated together in evaluation", 64)


@dataclass
class AllocationConfig:
    enabled: bool = _help("DynaMO variance-based rollout allocation (arXiv 2602.19208 §2)", False)
    rule: str = _help("official (proportional waterfall on P) or neyman (water level on sqrt P)", "official")
    n_min: int = _help("fewest rollouts per prompt", 2)
    n_max: int = _help("most rollouts per prompt", 8)
    initial_budget: int = _help("rollouts a prompt gets before its history counts", 4)


@dataclass
class ModulationConfig:
    enabled: bool = _help("DynaMO token-level advantage modulation (arXiv 2602.19208 §3)", False)
    params: dict[str, float] = _help(
        "dynamo_modulate parameters (eps_low, eps_high, lambda_min, mu_max, ...)", factory=dict
    )


@dataclass
class AgentConfig:
    env: str | None = _help("multi-turn environment (alfworld, webshop); None trains on single-turn tasks", None)
    env_params: dict[str, Any] = _help("the environment's parameters (e.g. split, task_types)", factory=dict)
    curriculum: list[dict[str, Any]] = _help(
        "RL stages played first, in order: each {steps: N, env_params: {...}} plays N steps with these parameters "
        "over env_params (e.g. {max_receptacles: 3}: smaller rooms first); the steps after them use env_params",
        factory=list,
    )
    tasks_per_step: int = _help("tasks per rollout batch; each is played group_size times", 4)
    max_turns: int | None = _help("turns per episode (None: the environment's own limit)", None)
    rows: str = _help(
        "step (a training row per agent step: a fresh prompt with the last history_length steps, the verl-agent "
        "layout of the ProxMO and GiGPO papers) or episode (a row per episode: its whole chat, each answer trained "
        "with its step's advantage; generation keeps each episode's key/value cache across turns)",
        "step",
    )
    history_length: int = _help("past observation/action pairs shown in each prompt (step rows)", 2)
    prompt_style: str = _help(
        "full (<think> then <action>, ProxMO's template), compact (a short transcript, <action> alone: for CPU runs), "
        "compact_actions (compact plus a line of the actions before the transcript) or compact_moves (compact; with "
        "episode rows later turns name their go-to actions by one phrase, the places being the first turn's)",
        "full",
    )
    credit: str = _help("credit estimator from grpokit.core.credit (grpo, gigpo, proxmo)", "proxmo")
    credit_params: dict[str, Any] = _help(
        "the estimator's parameters (e.g. variant, gamma, tau, invalid_penalty)", factory=dict
    )
    balance_episodes: bool = _help(
        "weigh every episode the same in the loss: each step's advantage times (mean steps per episode) / (its "
        "episode's steps); off, a failed episode run to the turn limit weighs more than a short won one",
        False,
    )
    reward_scale: float = _help("multiplies environment rewards (the official runs give 10 for a success)", 10.0)
    step_timeout_s: float = _help("an environment step running longer ends its trajectory as failed", 30.0)
    fallback_chars: int = _help("answer characters taken as the action when the action tags are missing", 30)
    warm_start_steps: int = _help(
        "supervised steps on the environment's expert answers before RL (behaviour cloning; 0: none)", 0
    )
    warm_start_lr: float = _help("learning rate of the behaviour-cloning steps", 1e-4)
    warm_start_tasks: int | None = _help("expert episodes per behaviour-cloning step (None: tasks_per_step)", None)
    control_steps: int = _help(
        "behaviour-cloning steps of a cloning control (0: none): after RL and its evaluation the model RL started from "
        "is cloned on for this many more steps (further expert episodes, warm_start_lr) and evaluated on the same "
        "held-out games; eval.json gains the control's success and RL minus the control, paired game by game",
        0,
    )


@dataclass
class TrainConfig:
    """Everything ``grpokit train`` needs; every field has a default so a preset only names what it changes."""

    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    allocation: AllocationConfig = field(default_factory=AllocationConfig)
    modulation: ModulationConfig = field(default_factory=ModulationConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)

    steps: int = _help(
        "training steps (rollout batch + updates each); 0 only evaluates (an agent's cloning-only control run)", 20
    )
    prompts_per_step: int = _help("prompts per rollout batch", 8)
    group_size: int = _help("rollouts per prompt (the mean when allocation is on)", 4)
    temperature: float = _help("sampling temperature of training rollouts", 1.0)
    top_p: float = _help("nucleus sampling of training rollouts", 1.0)
    max_new_tokens: int = _help("response limit", 64)
    truncated_reward: float | None = _help(
        "reward of a response cut off at max_new_tokens, whatever its last number (None: scored like the others); "
        "DAPO (arXiv 2503.14476) counts such rewards as noise",
        None,
    )
    generation_batch_size: int = _help("sequences generated together", 64)

    loss: str = _help("policy loss from grpokit.core.losses (ppo, dgpo, cispo, gppo, cegppo, sapo, gspo)", "dgpo")
    loss_params: dict[str, Any] = _help("the loss's parameters (e.g. eps_low, eps_high, n, m)", factory=dict)
    loss_agg_mode: str = _help(
        "token-mean, seq-mean-token-sum, seq-mean-token-mean, seq-mean-token-sum-norm", "token-mean"
    )
    loss_scale_factor: int | None = _help(
        "Dr. GRPO's constant normaliser of seq-mean-token-sum-norm, for the whole run (None: max_new_tokens)", None
    )
    advantage: str = _help("outcome advantage estimator (grpo, dr_grpo, rloo)", "grpo")
    advantage_params: dict[str, Any] = _help("the estimator's parameters", factory=dict)

    ppo_epochs: int = _help("passes over each rollout batch", 1)
    mini_batches: int = _help("optimizer updates per pass (importance ratios move after the first)", 2)
    micro_batch_tokens: int = _help("token budget of one forward/backward (gradient accumulation)", 4096)
    recompute_old_log_probs: bool | str = _help(
        "recompute π_old with a forward pass (true) or take the sampler's log-probabilities (false); auto: take the "
        "sampler's in float32, where they match a recomputation to ~1e-5, recompute in bf16, where KV-cache "
        "decoding and a full forward pass round differently (docs/precision.md)",
        "auto",
    )
    kl_coef: float = _help("weight of the low-variance KL to a frozen reference (0: no reference model)", 0.0)
    entropy_coef: float = _help("entropy bonus weight", 0.0)
    skip_zero_advantage_rows: bool = _help(
        "leave rows whose advantage is 0 (groups that all won or all lost) out of the forward/backward pass: the "
        "same gradient with fewer tokens, since every built-in policy loss is a multiple of the advantage (a "
        "registered loss that is not is refused); the normaliser still counts them, and the update's metrics cover "
        "the rows computed. Not with kl_coef, entropy_coef or modulation, whose terms do not vanish with the advantage",
        False,
    )

    lr: float = _help("AdamW learning rate", 1e-5)
    weight_decay: float = _help("AdamW weight decay", 0.0)
    warmup_steps: int = _help("linear warm-up, in optimizer updates", 0)
    max_grad_norm: float = _help("gradient clipping", 1.0)
    max_bad_steps: int = _help("stop after this many non-finite updates in a row (each is skipped)", 3)

    seed: int = _help("seed of sampling, data order and model init", 0)
    run_dir: str | None = _help("where the run writes (None: runs/<loss>-<timestamp>)", None)
    checkpoint_every: int = _help("checkpoint every N steps (0: only at the end)", 0)
    keep_checkpoints: int = _help("checkpoints kept (the newest; step 0 is the first)", 1)
    tensorboard: bool = _help("write TensorBoard events", True)
    wandb_project: str | None = _help("log to Weights & Biases when set (needs wandb installed)", None)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; raise ``ConfigError`` naming ``key``.

    Ints pass as floats, a string that reads as a number becomes a float where one is expected (YAML 1.1 reads
    ``3e-5`` as a string), a list passes for a tuple, and annotations other than simple types are not checked.
    """
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(tp)
        if (value is None and type(None) in options) or (isinstance(value, str) and str in options):
            return value
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is Any:
        return value
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return value
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 3e-5 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    if tp is type(None) and value is None:
        return None
    if tp not in (float, int, str, bool, dict, type(None)):
        return value  # e.g. a tensor or callable parameter: left to the function
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else f"; valid keys: {', '.join(names)}"
            raise ConfigError(f"unknown config key {path!r}{hint}")
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = _build(hints[key], value, f"{path}.")
        else:
            kwargs[key] = coerce(value, hints[key], path)
    return cls(**kwargs)


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {part} is not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``key.sub=value`` with the value read as YAML (``lr=1e-5``, ``loss_params={n: 2}``, ``run_dir=null``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {text!r} is not key=value")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"override {key}: cannot read {raw!r}: {_yaml_problem(error)}") from None
    return key.strip(), value


def _yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and, when YAML knows it, where (1-based line and column)."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """A validated ``TrainConfig`` from a YAML file (or the defaults) with ``key=value`` overrides applied."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except OSError as error:
            raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(error)}") from None
    for override in overrides or []:
        key, value = parse_override(override)
        _set_path(data, key, value)
    try:
        return _build(TrainConfig, data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}" if path else str(error)) from None


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_help(cls: type = TrainConfig, prefix: str = "") -> list[tuple[str, str, Any]]:
    """``(key, help, default)`` for every field, sections flattened with dots."""
    rows = []
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            rows.extend(config_help(type(value), f"{prefix}{f.name}."))
        else:
            rows.append((f"{prefix}{f.name}", f.metadata.get("help", ""), value))
    return rows


def config_reference() -> str:
    """The Markdown configuration reference (docs/configuration.md): one row per :func:`config_help` row."""
    about = (
        "Keys of `TrainConfig` (`grpokit/config.py`); sections use dots on the command line (`eval.every=5`). An "
        "unknown key is an error that suggests the closest one; an ill-typed value names the key and the expected type."
    )
    lines = [
        "# Configuration reference",
        "",
        "Generated by `python -m grpokit.config > docs/configuration.md`; a test fails when it is stale.",
        "",
        *textwrap.wrap(about, width=118, break_long_words=False, break_on_hyphens=False),
        "",
        "| key | default | meaning |",
        "| --- | --- | --- |",
    ]
    for key, text, default in config_help():
        cells = (f"`{key}`", str(default), text)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(config_reference(), end="")
