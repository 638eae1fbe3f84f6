"""GRPOKitTrainer: TRL's GRPOTrainer with grpokit's losses, checked against closed forms and TRL's own loss.

Everything runs on the CPU with the in-process tiny model; nothing downloads (TRL's telemetry is switched off).
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl", reason="TRL is the optional extra 'trl': pip install 'grpokit[trl]'")

import huggingface_hub.constants
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from grpokit.core.losses import POLICY_LOSSES, compute_policy_loss, register_policy_loss
from grpokit.core.modulation import dynamo_modulate
from grpokit.integrations.trl import AGGREGATIONS, GRPOKitConfig, GRPOKitTrainer, folds_into_the_advantage
from grpokit.models import tiny_policy

ROWS, PROMPT, TOKENS = 4, 3, 6
ACCUMULATION = 2  # micro-batches per optimizer step
GENERATION_STEPS = 4  # micro-batches per generation batch; unequal to ACCUMULATION, so dapo's normaliser is exercised
CUSTOM = "test-trl-scaled-is"
SATURATING = "test-trl-tanh-advantage"
PENALISED = "test-trl-proximal-penalty"
TRL_CLIP_RATIOS = [f"clip_ratio/{name}" for name in ("low_mean", "low_min", "high_mean", "high_max", "region_mean")]
BUILTIN_LOSSES = ["ppo", "dgpo", "cispo", "gppo", "cegppo", "sapo", "gspo"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """TRL pings the hub's telemetry endpoint when a trainer is built; nothing may leave the machine in tests."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """The tiny model saved to disk: with beta > 0 TRL loads its reference model from the policy's path."""
    model, tokenizer = tiny_policy()
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture
def custom_loss():
    """A user's loss registered in grpokit's registry: scaled, unclipped importance sampling, ``w = scale · r``."""

    @register_policy_loss(CUSTOM)
    def scaled_is(log_prob, old_log_prob, advantages, response_mask, *, eps_low: float = 0.2, scale: float = 1.0):
        ratio = torch.exp(log_prob - old_log_prob)
        return -scale * advantages * ratio, {
            "clipfrac_low": torch.zeros_like(ratio, dtype=torch.bool),
            "clipfrac_high": torch.zeros_like(ratio, dtype=torch.bool),
            "above_one": ratio > 1,
        }

    yield CUSTOM
    POLICY_LOSSES._fns.pop(CUSTOM, None)


def no_clip(ratio):
    return {
        "clipfrac_low": torch.zeros_like(ratio, dtype=torch.bool),
        "clipfrac_high": torch.zeros_like(ratio, dtype=torch.bool),
    }


@pytest.fixture
def saturating_loss():
    """A registered loss not proportional to the advantage, though 0 where it is: ``L = -tanh(A)·r``."""

    @register_policy_loss(SATURATING)
    def tanh_advantage(log_prob, old_log_prob, advantages, response_mask):
        ratio = torch.exp(log_prob - old_log_prob)
        return -torch.tanh(advantages) * ratio, no_clip(ratio)

    yield SATURATING
    POLICY_LOSSES._fns.pop(SATURATING, None)


@pytest.fixture
def penalised_loss():
    """A registered loss with a proximal penalty that does not vanish with the advantage: ``-A·r + (r-1)²``."""

    @register_policy_loss(PENALISED)
    def proximal(log_prob, old_log_prob, advantages, response_mask):
        ratio = torch.exp(log_prob - old_log_prob)
        return -advantages * ratio + (ratio - 1) ** 2, no_clip(ratio)

    yield PENALISED
    POLICY_LOSSES._fns.pop(PENALISED, None)


def config(tmp_path, cls=GRPOKitConfig, **overrides):
    settings = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": ROWS,
        "num_generations": 2,
        "max_completion_length": 8,
        "gradient_accumulation_steps": ACCUMULATION,
        "steps_per_generation": GENERATION_STEPS,
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "save_strategy": "no",
        "disable_tqdm": True,
        "seed": 0,
    }
    return cls(**{**settings, **overrides})


def dataset(count=8):
    return Dataset.from_list([{"prompt": f"What is {i} + 1?"} for i in range(count)])


def length_reward(completions, **_):
    """Rewards that differ within a group, so that the advantages are not all zero."""
    return [float(len(c) % 3) for c in completions]


def build(trainer_class, model, args):
    trainer = trainer_class(model=model, reward_funcs=length_reward, args=args, train_dataset=dataset())
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = ACCUMULATION  # as transformers sets it inside its training loop
    return trainer


# ------------------------------------------------------------------------------------- one batch, fixed tensors


def batch(seed=0):
    """A micro-batch whose log-ratios fall inside and on both sides of the trust region, with ragged lengths."""
    g = torch.Generator().manual_seed(seed)
    mask = (torch.arange(TOKENS) < torch.tensor([[6], [4], [1], [5]])).long()
    ratios = torch.tensor([0.5, 0.75, 0.95, 1.0, 1.2, 1.5])[torch.randperm(TOKENS, generator=g)]
    ratios = torch.stack([ratios.roll(i) for i in range(ROWS)]).double()
    old = -torch.rand(ROWS, TOKENS, generator=g, dtype=torch.float64) * 3 - 0.1
    inputs = {
        "prompt_ids": torch.randint(0, 100, (ROWS, PROMPT), generator=g),
        "prompt_mask": torch.ones(ROWS, PROMPT, dtype=torch.long),
        "completion_ids": torch.randint(0, 100, (ROWS, TOKENS), generator=g),
        "completion_mask": mask,
        "advantages": torch.tensor([1.0, -0.5, 0.7, -1.2], dtype=torch.float64),
        "old_per_token_logps": old,
        # the generation batch spans GENERATION_STEPS micro-batches; the others are taken to have as many tokens
        "num_items_in_batch": mask.sum() * GENERATION_STEPS,
    }
    log_prob = old + ratios.log()
    entropy = torch.rand(ROWS, TOKENS, generator=g, dtype=torch.float64) * 3
    return inputs, log_prob, entropy


def trainer_gradient(trainer, inputs, log_prob, entropy):
    """(loss, d loss / d log π per token) of the trainer's loss, its forward pass replaced by the given tensors."""
    leaf = log_prob.clone().requires_grad_()
    trainer._get_per_token_logps_and_entropies = lambda *args, **kwargs: (leaf, entropy, None)
    loss = trainer._compute_loss(trainer.model, inputs)
    loss.backward()
    return loss.detach(), leaf.grad


