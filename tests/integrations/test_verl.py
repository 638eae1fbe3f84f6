"""grpokit inside verl: the plugin's registrations through verl's registries, and every hook on verl-shaped batches.

Nothing here needs Ray, a GPU or a model: losses run on tensors, estimators and DynaMO's hooks on ``DataProto`` /
``TensorDict`` batches built like verl builds them, the agent loop on a toy environment with a scripted rollout
server, and the trainers' TransferQueue reads and writes on an in-memory stand-in.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

# A plain ``import verl`` in a fresh interpreter (see ``entry_point_run``).
ENTRY_POINT_SCRIPT = r"""
import json, sys
assert not [m for m in sys.modules if m.startswith("grpokit")], "grpokit imported before verl"
import verl
HEAVY = ("verl.trainer.ppo.core_algos", "verl.trainer.ppo.v1", "verl.experimental.agent_loop.agent_loop",
         "grpokit.core", "grpokit.envs", "grpokit.integrations.verl.losses", "grpokit.integrations.verl.trainer",
         "grpokit.integrations.verl.agent_loop")
heavy_after_import_verl = [m for m in HEAVY if m in sys.modules]
from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.v1 import get_trainer_cls
from grpokit.integrations.verl import names, plugin
print(json.dumps({
    "losses": {n: core_algos.get_policy_loss_fn(n).__module__ for n in names.POLICY_LOSSES},
    "estimators": {n: core_algos.get_adv_estimator_fn(n).__module__ for n in names.ADVANTAGE_ESTIMATORS},
    "trainers": {n: get_trainer_cls(n).__module__ for n in names.TRAINERS},
    "agent_loop": _agent_loop_registry.get(names.AGENT_LOOP),
    "failures": plugin.FAILURES,
    "heavy_after_import_verl": heavy_after_import_verl,
}))
"""
verl = pytest.importorskip("verl", reason="verl is not installed (make setup installs it)")

from omegaconf import OmegaConf  # noqa: E402
from tensordict import NonTensorData, NonTensorStack, TensorDict  # noqa: E402
from verl.experimental.agent_loop.agent_loop import DictConfigWrap, ToolListWrap, _agent_loop_registry  # noqa: E402
from verl.protocol import DataProto  # noqa: E402
from verl.trainer.ppo import core_algos  # noqa: E402
from verl.trainer.ppo.v1 import PPOTrainer, PPOTrainerSync  # noqa: E402
from verl.trainer.ppo.v1 import agent_loop_tq as verl_agent_loop_tq  # noqa: E402
from verl.utils import tensordict_utils as tu  # noqa: E402
from verl.workers.config import ActorConfig  # noqa: E402
from verl.workers.rollout.replica import TokenOutput  # noqa: E402

from grpokit.core.allocation import PromptStats  # noqa: E402
from grpokit.core.credit import gigpo_advantages, proxmo_advantages  # noqa: E402
from grpokit.core.losses import compute_policy_loss  # noqa: E402
from grpokit.core.modulation import dynamo_modulate  # noqa: E402
from grpokit.envs.base import ENVS  # noqa: E402
from grpokit.integrations.verl import dynamo, plugin  # noqa: E402
from grpokit.integrations.verl.estimators import AgentRows  # noqa: E402
from grpokit.integrations.verl.losses import loss_params  # noqa: E402
from grpokit.integrations.verl.post_import import when_imported  # noqa: E402
from grpokit.integrations.verl.settings import POLICY_LOSS_TARGET, DynamoSettings, PolicyLossConfig  # noqa: E402
from grpokit.integrations.verl.trainer import DynamoTrainer, GrpokitAgentTrainer  # noqa: E402
from grpokit.models import train_tiny_tokenizer  # noqa: E402

pytestmark = pytest.mark.slow  # importing verl takes ten to twenty seconds


# ------------------------------------------------------------------------------------------------------ plugin


@pytest.fixture(scope="module", autouse=True)
def entry_point_run():
    """Start the fresh interpreter before this module's first test, so that it overlaps with the others."""
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY_POINT_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    yield process
    if process.poll() is None:  # its test was deselected
        process.kill()
        process.communicate()


def test_a_broken_install_warns_and_the_loss_names_raise_the_reason(monkeypatch, caplog):
    """verl logs a failing plugin at DEBUG only; the guard must make the failure visible (WARNING + clear error)."""

    def broken():
        raise ImportError("no module named 'grpokit.core'")

    monkeypatch.setattr(core_algos, "POLICY_LOSS_REGISTRY", {})
    monkeypatch.setattr(plugin, "FAILURES", {})
    monkeypatch.setattr(
        plugin, "STEPS", (plugin.Step("policy losses", plugin.CORE_ALGOS, broken, plugin._stub_losses),)
    )
    with caplog.at_level(logging.WARNING, logger="grpokit.integrations.verl"):
        assert plugin.register_all() == {"policy losses": "ImportError: no module named 'grpokit.core'"}
    assert "could not register its policy losses" in caplog.text
    with pytest.raises(RuntimeError, match=r"policy loss 'dgpo' failed to load.*no module named 'grpokit\.core'"):
        core_algos.get_policy_loss_fn("dgpo")(old_log_prob=None, log_prob=None)


