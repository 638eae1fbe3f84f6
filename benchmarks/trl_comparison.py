"""Steps per second of grpokit's trainer and TRL's ``GRPOTrainer`` on the same model, task, batch and lengths.

    pip install -e '.[trl]'      # TRL (and datasets) are a benchmark-only extra
    .venv/bin/python benchmarks/trl_comparison.py --model tiny-random
    .venv/bin/python benchmarks/trl_comparison.py --model smollm2-135m-instruct --steps 3

One step is one rollout batch (``--prompts`` × ``--group`` completions of at most ``--tokens`` tokens at temperature
1) followed by one optimizer update on it, in float32 on the CPU, without KL term, for both. The first step of each
is a warm-up and not timed; the two run one after the other in this process, and the ratio is reported.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from grpokit.config import load_config
from grpokit.models import SMOLLM2, TINY, smollm2_directory, tiny_policy
from grpokit.tasks import build_messages, make_task, score_answer
from grpokit.train.trainer import Trainer

TASK = {"digits": 2, "min_digits": 1, "operations": "+"}


def model_directory(name: str, scratch: Path) -> str:
    """A saved model directory (TRL loads models by path)."""
    if name == SMOLLM2:
        return str(smollm2_directory())
    if name == TINY:
        model, tokenizer = tiny_policy()
        model.save_pretrained(scratch / "tiny")
        tokenizer.save_pretrained(scratch / "tiny")
        return str(scratch / "tiny")
    return name


def time_grpokit(model_dir: str, args, scratch: Path) -> float:
    config = load_config(
        None,
        [
            f"model.name={model_dir}",
            "model.dtype=float32",
            "model.device=cpu",
            "task.params=" + str(TASK).replace("'", '"'),
            f"prompts_per_step={args.prompts}",
            f"group_size={args.group}",
            f"max_new_tokens={args.tokens}",
            "temperature=1.0",
            "mini_batches=1",
            "recompute_old_log_probs=false",
            "micro_batch_tokens=100000",
            "tensorboard=false",
            f"run_dir={scratch / 'grpokit-run'}",
        ],
    )
    trainer = Trainer(config, quiet=True)
    trainer.train_step()  # warm-up
    start = time.perf_counter()
    for _ in range(args.steps):
        trainer.train_step()
    return args.steps / (time.perf_counter() - start)


def time_trl(model_dir: str, args, scratch: Path) -> float:
    try:
        from datasets import Dataset
        from transformers import TrainerCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:
        raise SystemExit("TRL is a benchmark-only extra: pip install -e '.[trl]'") from None

    problems = make_task("arithmetic", **TASK).problems("train", 256, seed=0)
    dataset = Dataset.from_list([{"prompt": build_messages(p), "answer": p.answer} for p in problems])

    def reward(completions, answer, **_):
        return [score_answer(c[0]["content"], a).reward for c, a in zip(completions, answer, strict=True)]

    class StepClock(TrainerCallback):
        def __init__(self):
            self.times = []

        def on_step_end(self, *_, **__):
            self.times.append(time.perf_counter())

    clock = StepClock()
    config = GRPOConfig(
        output_dir=str(scratch / "trl-run"),
        per_device_train_batch_size=args.prompts * args.group,
        num_generations=args.group,
        max_completion_length=args.tokens,
        temperature=1.0,
        learning_rate=1e-5,
        beta=0.0,
        max_steps=args.steps + 1,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    trainer = GRPOTrainer(model=model_dir, reward_funcs=reward, args=config, train_dataset=dataset, callbacks=[clock])
    trainer.train()
    return args.steps / (clock.times[-1] - clock.times[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=TINY)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        model_dir = model_directory(args.model, scratch)
        ours = time_grpokit(model_dir, args, scratch)
        theirs = time_trl(model_dir, args, scratch)
    print(
        f"{args.model}: {args.prompts} prompts x {args.group} completions, <= {args.tokens} tokens, {args.steps} steps"
    )
    print(f"  grpokit  {ours:.3f} steps/s")
    print(f"  TRL      {theirs:.3f} steps/s")
    print(f"  ratio    {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
