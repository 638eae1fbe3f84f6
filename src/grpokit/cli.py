"""The ``grpokit`` command: train, eval, plot, list."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from grpokit.config import ConfigError, UserError, config_help, load_config

# ``grpokit eval --model``'s options: flag, type, default, help. With ``--run`` the run's config says all of these.
MODEL_EVAL_OPTIONS = [
    ("--task", str, "arithmetic", None),
    ("--split", str, "test", None),
    ("--problems", int, 200, None),
    ("--samples", int, 0, "k for avg@k and pass@k (0: greedy only)"),
    ("--temperature", float, 1.0, None),
    ("--max-new-tokens", int, 128, None),
    ("--dtype", str, "auto", None),
    ("--device", str, "auto", None),
    ("--seed", int, 0, None),
]


def _train(args: argparse.Namespace) -> int:
    from grpokit.plot import plot_run
    from grpokit.train.factory import build_trainer, resume_trainer
    from grpokit.train.trainer import TrainingDivergedError, finished_step

    if args.help_config:
        for key, text, default in config_help():
            print(f"{key:<32} {text} [default: {default}]")
        return 0
    if args.resume:
        if args.config or args.overrides:
            raise ConfigError("--resume continues a run with its saved config; drop --config and overrides")
        done = finished_step(Path(args.resume))
        if done is not None:
            print(f"grpokit: {args.resume} already finished at step {done}; nothing to do")
            return 0
        trainer = resume_trainer(args.resume)
    else:
        trainer = build_trainer(load_config(args.config, args.overrides))
    try:
        trainer.train()
    except TrainingDivergedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    plot_run(trainer.run_dir)  # plotting sits above the trainer: it reads the metrics.jsonl the run wrote
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.run_dir:
        return _eval_run(args)
    for flag, value in (("--step", args.step), ("--against", args.against)):
        if value is not None:
            raise ConfigError(f"{flag} chooses one of a run's checkpoints: give it with --run RUN_DIR")
    import json

    from grpokit.config import parse_override
    from grpokit.evaluate import evaluate
    from grpokit.models import Precision, load_policy
    from grpokit.tasks import make_task
    from grpokit.validation import user_errors

    params = dict(parse_override(item) for item in args.params)
    _check_eval_args(args, params)
    with user_errors("task"):
        task = make_task(args.task, **params)
        problems = task.problems(args.split, args.problems, seed=args.seed)
    model, tokenizer = load_policy(args.model, dtype=args.dtype, device=args.device)
    with Precision.resolve(args.dtype, args.device).autocast():
        result = evaluate(
            model,
            tokenizer,
            task,
            problems,
            max_new_tokens=args.max_new_tokens,
            samples=args.samples,
            temperature=args.temperature,
            seed=args.seed,
        )
    print(
        json.dumps(
            {
                "model": args.model,
                "task": args.task,
                "split": args.split,
                "problems": len(problems),
                **result.metrics(prefix=""),
            },
            indent=2,
        )
    )
    return 0


def _eval_run(args: argparse.Namespace) -> int:
    """``grpokit eval --run RUN_DIR``: the run's latest checkpoint on its held-out set, or another one the overrides
    choose; prints the result and writes it to ``eval.json`` in ``RUN_DIR/evals/<checkpoint>-<split>``. With
    ``--against N`` the checkpoint of step N plays the same problems first, and the record adds both accuracies and
    the paired gain (``accuracy_before``, ``accuracy_after``, ``gain``, ``gain_se``, as a run's ``eval.json``)."""
    import json

    from grpokit.evaluate import compare
    from grpokit.train.factory import checkpoint_of_step, evaluate_run

    given = [flag for flag, _, default, _ in MODEL_EVAL_OPTIONS if getattr(args, flag[2:].replace("-", "_")) != default]
    if given:
        raise ConfigError(
            f"--run evaluates as the run's config says; instead of {', '.join(given)} use overrides such as "
            "eval.split=... eval.problems=... eval.samples=..."
        )
    if args.against is not None:
        checkpoint_of_step(args.run_dir, args.step)  # refused before the checkpoint of --against plays
    before = None if args.against is None else evaluate_run(args.run_dir, args.params, args.against)[0]
    result, folder = evaluate_run(args.run_dir, args.params, args.step)
    record = {"run": args.run_dir, "folder": str(folder), "problems": len(result.correct), **result.metrics(prefix="")}
    if before is not None:
        record |= {"against_step": args.against, **compare(before, result)}
    (folder / "eval.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


def _check_eval_args(args: argparse.Namespace, params: dict) -> None:
    """Everything about ``grpokit eval``'s arguments that can be checked before the model loads."""
    from grpokit.validation import AT_LEAST_ONE, NON_NEGATIVE, check_model, check_precision, check_range, check_task

    check_range("--problems", args.problems, AT_LEAST_ONE)
    check_range("--samples", args.samples, NON_NEGATIVE)
    check_range("--temperature", args.temperature, NON_NEGATIVE)
    check_range("--max-new-tokens", args.max_new_tokens, AT_LEAST_ONE)
    check_precision(args.dtype, args.device, "--dtype", "--device")
    check_model(args.model, "--model")
    check_task(args.task, params, "--task", "")


def _compare(args: argparse.Namespace) -> int:
    import json

    from grpokit.train.agent_trainer import compare_runs

    record = {"run_a": args.run_a, "run_b": args.run_b, **compare_runs(Path(args.run_a), Path(args.run_b))}
    print(json.dumps(record, indent=2))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from grpokit.plot import plot_run

    try:
        paths = plot_run(args.run_dir)
    except FileNotFoundError as error:  # no metrics.jsonl: not a run directory
        raise UserError(str(error)) from error
    for path in paths:
        print(path)
    return 0


def _list(args: argparse.Namespace) -> int:
    from grpokit.core import ADVANTAGE_ESTIMATORS, ALLOCATION_RULES, CREDIT_ESTIMATORS, POLICY_LOSSES
    from grpokit.envs import ENVS
    from grpokit.models import BUILTIN_MODELS
    from grpokit.tasks import TASKS

    sections = {
        "policy losses": POLICY_LOSSES.names(),
        "advantage estimators": ADVANTAGE_ESTIMATORS.names(),
        "credit estimators (multi-turn)": CREDIT_ESTIMATORS.names(),
        "allocation rules": ALLOCATION_RULES.names(),
        "tasks": TASKS.names(),
        "environments (multi-turn)": ENVS.names(),
        "built-in models": [f"{name}: {text}" for name, text in BUILTIN_MODELS.items()],
    }
    for title, names in sections.items():
        print(f"{title}:")
        for name in names:
            print(f"  {name}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Reports a wrong argument as a ``UserError`` (one line) instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grpokit", description="RL for LLM policies: DGPO, DynaMO, ProxMO.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a policy (see configs/)")
    train.add_argument("--config", help="YAML preset, e.g. configs/cpu-demo.yaml")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    train.add_argument("--help-config", action="store_true", help="list every config key with its help and default")
    train.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. loss=ppo lr=2e-5")
    train.set_defaults(run=_train)

    evaluation = commands.add_parser("eval", help="evaluate a model or checkpoint on a task, or a run's checkpoint")
    source = evaluation.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="built-in name, directory (e.g. RUN/checkpoints/step_000020/model) or hub id")
    source.add_argument(
        "--run",
        dest="run_dir",
        metavar="RUN_DIR",
        help="evaluate the run's latest checkpoint as the run does (agents too); key=value then override its config",
    )
    for flag, kind, default, text in MODEL_EVAL_OPTIONS:
        evaluation.add_argument(flag, type=kind, default=default, help=text)
    evaluation.add_argument(
        "--step", type=int, help="with --run: the checkpoint of this step (0: the starting point) instead of the latest"
    )
    evaluation.add_argument(
        "--against",
        type=int,
        metavar="STEP",
        help="with --run: also play the checkpoint of STEP on the same problems and report the paired gain",
    )
    evaluation.add_argument(
        "params",
        nargs="*",
        metavar="key=value",
        help="task parameters (digits=3 path=x.jsonl); with --run, config overrides (eval.split=... eval.problems=64)",
    )
    evaluation.set_defaults(run=_eval)

    comparison = commands.add_parser(
        "compare",
        help="two agent runs of one preset on their held-out games: A's success minus B's, paired game by game "
        "(e.g. RL against a cloning control)",
    )
    comparison.add_argument("run_a")
    comparison.add_argument("run_b")
    comparison.set_defaults(run=_compare)

    plot = commands.add_parser("plot", help="write PNG curves of a run")
    plot.add_argument("run_dir")
    plot.set_defaults(run=_plot)

    listing = commands.add_parser("list", help="show losses, estimators, tasks and models")
    listing.set_defaults(run=_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command. A user's mistake ends as one line ``error: ...`` on stderr and exit code 2, without a
    traceback unless ``GRPOKIT_DEBUG=1``; any other exception is a bug and keeps its traceback."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UserError as error:
        if os.environ.get("GRPOKIT_DEBUG") == "1":
            traceback.print_exc()
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
