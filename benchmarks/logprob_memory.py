"""Peak memory of one training forward + backward through ``token_log_probs``, logits in chunks or all at once.

    .venv/bin/python benchmarks/logprob_memory.py                       # micro-batches of 2048 and 8192 tokens
    .venv/bin/python benchmarks/logprob_memory.py --tokens 8192 --gradient-checkpointing --release-freed-memory

SmolLM2-135M-Instruct with LoRA r16, as the ALFWorld CPU preset trains it (behaviour cloning and RL): a micro-batch of
``--tokens`` tokens in rows of ``--prompt`` + ``--response`` random tokens, the response's log-probabilities and
entropies, then the backward pass of their sum. Each measurement runs in a fresh process and reports the growth of its
peak resident memory over the loaded model (``ru_maxrss``) and what autograd saved for the backward pass (the storages
its saved-tensor hooks see: the difference is memory the allocator kept), with the logits ``LOGIT_CHUNK_TOKENS`` at a
time (today) and all at once (``chunk_tokens`` larger than the micro-batch: what grpokit did before), and with
``--gradient-checkpointing`` the model's layers recomputed in the backward pass (``model.gradient_checkpointing``), with
``--release-freed-memory`` freed tensors returned to the OS at once (``model.release_freed_memory``,
``grpokit/host_memory.py``) rather than kept in glibc's heap. Only the response's logits are computed either way, so at
short responses the layers' activations, not the logits, set the peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch


def measure(
    tokens: int, prompt: int, response: int, chunk_tokens: int, dtype: str, checkpointing: bool, release: bool
) -> dict[str, float]:
    from grpokit.host_memory import release_freed_memory
    from grpokit.models import LoraSettings, Precision, load_policy
    from grpokit.rollout import token_log_probs

    if release:
        release_freed_memory()
    model, _ = load_policy("smollm2-135m-instruct", dtype=dtype, device="cpu", lora=LoraSettings(r=16))
    if checkpointing:
        model.gradient_checkpointing_enable()
    model.train()
    rows = max(tokens // (prompt + response), 1)
    ids = torch.randint(100, 40000, (rows, prompt + response), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    saved = {}  # storage -> bytes of what autograd keeps for the backward (inside a checkpoint: only its inputs)

    def keep(tensor):
        saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with Precision.resolve(dtype, "cpu").autocast(), torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        log_probs, entropy = token_log_probs(
            model, ids, mask, response, temperature=0.6, with_entropy=True, chunk_tokens=chunk_tokens
        )
    (log_probs.sum() + entropy.sum()).backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "peak_gib": (peak - loaded) / 2**20,
        "saved_gib": sum(saved.values()) / 2**30,
        "seconds": seconds,
    }


def main() -> None:
    from grpokit.rollout import LOGIT_CHUNK_TOKENS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--prompt", type=int, default=200)
    parser.add_argument("--response", type=int, default=56)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="recompute the layers in the backward")
    parser.add_argument("--release-freed-memory", action="store_true", help="freed tensors go back to the OS")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)  # tokens, chunk_tokens
    args = parser.parse_args()
    if args.child:
        tokens, chunk = args.child
        options = (args.dtype, args.gradient_checkpointing, args.release_freed_memory)
        print(json.dumps(measure(tokens, args.prompt, args.response, chunk, *options)))
        return
    layers = "layers recomputed in the backward" if args.gradient_checkpointing else "no gradient checkpointing"
    heap = "freed memory released" if args.release_freed_memory else "glibc's heap as it is"
    print(f"rows of {args.prompt} + {args.response} tokens, {args.dtype}, {layers}, {heap}; growth of peak memory")
    print(
        "| micro-batch tokens | rows | logits in chunks of 1024 tokens | all at once | saved for the backward "
        "(chunks) | seconds (chunks / at once) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for tokens in args.tokens:
        runs = []
        for chunk in (LOGIT_CHUNK_TOKENS, 10**9):
            command = [sys.executable, __file__, "--child", str(tokens), str(chunk)]
            command += ["--prompt", str(args.prompt), "--response", str(args.response), "--dtype", args.dtype]
            command += ["--gradient-checkpointing"] if args.gradient_checkpointing else []
            command += ["--release-freed-memory"] if args.release_freed_memory else []
            runs.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
        print(
            f"| {tokens} | {runs[0]['rows']} | {runs[0]['peak_gib']:.2f} GiB | {runs[1]['peak_gib']:.2f} GiB "
            f"| {runs[0]['saved_gib']:.2f} GiB | {runs[0]['seconds']:.1f} / {runs[1]['seconds']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