def test_a_post_import_hook_runs_after_the_modules_own_import_and_leaves_no_trace(tmp_path, monkeypatch):
    """The plugin's lazy registration rests on it: the callback sees the executed module, which keeps its loader."""
    name = "grpokit_post_import_probe"
    (tmp_path / f"{name}.py").write_text("VALUE = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    when_imported(name, lambda: seen.append(sys.modules[name].VALUE))
    assert seen == [] and name not in sys.modules  # asking imports nothing
    try:
        module = importlib.import_module(name)
        assert seen == [7]
        assert type(module.__loader__).__name__ == "SourceFileLoader" and module.__spec__.loader is module.__loader__
        assert not [f for f in sys.meta_path if type(f).__module__ == when_imported.__module__]
        when_imported(name, lambda: seen.append("at once"))  # already imported
        assert seen == [7, "at once"]
    finally:
        sys.modules.pop(name, None)


def test_without_verl_the_package_says_how_to_install_it():
    script = """
import sys
sys.modules["verl"] = None  # as if verl were not installed
try:
    import grpokit.integrations.verl
except ImportError as error:
    print(error)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.stdout.startswith("grpokit.integrations.verl needs verl 0.9 (`pip install verl==0.9.1`"), (
        result.stderr
    )


# ------------------------------------------------------------------------------------------------------ losses


def loss_batch(seed, rows=6, cols=10):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(rows, cols, generator=g, dtype=torch.float64) * 3
    log_prob = old + (torch.rand(rows, cols, generator=g, dtype=torch.float64) - 0.5) * 3  # r in ~[0.2, 4.5]
    advantages = torch.randn(rows, 1, generator=g, dtype=torch.float64).expand(rows, cols).contiguous()
    mask = torch.ones(rows, cols, dtype=torch.bool)
    mask[0, 7:] = False
    mask[2, 3:] = False
    log_prob[0, 8] = float("nan")  # padding may hold anything
    return log_prob, old, advantages, mask


def actor_config(**policy_loss):
    return ActorConfig(
        strategy="fsdp",
        rollout_n=4,
        ppo_micro_batch_size_per_gpu=1,
        clip_ratio_low=0.2,
        clip_ratio_high=0.28,
        clip_ratio_c=3.0,
        policy_loss=PolicyLossConfig(**policy_loss),
    )


def core_aggregation(mode, info):
    """grpokit's aggregation arguments equal to verl's ``agg_loss`` under ``global_batch_info`` (verl × dp_size)."""
    if mode == "token-mean":
        return {"batch_num_tokens": info["batch_num_tokens"] / info["dp_size"]}
    return {
        "batch_num_seqs": info["global_batch_size"] / info["dp_size"],
        "loss_scale_factor": info["loss_scale_factor"],
    }


CASES = [
    ("dgpo", {"dgpo_n": 2.0, "dgpo_m": 3.0}, {"n": 2.0, "m": 3.0}),
    ("dgpo", {}, {}),
    ("gppo", {"gppo_beta_low": 0.7, "gppo_beta_high": 0.9}, {"beta_low": 0.7, "beta_high": 0.9, "clip_c": 3.0}),
    ("cegppo", {}, {"clip_c": 3.0}),
]


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
@pytest.mark.parametrize(("name", "fields", "core_params"), CASES)
def test_each_loss_equals_grpokits_core_in_value_and_gradient(name, fields, core_params, mode):
    log_prob, old, advantages, mask = loss_batch(seed=len(mode) + len(name))
    config = actor_config(**fields)
    config.global_batch_info.update(dp_size=2, batch_num_tokens=90, global_batch_size=11, loss_scale_factor=16)
    verl_lp, core_lp = log_prob.clone().requires_grad_(), log_prob.clone().requires_grad_()
    verl_loss, verl_metrics = core_algos.get_policy_loss_fn(name)(
        old_log_prob=old, log_prob=verl_lp, advantages=advantages, response_mask=mask, loss_agg_mode=mode, config=config
    )
    core_loss, core_metrics = compute_policy_loss(
        name,
        core_lp,
        old,
        advantages,
        mask,
        loss_agg_mode=mode,
        eps_low=0.2,
        eps_high=0.28,
        **core_params,
        **core_aggregation(mode, config.global_batch_info),
    )
    verl_loss.backward()
    core_loss.backward()
    torch.testing.assert_close(verl_loss, core_loss, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(verl_lp.grad, core_lp.grad, rtol=1e-7, atol=1e-9)
    assert verl_metrics["actor/pg_clipfrac"] == pytest.approx(core_metrics["clipfrac"])
    assert verl_metrics["actor/ppo_kl"] == pytest.approx(core_metrics["ppo_kl"])
    assert verl_metrics["actor/pg_clipfrac_lower"] == pytest.approx(core_metrics.get("dualclip_frac", 0.0))


def test_metrics_have_the_keys_and_types_of_verls_own_losses():
    log_prob, old, advantages, mask = loss_batch(seed=0)
    config = actor_config()
    kwargs = {"old_log_prob": old, "log_prob": log_prob.nan_to_num(), "advantages": advantages, "response_mask": mask}
    _, vanilla = core_algos.get_policy_loss_fn("vanilla")(**kwargs, config=config)
    for name in ("dgpo", "gppo", "cegppo"):
        _, ours = core_algos.get_policy_loss_fn(name)(**kwargs, config=config)
        assert ours.keys() == vanilla.keys() and all(type(v) is float for v in ours.values())


def test_rollout_correction_weights_scale_each_tokens_loss():
    """Weight c everywhere scales loss and gradient by c; weight 0 on a row equals that row's advantage being 0."""
    log_prob, old, advantages, mask = loss_batch(seed=3)
    config = actor_config()

    def run(adv, weights):
        lp = log_prob.clone().requires_grad_()
        loss, _ = core_algos.get_policy_loss_fn("dgpo")(
            old_log_prob=old, log_prob=lp, advantages=adv, response_mask=mask, config=config,
            rollout_is_weights=weights,
        )  # fmt: skip
        loss.backward()
        return loss.detach(), lp.grad

    plain, plain_grad = run(advantages, None)
    doubled, doubled_grad = run(advantages, torch.full_like(old, 2.0))
    torch.testing.assert_close((doubled, doubled_grad), (2 * plain, 2 * plain_grad))
    row_off = torch.ones_like(old)
    row_off[1] = 0
    without_row1 = advantages.clone()
    without_row1[1] = 0
    torch.testing.assert_close(run(advantages, row_off), run(without_row1, None))


def composed_config(*overrides):
    """verl's own ``ppo_trainer`` configuration with command-line ``overrides``, composed as ``main_ppo`` does."""
    from hydra import compose, initialize_config_dir

    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer/config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name="ppo_trainer", overrides=list(overrides))


def test_loss_hyperparameters_reach_the_actor_config_from_a_verl_command_line():
    """verl's PolicyLossConfig rejects new keys; overriding the section's _target_ with grpokit's subclass works."""
    from verl.utils.config import omega_conf_to_dataclass

    base = ["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1", "actor_rollout_ref.rollout.n=4"]
    extra = [
        "actor_rollout_ref.actor.policy_loss.loss_mode=dgpo",
        "actor_rollout_ref.actor.clip_ratio_high=0.28",
        "+actor_rollout_ref.actor.policy_loss.dgpo_n=2",
        "+actor_rollout_ref.actor.policy_loss.dgpo_m=3",
    ]
    plain = composed_config(*base, *extra)
    ours = composed_config(*base, *extra, f"actor_rollout_ref.actor.policy_loss._target_={POLICY_LOSS_TARGET}")
    with pytest.raises(Exception, match="unexpected keyword argument 'dgpo_n'"):
        omega_conf_to_dataclass(plain.actor_rollout_ref.actor)
    actor = omega_conf_to_dataclass(ours.actor_rollout_ref.actor)  # verl's own conversion, as its workers do
    assert actor.policy_loss.loss_mode == "dgpo"
    assert loss_params("dgpo", actor) == {"eps_low": 0.2, "eps_high": 0.28, "n": 2.0, "m": 3.0}


