"""Run a GPU preset at its real model size without downloading weights: a smoke and sizing check.

    python benchmarks/gpu_check.py --config configs/webshop-proxmo-gpu.yaml steps=1 agent.max_turns=3

A randomly initialised Llama with the named preset's dimensions (default: Qwen2.5-1.5B's — hidden 1536, 28 layers,
MLP 8960, 12 heads, 2 key/value heads) and the built-in tiny tokenizer is saved to a temporary folder and trained
with ``grpokit train`` on that preset (further ``key=value`` arguments override it). The model learns nothing; the
run shows that the preset's device, dtype, gradient checkpointing, reference model and batch sizes work together
on the machine, how long each phase of a step takes (``time/*`` in the log) and the peak GPU memory.
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from grpokit.cli import main as grpokit_main
from grpokit.models import train_tiny_tokenizer


def save_random_model(folder: str, args: argparse.Namespace) -> int:
    """A random bf16 Llama of the given size and the tiny tokenizer in ``folder``; returns its parameter count."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=32768,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--hidden", type=int, default=1536)
    parser.add_argument("--layers", type=int, default=28)
    parser.add_argument("--intermediate", type=int, default=8960)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--kv-heads", type=int, default=2)
    args, overrides = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as folder:
        parameters = save_random_model(folder, args)
        print(f"random model: {parameters / 1e9:.2f} B parameters in {folder}", flush=True)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        code = grpokit_main(["train", "--config", args.config, f"model.name={folder}", *overrides])
        if torch.cuda.is_available():
            print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
