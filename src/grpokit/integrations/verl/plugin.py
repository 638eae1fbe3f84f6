"""verl's entry point into grpokit: importing this module registers everything with verl's registries, lazily.

``pyproject.toml`` declares it in the ``verl.plugins`` entry-point group, and ``import verl`` imports every module of
that group (unless ``VERL_USE_EXTERNAL_PLUGINS=none``). verl is imported first thing in the driver, the TaskRunner and
every Ray worker, so each process has grpokit's names without any grpokit import in user code:

* policy losses ``dgpo``, ``gppo``, ``cegppo`` (``core_algos.register_policy_loss``), used by the actor workers;
* advantage estimators ``proxmo``, ``gigpo`` (``core_algos.register_adv_est``), used by the trainer;
* v1 trainers ``dynamo`` and ``grpokit_agent`` (``v1.register_trainer``), used by the TaskRunner;
* the agent loop ``grpokit_agent`` (verl's agent-loop registry), used by the agent-loop workers.

Each registry lives in a heavy verl module (``core_algos`` alone imports transformers and datasets), so a step runs
only once verl imports the module that holds its registry (``post_import.when_imported``): ``import verl`` itself
imports none of them, and a process pays for grpokit's trainers only if it imports verl's v1 trainer. The agent loop
is registered by its class path, so its module (and grpokit's environments) load only in the worker that builds it.

verl catches an exception raised while loading a plugin and logs it at DEBUG level only, so a broken install would
end in verl's "Unsupported loss mode: dgpo" far from its cause. Each registration step here is therefore guarded: a
failure is logged at WARNING with its reason, kept in ``FAILURES``, and the step's names are registered as stubs
that raise the original error when verl uses them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from grpokit.integrations.verl import names
from grpokit.integrations.verl.post_import import when_imported

log = logging.getLogger("grpokit.integrations.verl")

CORE_ALGOS = "verl.trainer.ppo.core_algos"
V1_TRAINERS = "verl.trainer.ppo.v1"
AGENT_LOOPS = "verl.experimental.agent_loop.agent_loop"

FAILURES: dict[str, str] = {}
"""What could not be registered in this process (step → error); empty when everything loaded."""


def _raiser(kind: str, name: str, error: BaseException) -> Callable[..., None]:
    def unavailable(*args, **kwargs) -> None:
        raise RuntimeError(
            f"grpokit's verl {kind} {name!r} failed to load in this process: {type(error).__name__}: {error} "
            "(check that grpokit is installed in the environment verl's workers run in)"
        ) from error

    return unavailable


def _register_losses() -> None:
    from grpokit.integrations.verl import losses

    losses.register()


def _stub_losses(error: BaseException) -> None:
    from verl.trainer.ppo.core_algos import register_policy_loss

    for name in names.POLICY_LOSSES:
        register_policy_loss(name)(_raiser("policy loss", name, error))


def _register_estimators() -> None:
    from grpokit.integrations.verl import estimators

    estimators.register()


def _stub_estimators(error: BaseException) -> None:
    from verl.trainer.ppo.core_algos import register_adv_est

    for name in names.ADVANTAGE_ESTIMATORS:
        register_adv_est(name)(_raiser("advantage estimator", name, error))


def _register_trainers() -> None:
    from grpokit.integrations.verl import trainer

    trainer.register()


def _stub_trainers(error: BaseException) -> None:
    from verl.trainer.ppo.v1 import PPOTrainerSync, register_trainer

    for name in names.TRAINERS:
        stub = type(f"Unavailable_{name}", (PPOTrainerSync,), {"__init__": _raiser("trainer", name, error)})
        register_trainer(name)(stub)


def _register_agent_loop() -> None:
    from verl.experimental.agent_loop import agent_loop

    # What verl's `register` decorator writes, without importing the class: the agent-loop worker instantiates the
    # target (importing it there, and raising there if it cannot be imported).
    agent_loop._agent_loop_registry[names.AGENT_LOOP] = {"_target_": names.AGENT_LOOP_TARGET}


@dataclass(frozen=True)
class Step:
    """One registration step: ``register`` runs once verl has imported ``module``; ``stub`` if it raised."""

    what: str
    module: str
    register: Callable[[], None]
    stub: Callable[[BaseException], None] | None = None


STEPS: tuple[Step, ...] = (
    Step("policy losses", CORE_ALGOS, _register_losses, _stub_losses),
    Step("advantage estimators", CORE_ALGOS, _register_estimators, _stub_estimators),
    Step("trainers", V1_TRAINERS, _register_trainers, _stub_trainers),
    Step("agent loop", AGENT_LOOPS, _register_agent_loop),
)


def run_step(step: Step) -> None:
    """``step.register()``; on failure a WARNING, an entry in ``FAILURES`` and the step's stubs."""
    try:
        step.register()
    except Exception as error:
        FAILURES[step.what] = f"{type(error).__name__}: {error}"
        log.warning(
            "grpokit's verl plugin could not register its %s: %s; runs that use them will fail",
            step.what,
            FAILURES[step.what],
            exc_info=error,
        )
        if step.stub is not None:
            with contextlib.suppress(Exception):  # verl's registry itself unavailable: the warning is all we can do
                step.stub(error)


def register_all() -> dict[str, str]:
    """Run every step once verl imports its registry's module (at once if it already has); return ``FAILURES``."""
    for step in STEPS:
        when_imported(step.module, functools.partial(run_step, step))
    return dict(FAILURES)


register_all()