RECIPES = Path(__file__).resolve().parents[2] / "examples" / "verl"


def recipe_overrides(script: Path) -> list[str]:
    """The command-line overrides of a recipe, as the shell would pass them with its default variables."""
    text = script.read_text()
    defaults = dict(re.findall(r'^(\w+)="\$\{\w+:-([^}]*)\}"', text, flags=re.M))
    command = text.split("python3 -m verl.trainer.main_ppo", 1)[1].split('"$@"', 1)[0].replace("\\\n", " ")
    for _ in range(2):  # defaults may themselves name $HOME
        command = re.sub(r"\$\{?(\w+)\}?", lambda m: {**defaults, "HOME": "/home/user"}[m.group(1)], command)
    return shlex.split(command)


@pytest.mark.parametrize("script", sorted(p.name for p in RECIPES.glob("run_*.sh")))
def test_recipes_compose_against_verls_configuration_schema(script):
    """Every override names a real verl key (hydra refuses unknown ones), and verl and grpokit accept the values."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.trainer.ppo.v1 import get_trainer_cls
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    from grpokit.integrations.verl.settings import AgentSettings, CreditSettings

    config = composed_config(*recipe_overrides(RECIPES / script))
    validate_config(config, need_reference_policy(config), need_critic(config))  # what verl's main_ppo runs first
    actor = omega_conf_to_dataclass(config.actor_rollout_ref.actor)
    omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    loss_mode = actor.policy_loss.loss_mode
    core_algos.get_policy_loss_fn(loss_mode)
    if loss_mode in ("dgpo", "gppo", "cegppo"):
        assert set(loss_params(loss_mode, actor)) >= {"eps_low", "eps_high"}
    trainer = get_trainer_cls(config.trainer.v1.trainer_mode)
    if trainer is DynamoTrainer:
        DynamoSettings.from_config(config)
    if trainer is GrpokitAgentTrainer:
        CreditSettings.from_config(config, config.algorithm.adv_estimator)
        assert AgentSettings.from_config(config).env == "alfworld"
        assert config.actor_rollout_ref.rollout.agent.default_agent_loop in _agent_loop_registry


# ------------------------------------------------------------------------------------------ advantage estimators

# Two tasks × two episodes; rows (one per turn) carry the anchor observation seen before acting.
EPISODES = {
    "g0_0": (["you are in the kitchen", "you see a fridge 1", "you open the fridge 1"], [0, 0, 1], [1, 1, 1]),
    "g0_1": (["you are in the kitchen", "you see a drawer 2"], [0, 0], [1, 0]),
    "g1_0": (["you are in a bedroom", "you see a bed 1"], [0, 1], [1, 1]),
    "g1_1": (["you are in a bedroom", "you see a desk 1", "nothing happens", "nothing happens"], [0, 0, 0, 0], [1] * 4),
}


def agent_batch(order, pad_rows=2, width=5):
    """verl-shaped rows: keys ``{uid}_{session}_{turn}``, extra_fields from the agent loop, rows in ``order``."""
    rows = [
        (f"{traj}_{turn}", traj.split("_")[0], anchor, reward, valid, turn)
        for traj, (anchors, rewards, valids) in EPISODES.items()
        for turn, (anchor, reward, valid) in enumerate(zip(anchors, rewards, valids, strict=True))
    ]
    rows = [rows[i] for i in order]
    keys = [r[0] for r in rows] + [f"padabc_{i}_0" for i in range(pad_rows)]
    uids = [r[1] for r in rows] + ["padabc"] * pad_rows
    extras = [
        {"anchor_obs": a, "step_reward": 10.0 * rw, "action_valid": bool(v), "step_index": t}
        for _, _, a, rw, v, t in rows
    ]
    extras += [dict(extras[0])] * pad_rows  # verl copies the first row's fields into its padding rows
    lengths = torch.randint(1, width + 1, (len(keys),), generator=torch.Generator().manual_seed(0))
    mask = (torch.arange(width)[None, :] < lengths[:, None]).float()
    mask[len(rows) :] = 0
    padding = [False] * len(rows) + [True] * pad_rows
    return keys, uids, AgentRows.from_rows(keys, extras, padding), mask


def expected_rows(fn, **params):
    """Per-row advantages from grpokit's core, on the rows in time order, keyed by row key."""
    rows = [
        (f"{traj}_{turn}", traj.split("_")[0], traj, anchor, 10.0 * reward, float(valid))
        for traj, (anchors, rewards, valids) in EPISODES.items()
        for turn, (anchor, reward, valid) in enumerate(zip(anchors, rewards, valids, strict=True))
    ]
    keys, *columns = (list(column) for column in zip(*rows, strict=True))
    return dict(zip(keys, fn(*columns, **params).tolist(), strict=True))


@pytest.mark.parametrize(
    ("name", "core", "params"),
    [
        ("proxmo", proxmo_advantages, {}),
        ("proxmo", proxmo_advantages, {"variant": "official", "tau": 0.5}),
        ("gigpo", gigpo_advantages, {"mode": "mean_std_norm"}),
    ],
)
def test_estimators_on_a_shuffled_padded_verl_batch_equal_grpokits_credit(name, core, params):
    order = [int(i) for i in torch.randperm(11, generator=torch.Generator().manual_seed(1))]
    keys, uids, rows, mask = agent_batch(order)
    advantages, returns = core_algos.get_adv_estimator_fn(name)(
        token_level_rewards=torch.zeros_like(mask), response_mask=mask, index=np.array(uids, dtype=object),
        config=None, agent=rows, credit_params=params,
    )  # fmt: skip
    expected = expected_rows(core, **params)
    want = torch.tensor([expected.get(k, 0.0) for k in keys]).unsqueeze(-1) * mask
    torch.testing.assert_close(advantages, want)
    torch.testing.assert_close(returns, want)
    assert advantages[-2:].abs().sum() == 0  # padding rows


