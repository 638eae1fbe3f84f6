#!/usr/bin/env bash
# DynaMO (Fang et al., arXiv 2602.19208) on Qwen2.5-Math-1.5B with verl 0.9 + grpokit's plugin: the `dynamo` trainer
# allocates each prompt's rollouts from its history and modulates the GRPO advantages token by token.
#
# Hardware: one node with 8 x 80 GB GPUs (A100/H100), as the authors' script; vLLM at 80% of GPU memory.
# NOT RUN YET: written without GPU access; only checked for shell syntax and against verl 0.9.1's configuration
# schema (see docs/verl.md, "What was tested where").
#
# Settings (specs/dynamo.md §2.3, §3.4, §4.1; GithubX-F/DynaMO-RL examples/dynamo_trainer/run_qwen2.5-math-7b.sh):
#   [script]  512 prompts x 16 rollouts = 8192 per step, per-prompt counts in [8, 24], exploration budget 4
#             (effective 8), GRPO advantages, PPO mini-batch 32 prompts (16 updates per step), lr 1e-6 with 10
#             warm-up steps, weight decay 0.1, grad clip 1, clip 0.2 / 0.28 (the released code's hidden clip-higher
#             turns the script's 0.2 into 0.28; set CLIP_HIGH=0.2 for the script's stated value), dual clip 10,
#             token-mean, no KL, entropy coefficient 0, temperature 1, DAPO reward manager (+1 / -1), test every 5,
#             save every 20, 2000 steps, dynamic batch size.
#   [code]    modulation lambda_min 0.6, mu_max 1.2, gamma 50, tau 0.99 (HEAD decay6_linearnorm).
#   [chosen]  prompt 1024 / response 3072 tokens (the script leaves them blank; Qwen2.5-Math has a 4096 context),
#             DAPO-Math-17k / AIME 2024 data (the paper's training set is not published).
#   Modulation runs on the old-log-prob pass of each step, one response at a time (grpokit.dynamo.modulation_rows=1);
#   the official code runs it per micro-batch of the update (docs/verl.md, "DynaMO").
# Data: every row needs its own extra_info.index (DynaMO's statistics are keyed by it; verl's DAPO files have one).
set -euo pipefail

MODEL="${MODEL:-Qwen/Qwen2.5-Math-1.5B}"
TRAIN_FILES="${TRAIN_FILES:-$HOME/data/dapo-math-17k.parquet}"
VAL_FILES="${VAL_FILES:-$HOME/data/aime-2024.parquet}"
NGPUS="${NGPUS:-8}"
CLIP_HIGH="${CLIP_HIGH:-0.28}"

python3 -m verl.trainer.main_ppo \
    trainer.v1.trainer_mode=dynamo \
    +grpokit.dynamo.n_min=8 \
    +grpokit.dynamo.n_max=24 \
    +grpokit.dynamo.initial_budget=4 \
    +grpokit.dynamo.rule=official \
    +grpokit.dynamo.modulate=True \
    algorithm.adv_estimator=grpo \
    algorithm.norm_adv_by_std_in_grpo=True \
    algorithm.use_kl_in_reward=False \
    data.train_files="$TRAIN_FILES" \
    data.val_files="$VAL_FILES" \
    data.train_batch_size=512 \
    data.max_prompt_length=1024 \
    data.max_response_length=3072 \
    data.filter_overlong_prompts=True \
    reward.reward_manager.name=dapo \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.model.use_remove_padding=True \
    actor_rollout_ref.model.enable_gradient_checkpointing=True \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    actor_rollout_ref.actor.optim.lr_warmup_steps=10 \
    actor_rollout_ref.actor.optim.weight_decay=0.1 \
    actor_rollout_ref.actor.ppo_mini_batch_size=32 \
    actor_rollout_ref.actor.use_dynamic_bsz=True \
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu=4096 \
    actor_rollout_ref.actor.use_kl_loss=False \
    actor_rollout_ref.actor.entropy_coeff=0 \
    actor_rollout_ref.actor.loss_agg_mode=token-mean \
    actor_rollout_ref.actor.clip_ratio_low=0.2 \
    actor_rollout_ref.actor.clip_ratio_high="$CLIP_HIGH" \
    actor_rollout_ref.actor.clip_ratio_c=10.0 \
    actor_rollout_ref.actor.policy_loss.loss_mode=vanilla \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n=16 \
    actor_rollout_ref.rollout.temperature=1.0 \
    actor_rollout_ref.rollout.tensor_model_parallel_size=1 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.8 \
    actor_rollout_ref.rollout.enable_chunked_prefill=True \
    actor_rollout_ref.rollout.val_kwargs.n=1 \
    actor_rollout_ref.rollout.val_kwargs.do_sample=True \
    actor_rollout_ref.rollout.val_kwargs.temperature=1.0 \
    trainer.logger='["console","tensorboard"]' \
    trainer.project_name=grpokit_dynamo \
    trainer.experiment_name=qwen2.5_math_1.5b_dynamo \
    trainer.n_gpus_per_node="$NGPUS" \
    trainer.nnodes=1 \
    trainer.val_before_train=True \
    trainer.test_freq=5 \
    trainer.save_freq=20 \
    trainer.total_training_steps=2000 \
    "$@"
