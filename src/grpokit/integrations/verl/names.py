"""The names grpokit registers with verl, in one place (the plugin needs them even when a module fails to import)."""

POLICY_LOSSES = ("dgpo", "gppo", "cegppo")
"""``actor_rollout_ref.actor.policy_loss.loss_mode`` values (verl's ``POLICY_LOSS_REGISTRY``)."""

ADVANTAGE_ESTIMATORS = ("proxmo", "gigpo")
"""``algorithm.adv_estimator`` values (verl's ``ADV_ESTIMATOR_REGISTRY``); they need the ``grpokit_agent`` trainer."""

AGENT_TRAINER = "grpokit_agent"
DYNAMO_TRAINER = "dynamo"
TRAINERS = (DYNAMO_TRAINER, AGENT_TRAINER)
"""``trainer.v1.trainer_mode`` values (verl's v1 ``TRAINER_REGISTRY``)."""

AGENT_LOOP = "grpokit_agent"
"""``actor_rollout_ref.rollout.agent.default_agent_loop`` (or a row's ``agent_name``) for grpokit's environments."""

AGENT_LOOP_TARGET = "grpokit.integrations.verl.agent_loop.GrpokitAgentLoop"