def test_estimators_called_by_a_stock_verl_trainer_say_what_they_need():
    with pytest.raises(ValueError, match="trainer_mode=grpokit_agent"):
        core_algos.get_adv_estimator_fn("proxmo")(torch.zeros(2, 3), torch.ones(2, 3), index=["a", "a"], config=None)
    with pytest.raises(ValueError, match=r"anchor_obs.*default_agent_loop=grpokit_agent"):
        AgentRows.from_rows(["u_0_0"], [{"step_index": 0}], [False])


# ---------------------------------------------------------------------------------------------------- agent loop


class Corridor:
    """Walk forward ``length`` rooms to win (reward 1 on the winning step); anything else: "Nothing happens."."""

    name = "verl-test-corridor"
    max_turns = 6

    def __init__(self, *, length=3, fail_on=None):
        self.length, self.fail_on = length, fail_on

    def _info(self):
        return {"admissible_actions": ["forward", "back"], "won": self.position >= self.length, "task": "reach the end"}

    def reset(self, seed):
        self.position = 0
        return f"Corridor {seed}, room 0.", self._info()

    def step(self, action):
        if action == self.fail_on:
            raise RuntimeError("engine crashed")
        if action == "forward":
            self.position += 1
        elif action != "back":
            return "Nothing happens.", 0.0, False, self._info()
        won = self.position >= self.length
        return f"Room {self.position}.", float(won), won, self._info()


if Corridor.name not in ENVS:
    ENVS.register(Corridor.name)(Corridor)


class ScriptedServer:
    """verl's LLM server client stand-in: answers in turn from ``answers``; records the prompts it saw."""

    def __init__(self, tokenizer, answers):
        self.tokenizer, self.answers, self.prompts = tokenizer, list(answers), []

    async def generate(self, *, request_id, prompt_ids, sampling_params, **kwargs):
        self.prompts.append(self.tokenizer.decode(prompt_ids))
        ids = self.tokenizer.encode(self.answers.pop(0), add_special_tokens=False)
        extra = {"global_steps": 7, "min_global_steps": 7, "max_global_steps": 7}
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids), extra_fields=extra)


def run_agent_loop(answers, env_params=None, **agent_settings):
    """The registered agent loop built the way verl's agent-loop worker builds it, run for one episode."""
    tokenizer = train_tiny_tokenizer()
    config = OmegaConf.create(
        {
            "actor_rollout_ref": {"rollout": {"prompt_length": 4096, "response_length": 64}},
            "data": {},
            "grpokit": {"agent": {"env": Corridor.name, "env_params": env_params or {"length": 3}, **agent_settings}},
        }
    )
    server = ScriptedServer(tokenizer, answers)

    async def episode():
        from hydra.utils import instantiate

        loop = instantiate(
            _agent_loop_registry["grpokit_agent"],
            trainer_config=DictConfigWrap(config),
            server_manager=server,
            tokenizer=tokenizer,
            processor=None,
            hf_model_type=None,
            dataset_cls=None,
            data_config=DictConfigWrap(config.data),
            tools=ToolListWrap([]),
        )
        kwargs = {"index": 4, "extra_info": {"seed": 11}, "raw_prompt": [], "uid": "u9", "session_id": 2}
        return await loop.run({"temperature": 1.0}, **kwargs)

    return asyncio.run(episode()), server, tokenizer


GO = "<think>onward</think><action>forward</action>"


def test_the_agent_loop_emits_one_training_sample_per_turn_with_its_anchor():
    outputs, server, tokenizer = run_agent_loop([GO, "I will go forward", GO, GO])
    assert len(outputs) == 4  # the scripted answers win on the 4th turn
    extras = [o.extra_fields for o in outputs]
    # the untagged answer's fallback action ("i will go forward") is not admissible: the corridor answers with
    # "Nothing happens.", which is the next turn's anchor
    assert [e["anchor_obs"] for e in extras] == ["Corridor 11, room 0.", "Room 1.", "Nothing happens.", "Room 2."]
    assert [e["step_index"] for e in extras] == [0, 1, 2, 3] and {e["traj_uid"] for e in extras} == {"u9_2"}
    assert [e["action_valid"] for e in extras] == [True, False, True, True]
    assert [e["step_reward"] for e in extras] == [0.0, 0.0, 0.0, 10.0]  # reward_scale 10 on the winning step
    assert all(e["won"] and e["reward_extra_info"]["acc"] == 1.0 for e in extras)
    assert all(o.reward_score == 10.0 and o.num_turns == 2 for o in outputs)
    assert all(e["min_global_steps"] == 7 for e in extras)  # verl's staleness tags need them
    assert "Room 1." in server.prompts[1] and "reach the end" in server.prompts[1]
    assert tokenizer.decode(outputs[0].response_ids) == GO
    assert outputs[0].response_mask == [1] * len(outputs[0].response_ids)
    assert outputs[0].response_logprobs == [-0.5] * len(outputs[0].response_ids)


def test_agent_loop_rows_stored_as_verl_does_feed_the_credit_estimator():
    outputs, _, _ = run_agent_loop([GO] * 3, max_turns=5, reward_scale=1.0)
    fields = [o.as_dict() for o in outputs]  # what verl's v1 agent-loop worker puts into TransferQueue
    assert [f["rm_scores"].tolist()[-1] for f in fields] == [1.0] * 3
    keys = [f"u9_2_{i}" for i in range(3)]
    rows = AgentRows.from_rows(keys, [f["extra_fields"] for f in fields], [False] * 3)
    assert rows.traj_ids == ["u9_2"] * 3 and rows.step_rewards == [0.0, 0.0, 1.0]


def test_max_turns_ends_the_episode_without_a_win():
    outputs, _, _ = run_agent_loop(["<think>x</think><action>back</action>"] * 2, max_turns=2)
    assert len(outputs) == 2 and not outputs[-1].extra_fields["won"]
    assert [o.reward_score for o in outputs] == [0.0, 0.0]


def test_an_environment_that_crashes_ends_its_episode_as_failed_and_is_not_reused():
    from grpokit.integrations.verl.agent_loop import env_pool

    params = {"length": 3, "fail_on": "jump"}
    outputs, _, _ = run_agent_loop([GO, "<think>x</think><action>jump</action>"], env_params=params)
    assert len(outputs) == 2 and outputs[-1].extra_fields["env_error"] == "RuntimeError: engine crashed"
    assert not outputs[-1].extra_fields["won"] and [o.reward_score for o in outputs] == [0.0, 0.0]
    assert env_pool(Corridor.name, params)._idle == []


# ------------------------------------------------------------------------------------------------- DynaMO hooks

SETTINGS = DynamoSettings(n_min=2, n_max=6, initial_budget=2)