def per_token_normaliser(loss_type, mask):
    """TRL 1.16's normaliser of each token's loss, per micro-batch and accumulation step (one process)."""
    rows = mask.shape[0]
    if loss_type == "grpo":
        return rows * mask.sum(-1, keepdim=True).clamp(min=1) * ACCUMULATION
    if loss_type == "bnpo":
        return mask.sum() * ACCUMULATION
    if loss_type == "dr_grpo":
        return rows * 8 * ACCUMULATION  # max_completion_length
    if loss_type == "dapo":
        return mask.sum() * GENERATION_STEPS * ACCUMULATION / GENERATION_STEPS  # num_items × accumulation / steps
    if loss_type == "luspo":
        return rows * ACCUMULATION
    raise AssertionError(loss_type)


def dgpo_weight(ratio, advantages, *, eps_low, eps_high, n, m):
    """DGPO's weight on ∇log π (arXiv 2603.14389): r^(n+1)/L^n on LN tokens, U^(1/m)·r^((m-1)/m) on HP tokens."""
    low, high = 1 - eps_low, 1 + eps_high
    ln = (ratio < low) & (advantages < 0)
    hp = (ratio > high) & (advantages > 0)
    weight = ratio.clone()
    weight[ln] = ratio[ln] ** (n + 1) / low**n
    weight[hp] = high ** (1 / m) * ratio[hp] ** ((m - 1) / m)
    return weight


def ppo_weight(ratio, advantages, *, eps_low, eps_high):
    """PPO's weight: r, except 0 where the clip holds the objective constant."""
    clipped = ((ratio < 1 - eps_low) & (advantages < 0)) | ((ratio > 1 + eps_high) & (advantages > 0))
    return torch.where(clipped, torch.zeros_like(ratio), ratio)


