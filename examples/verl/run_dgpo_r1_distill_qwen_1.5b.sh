#!/usr/bin/env bash
# DGPO (Fu et al., arXiv 2603.14389) on DeepSeek-R1-Distill-Qwen-1.5B, math RL, with verl 0.9 + grpokit's plugin.
#
# Hardware: one node with 8 x 80 GB GPUs (A100/H100), as the authors' example script; vLLM tensor parallel 2.
# NOT RUN YET: written without GPU access; only checked for shell syntax and against verl 0.9.1's configuration
# schema (see docs/verl.md, "What was tested where").
#
# What is the paper's and what is not (specs/dgpo.md §3.5, §5.5, §8):
#   [paper/code] DGPO n=1, m=2, eps_low = eps_high = 0.2, token-mean, GRPO advantages (std-normalised), no KL loss,
#                no KL in reward, entropy coefficient 0, no dual clip (DGPO ignores clip_ratio_c).
#   [script]     batch 1024 prompts, PPO mini-batch 256 (4 updates per step, the off-policy regime where DGPO's
#                decay acts), 5 rollouts per prompt, lr 4.63e-7, vLLM TP 2 at 60% memory, 15 epochs, test every 5,
#                save every 20 (FlyTune/DGPO-RL examples/dgpo_trainer/run_deepseek-r1-distill-qwen-7b.sh).
#   [inferred]   DAPO-Math-17k for training and AIME 2024 for validation (the authors' sibling MASPO paper); the
#                paper's training set, rollout count, lengths, learning rate and steps are not published.
#   [chosen]     prompt 1024 / response 8192 tokens (the script's 1024-token responses truncate an R1-distill model);
#                dynamic batch size instead of 32 sequences per GPU at that length.
# Data: verl's DAPO files (verl recipe/dapo/prepare_dapo_data.sh): data_source "math_dapo", scored +1/-1 by verl's
# math_dapo scorer.
set -euo pipefail

MODEL="${MODEL:-deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B}"
TRAIN_FILES="${TRAIN_FILES:-$HOME/data/dapo-math-17k.parquet}"
VAL_FILES="${VAL_FILES:-$HOME/data/aime-2024.parquet}"
NGPUS="${NGPUS:-8}"
DGPO_N="${DGPO_N:-1}"   # the DGPO authors' README suggests n=2 for 1.5B models if more exploration is wanted
DGPO_M="${DGPO_M:-2}"

python3 -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    algorithm.norm_adv_by_std_in_grpo=True \
    algorithm.use_kl_in_reward=False \
    data.train_files="$TRAIN_FILES" \
    data.val_files="$VAL_FILES" \
    data.train_batch_size=1024 \
    data.max_prompt_length=1024 \
    data.max_response_length=8192 \
    data.filter_overlong_prompts=True \
    data.truncation=error \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.model.use_remove_padding=True \
    actor_rollout_ref.model.enable_gradient_checkpointing=True \
    actor_rollout_ref.actor.optim.lr=4.63e-7 \
    actor_rollout_ref.actor.ppo_mini_batch_size=256 \
    actor_rollout_ref.actor.use_dynamic_bsz=True \
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu=24576 \
    actor_rollout_ref.actor.use_kl_loss=False \
    actor_rollout_ref.actor.entropy_coeff=0 \
    actor_rollout_ref.actor.loss_agg_mode=token-mean \
    actor_rollout_ref.actor.clip_ratio_low=0.2 \
    actor_rollout_ref.actor.clip_ratio_high=0.2 \
    actor_rollout_ref.actor.policy_loss._target_=grpokit.integrations.verl.settings.PolicyLossConfig \
    actor_rollout_ref.actor.policy_loss.loss_mode=dgpo \
    +actor_rollout_ref.actor.policy_loss.dgpo_n="$DGPO_N" \
    +actor_rollout_ref.actor.policy_loss.dgpo_m="$DGPO_M" \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n=5 \
    actor_rollout_ref.rollout.tensor_model_parallel_size=2 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \
    actor_rollout_ref.rollout.val_kwargs.n=8 \
    actor_rollout_ref.rollout.val_kwargs.do_sample=True \
    actor_rollout_ref.rollout.val_kwargs.temperature=0.6 \
    actor_rollout_ref.rollout.val_kwargs.top_p=0.95 \
    trainer.logger='["console","tensorboard"]' \
    trainer.project_name=grpokit_dgpo \
    trainer.experiment_name=r1_distill_qwen_1.5b_dgpo_n"$DGPO_N"_m"$DGPO_M" \
    trainer.n_gpus_per_node="$NGPUS" \
    trainer.nnodes=1 \
    trainer.total_epochs=15 \
    trainer.test_freq=5 \
    trainer.save_freq=20 \
    "$@"
