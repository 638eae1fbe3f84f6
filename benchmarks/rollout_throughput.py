"""Generated tokens per second: grpokit's rollout engine against transformers' ``generate``, side by side.

    .venv/bin/python benchmarks/rollout_throughput.py [--model smollm2-135m-instruct] [--batch 32] [--tokens 48]

Both sample the same prompts with the same model, batch and length limit (greedy, so both produce the same tokens),
alternating for ``--repeats`` rounds; the best time of each is reported with the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch

from grpokit.models import load_policy
from grpokit.rollout import SamplingParams, encode_prompts, generate
from grpokit.tasks import build_messages, make_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model, tokenizer = load_policy(args.model, device="cpu")
    model.eval()
    task = make_task("arithmetic", digits=2, min_digits=1, operations="+")
    conversations = [build_messages(p) for p in task.problems("test", args.batch, seed=0)]
    ids, mask = encode_prompts(tokenizer, conversations)
    params = SamplingParams(0.0, 1.0, args.tokens)

    ours_times, theirs_times = [], []
    tokens = 0
    for _ in range(args.repeats):
        start = time.perf_counter()
        rollout = generate(model, tokenizer, conversations, params, batch_size=args.batch)
        ours_times.append(time.perf_counter() - start)
        tokens = int(rollout.response_mask.sum())
        start = time.perf_counter()
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=args.tokens, do_sample=False)
        theirs_times.append(time.perf_counter() - start)
    ours, theirs = min(ours_times), min(theirs_times)
    print(f"{args.model}, batch {args.batch}, up to {args.tokens} new tokens, {tokens} tokens generated")
    print(f"  grpokit rollout        {tokens / ours:7.1f} tok/s ({ours:.2f} s)")
    print(f"  transformers generate  {tokens / theirs:7.1f} tok/s ({theirs:.2f} s)")
    print(f"  ratio                  {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