@pytest.mark.parametrize(
    ("policy_loss", "loss_type"),
    [("dgpo", "grpo"), ("dgpo", "bnpo"), ("dgpo", "dr_grpo"), ("dgpo", "dapo"), ("dgpo", "luspo"), ("ppo", "dapo")],
)
def test_per_token_gradient_is_the_loss_weight_over_trls_normaliser(tiny_dir, tmp_path, policy_loss, loss_type):
    params = {"n": 2.0, "m": 3.0} if policy_loss == "dgpo" else {}
    args = config(tmp_path, policy_loss=policy_loss, policy_loss_params=params, loss_type=loss_type, epsilon_high=0.28)
    trainer = build(GRPOKitTrainer, tiny_dir, args)
    inputs, log_prob, entropy = batch()
    _, grad = trainer_gradient(trainer, inputs, log_prob, entropy)

    mask = inputs["completion_mask"].double()
    advantages = inputs["advantages"][:, None].expand_as(log_prob)
    ratio = torch.exp(log_prob - inputs["old_per_token_logps"])
    if policy_loss == "dgpo":
        weight = dgpo_weight(ratio, advantages, eps_low=0.2, eps_high=0.28, n=2.0, m=3.0)
    else:
        weight = ppo_weight(ratio, advantages, eps_low=0.2, eps_high=0.28)
    expected = -advantages * weight * mask / per_token_normaliser(loss_type, mask)
    # the batch reaches both decayed sides, so a dropped parameter or a wrong ε would show
    assert ((ratio < 0.8) & (advantages < 0) & (mask > 0)).any() and ((ratio > 1.28) & (advantages > 0)).any()
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("modulation", [False, True], ids=["plain", "dynamo"])
@pytest.mark.parametrize("policy_loss", ["dgpo", "cegppo", CUSTOM])
def test_gradient_equals_grpokits_core_on_the_same_tensors(tiny_dir, tmp_path, custom_loss, policy_loss, modulation):
    params = {"scale": 1.5} if policy_loss == CUSTOM else {}
    modulation_params = {"mu_max": 1.5, "lambda_min": 0.5, "tau": 0.5}
    args = config(
        tmp_path,
        policy_loss=policy_loss,
        policy_loss_params=params,
        dynamo_modulation=modulation,
        modulation_params=modulation_params,
    )
    trainer = build(GRPOKitTrainer, tiny_dir, args)
    inputs, log_prob, entropy = batch(seed=1)
    loss, grad = trainer_gradient(trainer, inputs, log_prob, entropy)

    old, mask = inputs["old_per_token_logps"], inputs["completion_mask"]
    advantages = inputs["advantages"][:, None]
    if modulation:
        advantages = dynamo_modulate(advantages, log_prob, old, entropy, mask, **modulation_params)
    leaf = log_prob.clone().requires_grad_()
    expected_loss, _ = compute_policy_loss(
        policy_loss, leaf, old, advantages, mask, batch_num_tokens=mask.sum() * ACCUMULATION, eps_low=0.2, **params
    )  # dapo (TRL's default): the generation batch's tokens × accumulation / steps_per_generation
    expected_loss.backward()
    torch.testing.assert_close(loss, expected_loss.detach(), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(grad, leaf.grad, rtol=1e-12, atol=1e-15)
    if modulation:  # the modulation acted (on these entropies), so skipping it would fail the comparison above
        plain = compute_policy_loss(policy_loss, leaf, old, inputs["advantages"][:, None], mask, **params)[0]
        assert not torch.allclose(torch.autograd.grad(plain, leaf)[0] / ACCUMULATION, leaf.grad)
    logged = trainer._metrics["train"]
    assert {"grpokit/clipfrac_low", "grpokit/clipfrac_high", "grpokit/ppo_kl"} <= set(logged)
    # without TRL's factors, TRL's token means are grpokit's fractions
    assert logged["clip_ratio/low_mean"] == pytest.approx(logged["grpokit/clipfrac_low"])
    assert logged["clip_ratio/high_mean"] == pytest.approx(logged["grpokit/clipfrac_high"])
    assert logged["clip_ratio/region_mean"] == pytest.approx(logged["grpokit/clipfrac"])
    if policy_loss == CUSTOM:  # a registered loss's own metric is logged too
        ratio = torch.exp(log_prob - old)
        assert logged["grpokit/above_one"][-1] == pytest.approx(((ratio > 1) * mask).sum().item() / mask.sum().item())


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo", "luspo"])
def test_ppo_reproduces_trls_own_loss_with_kl_masks_and_vllm_correction(tiny_dir, tmp_path, loss_type):
    """With policy_loss='ppo', TRL's clipped loss, the loss and its gradient equal GRPOTrainer's, with the KL term,
    the high-entropy mask, the off-policy sequence mask and the vLLM importance-sampling ratio all switched on."""
    shared = {
        "loss_type": loss_type,
        "epsilon_high": 0.28,
        "beta": 0.05,
        "top_entropy_quantile": 0.6,
        "off_policy_mask_threshold": 0.02,
    }
    inputs, log_prob, entropy = batch(seed=2)
    g = torch.Generator().manual_seed(3)
    inputs["ref_per_token_logps"] = log_prob + 0.3 * torch.randn(ROWS, TOKENS, generator=g, dtype=torch.float64)
    inputs["sampling_per_token_logps"] = inputs["old_per_token_logps"] + 0.1
    ratio = 0.5 + torch.rand(ROWS, TOKENS, generator=g, dtype=torch.float64)
    inputs["importance_sampling_ratio"] = torch.where(ratio > 1.4, torch.zeros_like(ratio), ratio)  # token_mask
    results = []
    for trainer_class, args in (
        (GRPOTrainer, config(tmp_path, GRPOConfig, **shared)),
        (GRPOKitTrainer, config(tmp_path, policy_loss="ppo", **shared)),
    ):
        trainer = build(trainer_class, tiny_dir, args)
        trainer.use_vllm = True  # only the loss's use of the ratio is under test; vLLM itself is not installed
        results.append((*trainer_gradient(trainer, dict(inputs), log_prob, entropy), trainer._metrics["train"]))
    (trl_loss, trl_grad, trl_logged), (loss, grad, logged) = results
    torch.testing.assert_close(loss, trl_loss, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(grad, trl_grad, rtol=1e-12, atol=1e-15)
    assert logged["kl"] == pytest.approx(trl_logged["kl"]) and logged["entropy"] == pytest.approx(trl_logged["entropy"])
    # TRL's dashboard names, TRL's values: counted before the masks and the ratio, as TRL counts them
    assert [logged[key][-1] for key in TRL_CLIP_RATIOS] == pytest.approx(
        [trl_logged[key][-1] for key in TRL_CLIP_RATIOS]
    )
    assert trl_logged["clip_ratio/region_mean"][-1] > 0 and trl_logged["clip_ratio/high_max"][-1] > 0


# ------------------------------------------------------------------------------------------- the real model


def test_the_loss_uses_trls_forward_pass_at_its_temperature(tiny_dir, tmp_path):
    trainer = build(GRPOKitTrainer, tiny_dir, config(tmp_path, temperature=0.8))
    inputs, _, _ = batch(seed=4)
    inputs = {k: v.float() if v.is_floating_point() else v for k, v in inputs.items()}
    with torch.no_grad():  # log π and entropy computed here from the logits, independently of TRL
        ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
        attention = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        logits = trainer.model(input_ids=ids, attention_mask=attention).logits[:, PROMPT - 1 : -1] / 0.8
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        log_prob = log_probs.gather(-1, inputs["completion_ids"][..., None]).squeeze(-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
    inputs["old_per_token_logps"] = log_prob + torch.linspace(-0.4, 0.4, TOKENS)
    mask = inputs["completion_mask"]
    expected, _ = compute_policy_loss(
        "dgpo",
        log_prob,
        inputs["old_per_token_logps"],
        inputs["advantages"][:, None],
        mask,
        batch_num_tokens=mask.sum() * ACCUMULATION,
    )
    loss = trainer._compute_loss(trainer.model, inputs)
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-6)
    valid = mask.bool()
    assert trainer._metrics["train"]["entropy"][-1] == pytest.approx(entropy[valid].mean().item(), rel=1e-4)


def test_two_training_steps_on_the_cpu_train_the_model(tmp_path):
    model, tokenizer = tiny_policy()
    before = [p.detach().clone() for p in model.parameters()]
    args = config(
        tmp_path,
        max_steps=2,
        logging_steps=1,
        learning_rate=1e-2,
        max_completion_length=8,
        gradient_accumulation_steps=1,
        steps_per_generation=None,
        num_iterations=2,  # the second step reuses the batch off-policy: ratios move away from 1
        dynamo_modulation=True,
    )
    trainer = GRPOKitTrainer(
        model=model, reward_funcs=length_reward, args=args, train_dataset=dataset(), processing_class=tokenizer
    )
    trainer.train()
    logs = [row for row in trainer.state.log_history if "loss" in row]
    assert len(logs) == 2
    assert all(math.isfinite(row["loss"]) for row in logs)
    assert all("grpokit/clipfrac" in row and math.isfinite(row["entropy"]) for row in logs)
    assert all(set(TRL_CLIP_RATIOS) <= set(row) for row in logs)  # TRL's dashboards find their clip curves
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


# ------------------------------------------------------------------------------------------- two processes


def train_in_processes(processes, model_dir, out_file):
    """Run tests/integrations/trl_processes.py in ``processes`` CPU processes (torchrun, gloo; a plain process for
    one) and load what it saved."""
    script = [str(Path(__file__).with_name("trl_processes.py")), model_dir, str(out_file)]
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    command = [sys.executable, *(launcher if processes > 1 else []), *script]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return torch.load(out_file, weights_only=False)


@pytest.mark.slow
def test_two_processes_train_as_one_on_the_same_global_batch(tiny_dir, tmp_path):
    """Two gloo processes, each with half the global batch, give the one-process run's loss, gradient and logged
    metrics, for every loss_type, on an on-policy step and on an off-policy one (with the KL term and clipping)."""
    one, two = (train_in_processes(n, tiny_dir, tmp_path / f"{n}.pt") for n in (1, 2))
    for loss_type in AGGREGATIONS:
        single, pair = one[loss_type], two[loss_type]
        shares = pair["tokens_per_process"].tolist()
        assert len(shares) == 2 and (shares[0] == shares[1]) == (loss_type == "bnpo"), shares  # see the script
        torch.testing.assert_close(pair["losses"], single["losses"], rtol=1e-5, atol=1e-6)
        for step_one, step_two in zip(single["gradients"], pair["gradients"], strict=True):
            for name, gradient in step_one.items():
                torch.testing.assert_close(step_two[name], gradient, rtol=1e-4, atol=1e-5, msg=f"{loss_type} {name}")
        for row_one, row_two in zip(single["logs"], pair["logs"], strict=True):
            keys = sorted(set(row_one) - {"step_time"})
            assert [row_two[k] for k in keys] == pytest.approx([row_one[k] for k in keys], rel=1e-4, abs=1e-6), keys
        assert single["logs"][-1]["clip_ratio/region_mean"] > 0 and single["logs"][-1]["kl"] > 0


# ----------------------------------------------------------------------------------------------- the config


def test_trl_settings_reach_the_loss(tmp_path):
    args = config(tmp_path, epsilon=0.1, epsilon_high=0.3, policy_loss_params={"n": 2})
    assert args.loss_params() == {"n": 2, "eps_low": 0.1, "eps_high": 0.3}
    assert config(tmp_path, epsilon=0.1).loss_params() == {"eps_low": 0.1, "eps_high": 0.1}  # TRL's default high
    sapo = config(tmp_path, policy_loss="sapo", sapo_temperature_neg=2.0).loss_params()
    assert sapo == {"tau_pos": 1.0, "tau_neg": 2.0}
    as_json = config(tmp_path, policy_loss_params='{"m": 4}', modulation_params='{"mu_max": 1.1}')
    assert as_json.policy_loss_params == {"m": 4} and as_json.modulation_params == {"mu_max": 1.1}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"policy_loss": "dgpoo"}, "unknown policy_loss 'dgpoo'; registered losses: cegppo, cispo, dgpo"),
        ({"policy_loss_params": {"nn": 2}}, "'dgpo' has no parameter 'nn'; it accepts: n, m"),
        ({"policy_loss_params": {"eps_high": 0.3}}, r"policy_loss_params\['eps_high'\]: set TRL's `epsilon_high`"),
        ({"policy_loss_params": {"n": -3}}, "policy_loss='dgpo' rejects its parameters .* n must be >= -1"),
        ({"epsilon": 1.5}, "eps_low/eps_high are `epsilon`/`epsilon_high`.*eps_low must be in"),
        ({"policy_loss_params": "{n: 2"}, "policy_loss_params must be a dict or a JSON object string"),
        ({"modulation_params": {"mu": 2}}, "dynamo_modulate has no parameter 'mu'; it accepts: eps_low, eps_high"),
        ({"modulation_params": {"mu_max": 0.5}}, "mu_max must be >= 1"),
        ({"loss_type": "cispo"}, "set policy_loss='cispo' and loss_type in grpo, bnpo, dr_grpo, dapo, luspo"),
        ({"loss_type": "vespo"}, "grpokit has no such loss"),
        ({"importance_sampling_level": "sequence"}, "set policy_loss='gspo'"),
        ({"delta": 2.0}, "TRL's two-sided clipping is part of TRL's own loss"),
        ({"entropy_coef": 0.01}, "does not reproduce TRL's entropy bonus"),
    ],
)
def test_config_errors_name_the_setting_and_the_valid_choices(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **overrides)


