"""What mixed precision costs or saves per training step on this machine: float32 vs mixed vs pure bf16.

    .venv/bin/python benchmarks/precision_cost.py                 # a random Llama of SmolLM2-135M's width, 2 layers
    .venv/bin/python benchmarks/precision_cost.py --layers 30     # SmolLM2-135M's full depth

The same forward + backward + AdamW step on the same batch, side by side in one process:

* ``float32``: float32 weights, float32 compute;
* ``mixed``: float32 master weights and AdamW state, bf16 compute under autocast (what grpokit does for bf16);
* ``pure bf16``: bf16 weights updated by AdamW directly (the old behaviour, which rounds small updates away).

Prints seconds per step and the ratio to float32, and the share of weights a lr-1e-6 step changed. On a CPU without
native bf16 (AVX2), bf16 matrix products are emulated and much slower; with AVX-512 BF16 / AMX they are faster.
"""

from __future__ import annotations

import argparse
import time

import torch

from grpokit.models import Precision, cpu_supports_bf16


def build(layers: int, dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=layers,
        num_attention_heads=9,
        num_key_value_heads=3,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).to(dtype)


def step_time(model, precision: Precision, ids: torch.Tensor, steps: int) -> tuple[float, float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    start = torch.cat([p.detach().flatten().float() for p in model.parameters()])
    times = []
    for _ in range(steps + 1):  # the first step warms up
        began = time.perf_counter()
        with precision.autocast():
            logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - began)
    end = torch.cat([p.detach().flatten().float() for p in model.parameters()])
    return sum(times[1:]) / steps, (start != end).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    ids = torch.randint(0, 49152, (args.batch, args.tokens), generator=torch.Generator().manual_seed(0))
    cpu = torch.device("cpu")
    arms = {
        "float32": (torch.float32, Precision(cpu, torch.float32)),
        "mixed (fp32 master, bf16 autocast)": (torch.float32, Precision(cpu, torch.bfloat16)),
        "pure bf16 (old)": (torch.bfloat16, Precision(cpu, torch.float32)),
    }
    print(f"CPU native bf16: {cpu_supports_bf16()}; {args.layers} layers, batch {args.batch} x {args.tokens} tokens")
    print("| precision | s/step | ratio to float32 | weights changed by one lr-1e-6 step |")
    print("| --- | --- | --- | --- |")
    reference = None
    for name, (dtype, precision) in arms.items():
        seconds, changed = step_time(build(args.layers, dtype), precision, ids, args.steps)
        reference = reference or seconds
        print(f"| {name} | {seconds:.2f} | {seconds / reference:.2f} | {100 * changed:.1f}% |")


if __name__ == "__main__":
    main()