def prompt_batch(indices, extra_info=None):
    """Prompts as verl's dataloader gives them (verl copies ``extra_info.index`` into ``index``)."""
    extra_info = [{"index": i} for i in indices] if extra_info is None else extra_info
    batch = tu.get_tensordict(
        {
            "index": np.array(indices, dtype=object),
            "extra_info": np.array(extra_info, dtype=object),
            "uid": np.array([f"uid{i}" for i in indices], dtype=object),
            "reward_model": np.array([{"ground_truth": f"answer {i}"} for i in indices], dtype=object),
            "dummy_tensor": torch.zeros(len(indices), 1, dtype=torch.uint8),
        }
    )
    tu.assign_non_tensor_data(batch, "global_steps", 3)
    return batch


def seasoned_stats():
    stats = PromptStats()
    for prompt, correct in {10: [1, 0, 1, 0, 1, 0], 11: [1] * 6, 12: [0] * 6, 13: [1, 0, 0, 0, 0, 0]}.items():
        stats.update_many([prompt] * len(correct), correct)
    stats.end_epoch()
    return stats


def test_counts_sum_to_the_budget_and_reach_verls_agent_loop_worker_aligned(monkeypatch):
    """verl's own v1 worker code expands each prompt into ``__rollout_n__`` sessions carrying the prompt's fields."""
    batch = prompt_batch([10, 11, 12, 13, 14])  # 14 has no history
    stats = seasoned_stats()
    ids = dynamo.prompt_ids(batch)
    counts = dynamo.allocate(stats, ids, SETTINGS, rollout_n=4)
    assert sum(counts) == 20 and all(2 <= c <= 6 for c in counts)
    assert counts[0] > counts[1] and counts[0] > counts[2]  # p = 1/2 gets more than mastered and never-solved
    dynamo.assign_rollout_counts(batch, counts)

    worker_class = verl_agent_loop_tq.AgentLoopWorkerTQ.__ray_metadata__.modified_class
    sessions = []

    class Worker:
        generate_sequences = worker_class.generate_sequences
        _run_prompt = worker_class._run_prompt

        def __init__(self):
            rollout = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "calculate_log_probs": False, "n": 4}
            rollout["agent"] = {"default_agent_loop": "single_turn_agent"}
            self.config = OmegaConf.create({"actor_rollout_ref": {"rollout": rollout}})
            self.background_tasks = set()

        async def _run_agent_loop(self, sampling_params, trajectory, trace, session_id, **prompt):
            sessions.append(prompt)

    async def noop(*args, **kwargs):
        return None

    monkeypatch.setattr(verl_agent_loop_tq, "tq", SimpleNamespace(async_kv_put=noop))

    async def expand():
        worker = Worker()
        await worker.generate_sequences(batch)
        await asyncio.gather(*list(worker.background_tasks))

    asyncio.run(expand())
    per_prompt = {i: [s for s in sessions if s["index"] == i] for i in ids}
    assert [len(per_prompt[i]) for i in ids] == counts
    for i in ids:  # the official trainer's Defect A: metadata repeated uniformly, misaligned with the responses
        assert {(s["uid"], s["reward_model"]["ground_truth"]) for s in per_prompt[i]} == {(f"uid{i}", f"answer {i}")}


def test_prompts_without_their_own_index_are_refused():
    """verl gives index 0 to every row without one, which would merge their statistics."""
    with pytest.raises(ValueError, match=r"rows \[0, 2\] of the prompt batch have no extra_info\.index"):
        dynamo.prompt_ids(prompt_batch([0, 1, 0], extra_info=[{}, {"index": 1}, {"seed": 3}]))


def test_a_batch_holding_one_prompt_twice_gives_each_row_a_count_and_one_set_of_statistics(monkeypatch):
    """Regression: verl draws one prompt at a time under algorithm.filter_groups and restarts its dataloader inside a
    batch, so a prompt can fill two rows; the dynamo trainer raised "prompts of one batch share extra_info.index"."""
    trainer = drawing_dynamo_trainer(monkeypatch, [10, 11, 10])
    trainer.prompt_stats = seasoned_stats()
    trainer.prepare_step()
    counts = assigned_counts(trainer.submitted[0])
    assert sum(counts) == 12 and all(2 <= c <= 6 for c in counts)
    assert counts[0] > counts[1] and counts[2] > counts[1]  # both rows of the p = 1/2 prompt get its priority

    stats = PromptStats()  # each row is its own group (uid); both groups' responses count for prompt 10
    keys = ["uidA_0_0", "uidA_1_0", "uidB_0_0", "uidB_1_0", "uidC_0_0"]
    rm_scores = torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    rows = DataProto(
        batch=TensorDict({"rm_scores": rm_scores}, batch_size=5),
        non_tensor_batch={
            "key": np.array(keys, dtype=object),
            "is_padding": np.array([False] * 5, dtype=object),
            "index": np.array([10, 10, 10, 10, 11], dtype=object),
            "extra_fields": np.array([{}] * 5, dtype=object),
        },
    )
    assert dynamo.record_outcomes(stats, rows) == 5
    assert [(stats.sample_count(p), stats.num_correct(p)) for p in (10, 11)] == [(4, 3), (1, 1)]


def scored_rows(order):
    """Scored responses as verl holds them after batch balancing: any order, plus a padding row copying row 0."""
    responses = [  # (prompt index, session, output, score, acc in reward_extra_info)
        (20, 0, 0, 1.0, None), (20, 1, 0, -1.0, None), (20, 2, 0, 1.0, None),
        (21, 0, 0, 0.0, True), (21, 1, 0, 1.0, False), (21, 2, 0, -1.0, -1.0),  # acc -1: DAPO's wrong answer
        (22, 0, 0, 0.0, None), (22, 0, 1, 1.0, None),  # a two-output session: counted once, by its last output
    ]  # fmt: skip
    responses = [responses[i] for i in order]
    keys = [f"uid{p}_{s}_{o}" for p, s, o, _, _ in responses] + ["padxyz_0_0"]
    rm_scores = torch.zeros(len(keys), 4)
    for row, (_, _, _, score, _) in enumerate(responses):
        rm_scores[row, 2] = score
    extras = [{} if acc is None else {"reward_extra_info": {"acc": acc}} for *_, acc in responses] + [{}]
    mask = torch.ones(len(keys), 4)
    mask[-1] = 0
    non_tensor = {
        "key": np.array(keys, dtype=object),
        "is_padding": np.array([False] * len(responses) + [True], dtype=object),
        "index": np.array([p for p, *_ in responses] + [responses[0][0]], dtype=object),
        "extra_fields": np.array(extras, dtype=object),
    }
    return DataProto(
        batch=TensorDict({"rm_scores": rm_scores, "response_mask": mask}, batch_size=len(keys)),
        non_tensor_batch=non_tensor,
    )