def test_a_registered_loss_is_selectable_and_its_parameters_checked(tmp_path, custom_loss):
    assert config(tmp_path, policy_loss=custom_loss, policy_loss_params={"scale": 2.0}).loss_params() == {
        "scale": 2.0,
        "eps_low": 0.2,
    }
    with pytest.raises(ValueError, match=f"'{CUSTOM}' has no parameter 'eps_high'; it accepts: scale"):
        config(tmp_path, policy_loss=custom_loss, policy_loss_params={"eps_high": 0.3})


@pytest.mark.parametrize("policy_loss", [*BUILTIN_LOSSES, CUSTOM])
def test_a_loss_proportional_to_the_advantage_takes_every_token_factor(tmp_path, custom_loss, policy_loss):
    factors = {"top_entropy_quantile": 0.5, "off_policy_mask_threshold": 0.1, "use_vllm": True}
    assert config(tmp_path, policy_loss=policy_loss, **factors).policy_loss == policy_loss


def test_a_loss_that_folds_only_masks_is_refused_with_vllms_ratio(tmp_path, saturating_loss):
    # -tanh(A)·r is 0 where a mask zeroes A, but tanh(f·A) != f·tanh(A) for the vLLM importance-sampling ratio
    assert config(tmp_path, policy_loss=saturating_loss, top_entropy_quantile=0.5).policy_loss == SATURATING
    with pytest.raises(ValueError, match=rf"policy_loss='{SATURATING}': use_vllm .* proportional to A"):
        config(tmp_path, policy_loss=saturating_loss, use_vllm=True)
    assert config(tmp_path, policy_loss=saturating_loss, use_vllm=True, vllm_importance_sampling_correction=False)


