"""Mixed precision: in the bf16 setting every update lands on float32 master weights as in a float32 run.

The bug these tests catch: AdamW stepping bf16 weights directly, where an update of about ``lr`` per weight is
below half a bf16 unit and rounds away (at lr 1e-6 about 2% of the weights moved). The bf16 path is tested
whatever this machine's CPU picks for ``dtype: auto``.
"""

import pytest
import torch

from grpokit.agent.manager import EnvPool
from grpokit.envs import make
from grpokit.models import Precision, load_policy
from grpokit.train.behaviour_cloning import clone_expert
from grpokit.train.factory import build_trainer
from grpokit.train.trainer import TrainBatch, Trainer
from tests.helpers import ParityRoom, tiny_agent_config, tiny_config

LR = 1e-6


def flat(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten().float() for p in model.parameters()])


def update_agreement(first: torch.Tensor, second: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(first, second, dim=0).item()


def changed_share(before: torch.Tensor, after: torch.Tensor) -> float:
    return (before != after).float().mean().item()


def test_trained_weights_and_optimizer_state_are_float32_in_the_bf16_setting(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, "model.dtype=bfloat16", "steps=1", "eval.problems=2"), quiet=True)
    assert trainer.precision.compute == torch.bfloat16
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}
    trainer.train_step()
    states = [s for state in trainer.optimizer.state.values() for s in state.values() if torch.is_tensor(s)]
    assert states and all(s.dtype == torch.float32 for s in states if s.dim() > 0)


def test_lora_keeps_the_frozen_base_in_the_compute_dtype_and_the_adapters_in_float32():
    from grpokit.models import LoraSettings

    model, _ = load_policy("tiny-random", dtype="bfloat16", device="cpu", lora=LoraSettings(r=4))
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    assert {p.dtype for p in model.parameters() if not p.requires_grad} == {torch.bfloat16}


def test_autocast_runs_the_body_in_bf16_and_the_output_layer_in_float32():
    ids = torch.tensor([[1, 2, 3, 4]])
    model, _ = load_policy("tiny-random", device="cpu")
    seen = []
    model.model.layers[0].mlp.down_proj.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    with Precision.resolve("bfloat16", "cpu").autocast():
        assert model(input_ids=ids).logits.dtype == torch.float32
    assert seen == [torch.bfloat16]
    with Precision.resolve("float32", "cpu").autocast():
        assert model(input_ids=ids).logits.dtype == torch.float32
    rounded, _ = load_policy("tiny-random", device="cpu", float32_lm_head=False)
    with Precision.resolve("bfloat16", "cpu").autocast():
        assert rounded(input_ids=ids).logits.dtype == torch.bfloat16


def test_one_bf16_update_at_a_small_lr_moves_the_weights_like_float32(tmp_path):
    """Same batch, one AdamW update at lr 1e-6: the bf16-compute update agrees with the float32 one."""
    overrides = [f"lr={LR}", "mini_batches=1", "loss=ppo", "eval.problems=2"]
    reference = Trainer(tiny_config(tmp_path / "fp32", *overrides), quiet=True)
    mixed = Trainer(tiny_config(tmp_path / "bf16", "model.dtype=bfloat16", *overrides), quiet=True)
    assert torch.equal(flat(reference.model), flat(mixed.model))

    problems = reference.next_prompts(4)
    rows = [p for p in problems for _ in range(4)]
    from grpokit.rollout import generate
    from grpokit.tasks import build_messages

    rollout = generate(reference.model, reference.tokenizer, [build_messages(p) for p in rows], reference.sampling)
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5] * 4)
    start = flat(reference.model)
    for trainer in (reference, mixed):
        trainer.update(TrainBatch.from_rollout(rollout, advantages))
    fp32_update, bf16_update = flat(reference.model) - start, flat(mixed.model) - start
    got_gradient = fp32_update != 0
    assert got_gradient.float().mean() > 0.5
    assert changed_share(start[got_gradient], flat(mixed.model)[got_gradient]) > 0.999
    assert update_agreement(fp32_update, bf16_update) > 0.99


def test_an_agent_step_in_the_bf16_setting_moves_every_weight_that_got_a_gradient(tmp_path):
    trainer = build_trainer(
        tiny_agent_config(tmp_path, "model.dtype=bfloat16", f"lr={LR}", "mini_batches=1", "steps=1"), quiet=True
    )
    before = flat(trainer.model)
    metrics = trainer.train_step()
    assert metrics["train/grad_norm"] > 0
    gradient = torch.cat(
        [(torch.zeros_like(p) if p.grad is None else p.grad).flatten() for p in trainer.model.parameters()]
    )
    got_gradient = gradient != 0
    assert got_gradient.float().mean() > 0.5
    assert changed_share(before[got_gradient], flat(trainer.model)[got_gradient]) > 0.999


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_one_cloning_step_in_either_precision_matches_float32(dtype):
    """Behaviour cloning sees the same expert batch in both runs, so the updates are directly comparable."""

    def cloned(compute: str) -> tuple[torch.Tensor, torch.Tensor]:
        model, tokenizer = load_policy("tiny-random", dtype=compute, device="cpu")
        start = flat(model)
        clone_expert(
            model,
            tokenizer,
            EnvPool(lambda: make(ParityRoom.name)),
            lambda step: [step, step + 100],
            steps=1,
            lr=LR,
            max_turns=None,
            history_length=1,
            token_budget=4096,
            precision=Precision.resolve(compute, "cpu"),
        )
        return start, flat(model)

    start, fp32_end = cloned("float32")
    _, end = cloned(dtype)
    got_gradient = fp32_end != start
    assert changed_share(start[got_gradient], end[got_gradient]) > 0.999
    assert update_agreement(fp32_end - start, end - start) > 0.99