def test_outcomes_are_credited_to_their_own_prompt_in_any_row_order():
    for order in ([0, 1, 2, 3, 4, 5, 6, 7], [7, 3, 0, 6, 5, 2, 4, 1]):  # Defect B: counts after verl's reordering
        stats = PromptStats()
        assert dynamo.record_outcomes(stats, scored_rows(order)) == 7
        assert [(stats.sample_count(p), stats.num_correct(p)) for p in (20, 21, 22)] == [(3, 2), (3, 1), (1, 1)]


def modulation_batch():
    g = torch.Generator().manual_seed(5)
    rows, width = 5, 6
    mask = torch.ones(rows, width, dtype=torch.bool)
    mask[1, 4:] = False
    advantages = torch.tensor([1.0, -0.5, 0.0, 2.0, 0.0]).unsqueeze(-1) * mask
    batch = TensorDict(
        {
            "advantages": advantages,
            "old_log_probs": -torch.rand(rows, width, generator=g) * 3,
            "entropy": torch.rand(rows, width, generator=g) * 2,
            "response_mask": mask,
        },
        batch_size=rows,
    )
    padding = np.array([False, False, False, False, True], dtype=object)
    return DataProto(batch=batch, non_tensor_batch={"is_padding": padding})


@pytest.mark.parametrize("rows", [0, 1, 2])
def test_modulation_is_grpokits_core_on_the_old_log_prob_pass(rows):
    data = modulation_batch()
    settings = DynamoSettings(modulation_rows=rows)
    got, metrics = dynamo.modulate(data, settings, eps_low=0.2, eps_high=0.28)
    b = data.batch
    chunks = {0: [[0, 1, 2, 3]], 1: [[0], [1], [2], [3]], 2: [[0, 1], [2, 3]]}[rows]
    for chunk in chunks:
        want = dynamo_modulate(
            b["advantages"][chunk], b["old_log_probs"][chunk], b["old_log_probs"][chunk], b["entropy"][chunk],
            b["response_mask"][chunk], eps_low=0.2, eps_high=0.28,
        )  # fmt: skip
        torch.testing.assert_close(got[chunk], want)
    torch.testing.assert_close(got[4], b["advantages"][4])  # padding untouched
    assert 0 < metrics["dynamo/damped_token_frac"] < 1 and metrics["dynamo/positive_factor_mean"] > 1


def test_prompt_statistics_survive_a_checkpoint(tmp_path, caplog):
    stats = seasoned_stats()
    folder = dynamo.checkpoint_folder(tmp_path / "ckpt", 40)
    dynamo.save_prompt_stats(stats, folder)
    restored = PromptStats()
    trainer_config = OmegaConf.create({"resume_mode": "auto", "default_local_dir": str(tmp_path / "ckpt")})
    assert dynamo.load_prompt_stats(restored, dynamo.resume_folder(trainer_config, 40))
    assert restored.state_dict() == stats.state_dict()
    assert restored.allocate([10, 11, 14], 12, n_min=2, n_max=6, initial_budget=2) == stats.allocate(
        [10, 11, 14], 12, n_min=2, n_max=6, initial_budget=2
    )
    resume_path = OmegaConf.create({"resume_mode": "resume_path", "resume_from_path": folder})
    assert dynamo.resume_folder(resume_path, 0) == folder
    with caplog.at_level(logging.WARNING, logger="grpokit.integrations.verl"):
        assert not dynamo.load_prompt_stats(PromptStats(), str(tmp_path / "elsewhere"))
    assert "no DynaMO prompt statistics" in caplog.text


# ------------------------------------------------------------------------------ trainers on an in-memory queue


class Meta:
    """What the trainers use of verl's ``KVBatchMeta``: row keys, tags, partition."""

    def __init__(self, keys, tags):
        self.keys, self.tags, self.partition_id = keys, tags, "train"

    def __len__(self):
        return len(self.keys)


class MemoryQueue:
    """TransferQueue's ``kv_batch_get`` / ``kv_batch_put`` for one partition: per-token fields come back jagged."""

    def __init__(self, rows):
        self.rows = rows

    def fetch(self, batch, fields):
        rows = [self.rows[key] for key in batch.keys]
        data = {}
        for name in [f for f in fields if f in rows[0]]:
            values = [row[name] for row in rows]
            if isinstance(values[0], torch.Tensor):
                data[name] = torch.nested.as_nested_tensor(values, layout=torch.jagged)
            else:
                data[name] = NonTensorStack(*values)
        return TensorDict(data, batch_size=len(rows))

    def store(self, batch, fields):
        for i, key in enumerate(batch.keys):
            for name, value in fields.items():
                self.rows[key][name] = value[i]
        return batch


def bare_trainer(cls, config, queue, monkeypatch):
    """A trainer without workers: verl's own ``__init__`` and hooks, TransferQueue replaced by ``queue``."""
    monkeypatch.setattr(cls, "_fetch", staticmethod(queue.fetch))
    monkeypatch.setattr(cls, "_store", staticmethod(queue.store))
    trainer = object.__new__(cls)
    trainer.config = config
    return trainer