@pytest.mark.parametrize("option", [{"top_entropy_quantile": 0.5}, {"off_policy_mask_threshold": 0.1}])
def test_a_loss_that_is_not_zero_at_zero_advantage_is_refused_with_trls_masks(tmp_path, penalised_loss, option):
    with pytest.raises(ValueError, match=rf"policy_loss='{PENALISED}': {next(iter(option))}=.* 0 where A = 0"):
        config(tmp_path, policy_loss=penalised_loss, **option)
    assert config(tmp_path, policy_loss=penalised_loss).policy_loss == PENALISED  # no factor: TRL's loss exactly


@pytest.mark.parametrize("continuous", [False, True], ids=["masks", "vllm-ratio"])
def test_the_folding_probe_sees_a_non_linearity_in_the_gradient_alone(continuous):
    def gradient_only(log_prob, old_log_prob, advantages, response_mask):
        """Value -A·r, but the gradient of a penalty that does not vanish with A (its value is 0)."""
        ratio = torch.exp(log_prob - old_log_prob)
        carrier = torch.exp(log_prob - log_prob.detach())
        return -advantages * ratio + 0.1 * (carrier - 1), {}

    assert folds_into_the_advantage(POLICY_LOSSES.get("dgpo"), {"n": 2.0, "m": 3.0}, continuous=continuous)
    assert not folds_into_the_advantage(gradient_only, {}, continuous=continuous)


def test_what_trl_cannot_do_is_an_error_that_points_to_verl(tmp_path):
    with pytest.raises(ValueError, match=r"fixed num_generations.*grpokit\.integrations\.verl"):
        config(tmp_path, dynamo_allocation=True)
    with pytest.raises(ValueError, match=r"use_liger_kernel=True is not supported.*grpokit\.integrations\.verl"):
        config(tmp_path, use_liger_kernel=True)


def test_the_trainer_needs_a_grpokit_config(tiny_dir, tmp_path):
    with pytest.raises(TypeError, match=r"needs a GRPOKitConfig.*got GRPOConfig"):
        GRPOKitTrainer(model=tiny_dir, reward_funcs=length_reward, args=config(tmp_path, GRPOConfig))
