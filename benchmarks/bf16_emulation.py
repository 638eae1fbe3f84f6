"""bf16 matrix products at float32 speed on a CPU without native bf16, for studying bf16 runs on such a machine.

    .venv/bin/python benchmarks/bf16_emulation.py train --config configs/cpu-demo.yaml model.dtype=bfloat16

runs any ``grpokit`` command with every bf16 matrix product (``mm``, ``addmm``, ``bmm``, ``baddbmm``, forward and
backward) computed as a float32 product of its bf16 operands, rounded to bf16. That is what a native bf16 kernel
computes: the product of two bf16 numbers is exact in float32 (8 + 8 significand bits), the kernels accumulate in
float32 and round the result to bf16 once; only the order of the float32 additions differs, as it does between any
two kernels. Everything else (attention, norms, activations, autocast's casts) runs as it would.

Why: on an AVX2 CPU torch falls back to generic bf16 kernels, 7x the float32 time for ``x @ W.T`` and 60x for the
``grad @ W`` of a backward pass, so a bf16 run of the main job takes ~10 minutes a step (about 20x float32). Under
this mode it costs about twice float32. On a CPU with AVX-512 BF16 or AMX, or a GPU, run grpokit directly.
"""

from __future__ import annotations

import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
MATMULS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}


class EmulatedBF16Matmul(TorchDispatchMode):
    """Inside this mode a bf16 matrix product is computed in float32 from its bf16 operands and rounded to bf16."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in MATMULS and args[0].dtype == torch.bfloat16:
            upcast = [a.float() if isinstance(a, torch.Tensor) else a for a in args]
            return func(*upcast, **kwargs).to(torch.bfloat16)
        return func(*args, **kwargs)


def main(argv: list[str]) -> int:
    from grpokit.cli import main as grpokit_main

    with EmulatedBF16Matmul():
        return grpokit_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
