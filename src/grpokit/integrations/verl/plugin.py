"""verl's entry point into grpokit: importing this module registers everything with verl's registries.

``pyproject.toml`` declares it in the ``verl.plugins`` entry-point group, and ``import verl`` imports every module of
that group (unless ``VERL_USE_EXTERNAL_PLUGINS=none``). verl is imported first thing in the driver, the TaskRunner and
every Ray worker, so each process has grpokit's names without any grpokit import in user code:

* policy losses ``dgpo``, ``gppo``, ``cegppo`` (``core_algos.register_policy_loss``), used by the actor workers;
* advantage estimators ``proxmo``, ``gigpo`` (``core_algos.register_adv_est``), used by the trainer;
* v1 trainers ``dynamo`` and ``grpokit_agent`` (``v1.register_trainer``), used by the TaskRunner;
* the agent loop ``grpokit_agent`` (``agent_loop.register``), used by the agent-loop workers.

verl catches an exception raised while loading a plugin and logs it at DEBUG level only, so a broken install would
end in verl's "Unsupported loss mode: dgpo" far from its cause. Each registration step here is therefore guarded: a
failure is logged at WARNING with its reason, kept in ``FAILURES``, and the step's names are registered as stubs
that raise the original error when verl uses them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from grpokit.integrations.verl import names

log = logging.getLogger("grpokit.integrations.verl")

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
    from grpokit.integrations.verl import agent_loop

    agent_loop.register()


def _stub_agent_loop(error: BaseException) -> None:
    from verl.experimental.agent_loop import agent_loop

    # Instantiating the target re-imports it, which raises the original error in the worker that uses it.
    agent_loop._agent_loop_registry[names.AGENT_LOOP] = {"_target_": names.AGENT_LOOP_TARGET}


STEPS: tuple[tuple[str, Callable[[], None], Callable[[BaseException], None]], ...] = (
    ("policy losses", _register_losses, _stub_losses),
    ("advantage estimators", _register_estimators, _stub_estimators),
    ("trainers", _register_trainers, _stub_trainers),
    ("agent loop", _register_agent_loop, _stub_agent_loop),
)


def register_all() -> dict[str, str]:
    """Run every registration step; return (and keep in ``FAILURES``) the ones that failed."""
    for what, register, stub in STEPS:
        try:
            register()
        except Exception as error:
            FAILURES[what] = f"{type(error).__name__}: {error}"
            log.warning(
                "grpokit's verl plugin could not register its %s: %s; runs that use them will fail",
                what,
                FAILURES[what],
                exc_info=error,
            )
            with contextlib.suppress(Exception):  # verl's registry itself unavailable: the warning is all we can do
                stub(error)
    return dict(FAILURES)


register_all()
