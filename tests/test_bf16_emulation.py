"""benchmarks/bf16_emulation.py: a bf16 product computed as a native bf16 kernel computes it, forward and backward."""

import contextlib

import torch

from grpokit.models import Precision, load_policy
from tests.helpers import load_benchmark

emulation = load_benchmark("bf16_emulation")


def test_a_product_is_the_float32_product_of_the_bf16_operands_rounded_once():
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(48, 96, generator=generator).bfloat16() for _ in range(2))
    bias = torch.randn(48, generator=generator).bfloat16()
    native = a @ b.T
    with emulation.EmulatedBF16Matmul():
        emulated, with_bias = a @ b.T, torch.addmm(bias, a, b.T)
        unchanged = a.float() @ b.float().T  # float32 products are left alone
    assert emulated.dtype == with_bias.dtype == torch.bfloat16 and unchanged.dtype == torch.float32
    assert torch.equal(emulated, (a.float() @ b.float().T).bfloat16())
    assert torch.equal(with_bias, torch.addmm(bias.float(), a.float(), b.float().T).bfloat16())
    # a native kernel adds in another order: a few results round to the neighbouring bf16 value
    assert (emulated != native).float().mean() < 0.01
    torch.testing.assert_close(emulated, native, atol=0, rtol=2**-7)


def test_a_bf16_training_pass_gives_the_native_gradient():
    model, _ = load_policy("tiny-random", device="cpu")
    ids = torch.tensor([[5, 9, 30, 7, 100, 42, 3, 17]])
    gradients = []
    for mode in (emulation.EmulatedBF16Matmul(), contextlib.nullcontext()):  # emulated, then torch's kernels
        model.zero_grad()
        with mode, Precision.resolve("bfloat16", "cpu").autocast():
            loss = model(input_ids=ids, labels=ids).loss
        with mode:
            loss.backward()
        gradients.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.nn.functional.cosine_similarity(*gradients, dim=0) > 0.999