def trainer_config(**sections):
    config = {
        "algorithm": {"adv_estimator": "grpo", "use_kl_in_reward": False},
        "actor_rollout_ref": {"rollout": {"n": 4}, "actor": {"clip_ratio": 0.2, "clip_ratio_low": 0.2}},
        "trainer": {"default_local_dir": "ckpt", "resume_mode": "auto"},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return OmegaConf.create(config)


def test_dynamo_trainer_counts_modulates_and_writes_back_through_the_queue(monkeypatch):
    keys = ["uA_0_0", "uB_0_0", "uA_1_0", "padq_0_0"]
    rows = {}
    for i, key in enumerate(keys):
        length = 3 + i % 2
        rows[key] = {
            "index": 30 if key.startswith("uA") else 31,
            "rm_scores": torch.tensor([0.0] * (length - 1) + [1.0 if i != 2 else 0.0]),
            "extra_fields": {},
            "response_mask": torch.ones(length, dtype=torch.int64),
            "advantages": torch.full((length,), 1.0 if i != 2 else -1.0),
            "old_log_probs": torch.linspace(-2.0, -0.1, length),
            "entropy": torch.linspace(0.1, 1.5, length),
        }
    config = trainer_config(actor_rollout_ref={"actor": {"clip_ratio_high": 0.28}}, grpokit={"dynamo": {}})
    trainer = bare_trainer(DynamoTrainer, config, MemoryQueue(rows), monkeypatch)
    trainer.dynamo = DynamoSettings.from_config(config)
    trainer.prompt_stats = PromptStats()
    monkeypatch.setattr(PPOTrainer, "_compute_advantage", lambda self, batch, metrics: batch)
    meta = Meta(keys, [{}, {}, {}, {"is_padding": True}])
    original = {k: r["advantages"].clone() for k, r in rows.items()}

    metrics = {}
    trainer._compute_advantage(meta, metrics)
    assert [(trainer.prompt_stats.sample_count(p), trainer.prompt_stats.num_correct(p)) for p in (30, 31)] == [
        (2, 1),
        (1, 1),
    ]
    for key in keys[:3]:
        log_prob = rows[key]["old_log_probs"].unsqueeze(0)
        want = dynamo_modulate(
            original[key].unsqueeze(0), log_prob, log_prob, rows[key]["entropy"].unsqueeze(0),
            torch.ones_like(log_prob, dtype=torch.bool), eps_low=0.2, eps_high=0.28,
        )[0]  # fmt: skip
        torch.testing.assert_close(rows[key]["advantages"], want)
    torch.testing.assert_close(rows["padq_0_0"]["advantages"], original["padq_0_0"])
    assert metrics["dynamo/responses_counted"] == 3.0


def test_agent_trainer_writes_core_credit_for_its_rows(monkeypatch):
    order = [int(i) for i in torch.randperm(11, generator=torch.Generator().manual_seed(2))]
    keys, uids, agent_rows, mask = agent_batch(order, pad_rows=1)
    rows = {}
    for i, key in enumerate(keys):
        length = max(int(mask[i].sum()), 1)
        extra = {
            "anchor_obs": agent_rows.anchors[i], "step_index": agent_rows.step_index[i],
            "step_reward": agent_rows.step_rewards[i], "action_valid": bool(agent_rows.valid[i]), "won": True,
        }  # fmt: skip
        rows[key] = {
            "uid": uids[i],
            "response_mask": torch.ones(length, dtype=torch.int64),
            "rm_scores": torch.zeros(length),
            "old_log_probs": torch.zeros(length),
            "extra_fields": extra,
        }
    config = trainer_config(algorithm={"adv_estimator": "proxmo"}, grpokit={"credit": {"variant": "official"}})
    trainer = bare_trainer(GrpokitAgentTrainer, config, MemoryQueue(rows), monkeypatch)
    from grpokit.integrations.verl.settings import CreditSettings

    trainer.credit = CreditSettings.from_config(config, "proxmo")
    meta = Meta(keys, [{"is_padding": k.startswith("pad")} for k in keys])
    metrics = {}
    trainer._compute_advantage(meta, metrics)
    expected = expected_rows(proxmo_advantages, variant="official")
    for key in keys:
        want = expected.get(key, 0.0)
        assert rows[key]["advantages"].tolist() == pytest.approx([want] * len(rows[key]["advantages"]), abs=1e-6)
    assert metrics["grpokit/success"] == 1.0


def test_a_correct_answer_whose_last_token_verl_rejected_still_counts_as_correct(monkeypatch):
    """Regression: verl's rollout correction writes back a ``response_mask`` without the tokens it rejects, and the
    reward sits on the last token, so a rejected last token turned a correct answer into a wrong one."""
    rows = {
        "u_0_0": {"index": 50, "rm_scores": torch.tensor([0.0, 0.0, 1.0]), "response_mask": torch.ones(3)},
        "u_1_0": {"index": 50, "rm_scores": torch.tensor([0.0, 0.0]), "response_mask": torch.ones(2)},
    }
    for row in rows.values():
        row["extra_fields"] = {}

    def rejecting_the_last_token(self, batch, metrics):  # verl's _compute_advantage under rollout_correction
        rows["u_0_0"]["response_mask"] = torch.tensor([1.0, 1.0, 0.0])
        return batch

    config = trainer_config(grpokit={"dynamo": {"modulate": False}})
    trainer = bare_trainer(DynamoTrainer, config, MemoryQueue(rows), monkeypatch)
    trainer.dynamo, trainer.prompt_stats = DynamoSettings.from_config(config), PromptStats()
    monkeypatch.setattr(PPOTrainer, "_compute_advantage", rejecting_the_last_token)
    trainer._compute_advantage(Meta(list(rows), [{}, {}]), {})
    assert (trainer.prompt_stats.sample_count(50), trainer.prompt_stats.num_correct(50)) == (2, 1)


def test_dynamo_never_gives_a_prompt_a_lone_rollout():
    """Regression: ``n_min`` defaulted to ``max(1, n // 2)``, so ``rollout.n=2`` allocated ``[1, 1, 3, 3]``; verl's
    GRPO gives a one-response group mean 0 and std 1, so that response's advantage was its raw score."""
    settings = DynamoSettings.from_config(trainer_config(actor_rollout_ref={"rollout": {"n": 2}}))
    assert dynamo.allocate(seasoned_stats(), [10, 11, 12, 13], settings, rollout_n=2) == [2, 2, 2, 2]
    with pytest.raises(ValueError, match=r"grpokit\.dynamo\.n_min must be >= 2, got 1"):
        DynamoSettings.from_config(trainer_config(grpokit={"dynamo": {"n_min": 1}}))


def test_dynamo_settings_default_to_the_official_script_and_name_bad_keys():
    config = trainer_config(actor_rollout_ref={"rollout": {"n": 16}})
    settings = DynamoSettings.from_config(config)
    assert (settings.n_min, settings.n_max, settings.initial_budget) == (8, 24, 4)
    with pytest.raises(ValueError, match=r"grpokit\.dynamo\.n_mim"):
        DynamoSettings.from_config(trainer_config(grpokit={"dynamo": {"n_mim": 2}}))
    with pytest.raises(ValueError, match="n_min"):
        DynamoSettings.from_config(trainer_config(grpokit={"dynamo": {"n_min": 5}}))
    with pytest.raises(TypeError, match="taus"):
        from grpokit.integrations.verl.settings import CreditSettings

        CreditSettings.from_config(trainer_config(grpokit={"credit": {"taus": 1}}), "proxmo")


def assigned_counts(batch):
    """Each prompt's ``__rollout_n__`` as the trainer wrote it."""
    return [d.data if isinstance(d, NonTensorData) else d for d in batch.get(dynamo.ROLLOUT_N).tolist()]


def drawing_dynamo_trainer(monkeypatch, *draws, **config_sections):
    """A ``dynamo`` trainer without workers whose dataloader gives the prompt indices of ``draws`` in turn; what it
    submits for rollout is kept in ``trainer.submitted``."""
    trainer = object.__new__(DynamoTrainer)
    trainer.config = trainer_config(**config_sections)
    trainer.dynamo, trainer.prompt_stats, trainer.submitted = SETTINGS, PromptStats(), []
    trainer.global_steps, trainer.steps_per_epoch, trainer.parameter_sync_step = 1, 3, 1
    draws = list(draws)
    monkeypatch.setattr(PPOTrainer, "_next_train_batch", lambda self, n=None: prompt_batch(draws.pop(0)))
    monkeypatch.setattr(PPOTrainer, "_submit_batch_to_rollout", lambda self, batch: self.submitted.append(batch))
    return trainer


def test_prepare_step_refreshes_priorities_when_an_epoch_begins(monkeypatch):
    trainer = drawing_dynamo_trainer(monkeypatch, [40, 41], [40, 41])
    trainer.prompt_stats.update_many([40] * 4, [1, 0, 1, 0])
    for step, refreshed in ((3, False), (4, True)):
        trainer.global_steps = step
        trainer.prepare_step()
        assert (trainer.prompt_stats.priority(40) > 0) is refreshed
    assert sum(assigned_counts(trainer.submitted[-1])) == 8


def test_a_steps_allocation_metrics_cover_every_refill(monkeypatch):
    """Regression: verl refills evicted groups during a step (``algorithm.filter_groups``,
    ``sync_refill_failed_groups``); the allocation metrics described the step's first batch only."""
    trainer = drawing_dynamo_trainer(monkeypatch, [10, 11], [14], data={"train_batch_size": 2})
    trainer.prompt_stats = seasoned_stats()  # 10 and 11 have priorities, 14 is new

    def step_once(self, metrics, timing_raw, sample_batch_size):
        self._add_prompts_to_generate(1)  # what verl's replay buffer calls to replace an evicted group
        return Meta(["uid10_0_0"], [{}])

    monkeypatch.setattr(PPOTrainer, "_step_once", step_once)
    metrics = {}
    trainer.step(metrics, {})
    assert metrics["dynamo/known_prompt_frac"] == pytest.approx(2 / 3)
    counts = [c for batch in trainer.submitted for c in assigned_counts(batch)]
    priorities = [trainer.prompt_stats.priority(i) for i in (10, 11, 14)]
    assert {k: v for k, v in metrics.items() if k.startswith("dynamo/")} == dynamo.allocation_metrics(
        priorities, counts
    )


SMALL_RUN = (
    "data.train_batch_size=4",
    "actor_rollout_ref.rollout.n=4",
    "actor_rollout_ref.actor.ppo_mini_batch_size=2",
)


@pytest.mark.parametrize(("trainer_cls", "mode"), [(DynamoTrainer, "dynamo"), (GrpokitAgentTrainer, "grpokit_agent")])
def test_sync_settings_reach_verls_step_under_grpokits_mode_names(trainer_cls, mode, monkeypatch):
    """Regression: verl reads ``trainer.v1.<trainer_mode>.parameter_sync_step`` when the trainer is built, where the
    mode was still ``dynamo`` / ``grpokit_agent``, so ``trainer.v1.sync.parameter_sync_step`` was ignored."""
    config = composed_config(*SMALL_RUN, f"trainer.v1.trainer_mode={mode}", "+trainer.v1.sync.parameter_sync_step=2")
    trainer = trainer_cls(config)  # verl's own __init__; workers start later, in init()
    assert trainer.trainer_mode == "sync" and trainer.replay_buffer.trainer_config.parameter_sync_step == 2
    sampled = []

    def step_once(self, metrics, timing_raw, sample_batch_size):
        sampled.append(sample_batch_size)
        return Meta([], [])

    monkeypatch.setattr(trainer_cls, "prepare_step", lambda self: {})
    monkeypatch.setattr(PPOTrainer, "_step_once", step_once)
    trainer.step({}, {})
    assert sampled == [2, 2]  # two updates of half the batch's prompts per weight sync


def test_agent_estimators_refuse_any_other_trainer_when_it_is_built():
    """Regression: with another trainer, ``adv_estimator=proxmo`` failed in ``_compute_advantage``, after a rollout."""
    for mode, trainer_cls in (("sync", PPOTrainerSync), ("dynamo", DynamoTrainer)):
        config = composed_config(*SMALL_RUN, "algorithm.adv_estimator=proxmo", f"trainer.v1.trainer_mode={mode}")
        advice = rf"trainer_mode={mode} does not pass: use trainer\.v1\.trainer_mode=grpokit_agent"
        with pytest.raises(ValueError, match=rf"algorithm\.adv_estimator=proxmo .*{advice}"):
            trainer_cls(config)
    config = composed_config(*SMALL_RUN, "algorithm.adv_estimator=gigpo", "trainer.v1.trainer_mode=grpokit_agent")
    assert GrpokitAgentTrainer(config).credit is not None


# ------------------------------------------------------------------------------------- entry point, finished


def test_a_plain_import_verl_registers_every_grpokit_name(entry_point_run):
    """Last in the file: the interpreter started by ``entry_point_run`` ran while the tests above did."""
    out, err = entry_point_run.communicate(timeout=900)  # generous: a guard against a hang, not a timing
    assert entry_point_run.returncode == 0, err[-3000:]
    found = json.loads(out.strip().splitlines()[-1])
    assert found["failures"] == {}
    assert set(found["losses"].values()) == {"grpokit.integrations.verl.losses"}
    assert set(found["estimators"].values()) == {"grpokit.integrations.verl.estimators"}
    assert set(found["trainers"].values()) == {"grpokit.integrations.verl.trainer"}
    assert found["agent_loop"] == {"_target_": "grpokit.integrations.verl.agent_loop.GrpokitAgentLoop"}
    # the plugin registers lazily: `import verl` alone (every Ray, FSDP, agent-loop and vLLM process) used to import
    # verl's core_algos, v1 trainer and agent loops and grpokit's environments, doubling its time
    assert found["heavy_after_import_verl"] == []