@pytest.mark.parametrize(
    ("dtype", "recompute", "on_policy"),
    [("auto", "auto", True), ("bfloat16", "auto", True), ("bfloat16", "false", False)],
)
def test_the_first_update_starts_at_ratio_one_in_either_precision(tmp_path, monkeypatch, dtype, recompute, on_policy):
    """π_old against the trainer's forward pass of the same tokens before any update: |log ratio| <= 1e-5.

    In ``auto`` (float32 on a CPU) the sampler's log-probabilities pass as they are; in bf16 KV-cache decoding rounds
    otherwise than a full forward pass, so ``auto`` recomputes π_old. The sampler's bf16 log-probabilities as π_old
    (the main job before the fix) miss the tolerance."""
    from grpokit.train import trainer as trainer_module

    log_ratios = []
    policy_loss = trainer_module.compute_policy_loss

    def spy(name, log_probs, old_log_probs, advantages, mask, **kwargs):
        log_ratios.append((log_probs.detach() - old_log_probs)[mask.bool()])
        return policy_loss(name, log_probs, old_log_probs, advantages, mask, **kwargs)

    monkeypatch.setattr(trainer_module, "compute_policy_loss", spy)
    overrides = [f"model.dtype={dtype}", f"recompute_old_log_probs={recompute}", "mini_batches=1", "eval.problems=2"]
    trainer = Trainer(tiny_config(tmp_path, *overrides), quiet=True)
    trainer.train_step()
    largest = torch.cat(log_ratios).abs().max().item()
    assert trainer.recomputes_old_log_probs == (dtype == "bfloat16" and recompute == "auto")
    assert (largest <= 1e-5) == on_policy, largest


def test_the_float32_output_layer_changes_nothing_in_float32_and_is_closer_to_it_in_bf16():
    ids = torch.tensor([[5, 9, 30, 7, 100, 42]])
    plain, _ = load_policy("tiny-random", device="cpu", float32_lm_head=False)
    model, _ = load_policy("tiny-random", device="cpu")
    reference = model(input_ids=ids).logits
    assert torch.equal(plain(input_ids=ids).logits, reference)
    with Precision.resolve("bfloat16", "cpu").autocast():
        hidden = model.model(input_ids=ids).last_hidden_state
        ours, rounded = model(input_ids=ids).logits, plain(input_ids=ids).logits
    weight = model.get_output_embeddings().weight
    assert torch.equal(ours, torch.nn.functional.linear(hidden.float(), weight.float()))
    assert (ours - reference).abs().mean() < (rounded.float() - reference).abs().mean()


def test_the_float32_output_layer_keeps_its_parameters_ties_and_copies():
    import copy

    from grpokit.models import Float32Linear, LoraSettings

    model, _ = load_policy("tiny-random", device="cpu", float32_lm_head=False)
    keys = list(model.state_dict())
    model, _ = load_policy("tiny-random", device="cpu")
    head = model.get_output_embeddings()
    assert isinstance(head, Float32Linear) and list(model.state_dict()) == keys
    assert head.weight is model.get_input_embeddings().weight  # still tied
    twin = copy.deepcopy(model)  # the frozen KL reference
    assert isinstance(twin.get_output_embeddings(), Float32Linear)
    assert twin.get_output_embeddings().weight is not head.weight
    adapted, _ = load_policy("tiny-random", dtype="bfloat16", device="cpu", lora=LoraSettings(r=4))
    assert isinstance(adapted.get_output_embeddings(), Float32Linear)  # peft leaves the output layer alone
    assert not any("lm_head" in name and "lora" in name for name, _ in adapted.named_parameters())


def test_an_output_layer_that_is_not_linear_is_refused():
    from grpokit.models import float32_output_layer

    model, _ = load_policy("tiny-random", device="cpu", float32_lm_head=False)
    model.set_output_embeddings(torch.nn.Sequential(model.get_output_embeddings()))
    with pytest.raises(TypeError, match=r"float32_lm_head needs an nn\.Linear output layer; this model has Sequential"):
        float32_output_layer(model)


@pytest.mark.parametrize("float32_lora_sum", [True, False])
def test_a_small_lora_update_reaches_a_bf16_forward_pass_only_when_added_in_float32(float32_lora_sum):
    """An adapted layer whose LoRA branch is a small fraction of its output: under bf16 autocast the layer's output
    moves by the branch when peft adds it in float32; added in bf16, to a bf16 output that sits on the bf16 grid, it
    mostly rounds away."""
    from grpokit.models import Float32OutputLinear, LoraSettings

    model, _ = load_policy(
        "tiny-random", dtype="bfloat16", device="cpu", lora=LoraSettings(r=4), float32_lora_sum=float32_lora_sum
    )
    layer = model.base_model.model.model.layers[0].mlp.down_proj
    assert isinstance(layer.base_layer, Float32OutputLinear) == float32_lora_sum
    hidden = torch.randn(16, layer.in_features, generator=torch.Generator().manual_seed(0))
    bf16 = Precision.resolve("bfloat16", "cpu")
    with torch.no_grad():
        with bf16.autocast():  # one region per pass: autocast keeps its bf16 copies of the weights until it exits
            before = layer(hidden).float()
        layer.lora_B["default"].weight.fill_(1e-4)  # B was 0: the branch is now A x summed, times 1e-4 and scaling
        with bf16.autocast():
            after = layer(hidden).float()
        with bf16.autocast():
            branch = (layer.lora_B["default"](layer.lora_A["default"](hidden)) * layer.scaling["default"]).float()
    assert branch.abs().max() < 0.01 * before.abs().max()
    moved = (after - before).abs() > 0.5 * branch.abs()
    assert (moved.float().mean() > 0.9) == float32_lora_sum, moved.float().mean()
