"""Two training steps of ``GRPOKitTrainer`` in one or several CPU processes, for the comparison in test_trl.py.

    python -m torch.distributed.run --nproc_per_node 2 tests/integrations/trl_processes.py MODEL_DIR OUT_FILE

runs, for every ``loss_type``, two optimizer steps on a global batch of ``GLOBAL_ROWS`` completions (split evenly over
the processes, gloo backend) and saves from rank 0, with ``torch.save``: each step's loss as DDP optimises it (the mean
over processes of each process's loss), the gradient the optimizer receives, and the row TRL logged. The second step
reuses the first step's completions off-policy (``num_iterations=2``), so its ratios leave 1 and the clip metrics and
the KL term count.

Sampling is the one thing replaced: a completion is a fixed function of its prompt and of its place in the prompt's
group, so one process and two see the same global batch. The processes hold different numbers of tokens, which is
what tells a global normaliser (``dapo``'s) from a per-process one, except for ``bnpo``: TRL's ``bnpo`` is each
process's token mean, which equals the one-process value only when the processes hold as many tokens, so there a
completion's length depends on its place in the group alone.
"""

import os
import sys
from pathlib import Path

import torch
from datasets import Dataset
from transformers import TrainerCallback

from grpokit.integrations.trl import AGGREGATIONS, GRPOKitConfig, GRPOKitTrainer

GLOBAL_ROWS = 8
GROUP = 2
LENGTHS = (3, 6)  # completion tokens before the EOS, by place in the group (plus, unless bnpo, 0-4 by prompt)
EOS = 2  # the tiny tokenizer's <|im_end|>


class FixedCompletionsTrainer(GRPOKitTrainer):
    """``GRPOKitTrainer`` with deterministic completions, recording each micro-batch's loss and token count."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.losses, self.tokens = [], []

    def _generate_single_turn(self, prompt_ids, *args, **kwargs):
        completions = []
        for row, prompt in enumerate(prompt_ids):
            place = prompt_ids[:row].count(prompt)
            length = LENGTHS[place] + (0 if self.loss_type == "bnpo" else sum(prompt) % 5)
            completions.append([3 + (sum(prompt) + 37 * place + 11 * j) % 500 for j in range(length)] + [EOS])
        return completions, None

    def _compute_loss(self, model, inputs):
        loss = super()._compute_loss(model, inputs)
        self.losses.append(loss.detach())
        self.tokens.append(inputs["completion_mask"].sum())
        return loss


class GradientRecorder(TrainerCallback):
    """Copies the gradient the optimizer is about to apply (after DDP's all-reduce)."""

    def __init__(self):
        self.steps = []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.steps.append({name: p.grad.detach().clone() for name, p in model.named_parameters()})


def token_sum_reward(completion_ids, **_):
    """Rewards that differ within a group and depend on the completion only."""
    return [float(sum(ids) % 7) for ids in completion_ids]


def run(model_dir: str, out_dir: Path, loss_type: str, world_size: int) -> dict:
    args = GRPOKitConfig(
        output_dir=str(out_dir / loss_type),
        loss_type=loss_type,
        epsilon_high=0.28,
        beta=0.05,
        per_device_train_batch_size=GLOBAL_ROWS // world_size,
        num_generations=GROUP,
        num_iterations=2,
        max_steps=2,
        max_completion_length=12,  # the longest fixed completion: 6 + 4 + EOS
        optim="sgd",
        learning_rate=0.5,
        lr_scheduler_type="constant",
        max_grad_norm=0.0,  # the recorded gradient is the one applied
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=True,
        ddp_backend="gloo" if world_size > 1 else None,
        bf16=False,
        seed=0,
    )
    prompts = Dataset.from_list([{"prompt": f"What is {i} + {2 * i}?"} for i in range(GLOBAL_ROWS)])
    recorder = GradientRecorder()
    trainer = FixedCompletionsTrainer(
        model=model_dir, reward_funcs=token_sum_reward, args=args, train_dataset=prompts, callbacks=[recorder]
    )
    trainer.train()
    return {
        "losses": trainer.accelerator.reduce(torch.stack(trainer.losses), reduction="mean"),
        "gradients": recorder.steps,
        "logs": [row for row in trainer.state.log_history if "clip_ratio/region_mean" in row],
        "tokens_per_process": trainer.accelerator.gather(trainer.tokens[0][None]),
    }


def main() -> None:
    model_dir, out_file = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    results = {loss_type: run(model_dir, out_file.parent, loss_type, world_size) for loss_type in AGGREGATIONS}
    if int(os.environ.get("RANK", "0")) == 0:
        torch.save(results, out_file)


if __name__ == "__main__":
    main()
