#!/usr/bin/env bash
# ProxMO (Fang et al., arXiv 2602.19225) on ALFWorld with Qwen2.5-1.5B-Instruct, verl 0.9 + grpokit's plugin: the
# `grpokit_agent` agent loop plays grpokit's ALFWorld (one training row per turn, with its anchor observation) and the
# `grpokit_agent` trainer gives the `proxmo` estimator each row's trajectory, step, anchor and step reward.
#
# Hardware: one node with 8 x 80 GB GPUs (A100/H100), as the authors' runs; vLLM tensor parallel 2 at 80% memory;
# the environments run on the CPU (about 128 ALFWorld games at once: 16+ cores recommended).
# NOT RUN YET: written without GPU access; only checked for shell syntax and against verl 0.9.1's configuration
# schema (see docs/verl.md, "What was tested where").
#
# Settings (specs/proxmo.md §9, §10; GithubX-F/ProxMO-RL examples/proxmo_trainer/run_alfworld.sh; paper App. B.1):
#   [paper]   16 tasks x 8 episodes per iteration, 150 iterations, alpha 4, beta 0.1, tau 0.1, gamma 0.95,
#             omega (step weight) 1, lr 1e-6, clip 0.2 (dual clip 3), GRPO-style group of 8.
#   [script]  50 turns per episode, prompt 2048 / response 512 tokens, history of 2 steps, PPO mini-batch 256 rows,
#             1 PPO epoch, KL loss low_var_kl 0.01, entropy coefficient 0.001, no KL in reward, invalid-answer
#             penalty 0.1, success reward 10, validation every 5 iterations at temperature 0.4 on 128 tasks, no
#             validation before training.
#   grpokit.credit.variant=paper follows the paper's formulas; variant=official reproduces the released code
#   (row-level episode term without std, beta 0.2164, all-steps comparison set) - specs/proxmo.md §3.3, §13.
# Data: python examples/verl/make_agent_data.py --env alfworld --out $DATA (one row per task seed). grpokit's ALFWorld
# plays the official games when $ALFWORLD_DATA/json_2.1.1 exists (alfworld-download), else games it generates.
# Validation rows use the unseen split (eval_out_of_distribution), as the paper reports.
set -euo pipefail

MODEL="${MODEL:-Qwen/Qwen2.5-1.5B-Instruct}"
DATA="${DATA:-$HOME/data/grpokit-alfworld}"
NGPUS="${NGPUS:-8}"
VARIANT="${VARIANT:-paper}"

python3 -m verl.trainer.main_ppo \
    trainer.v1.trainer_mode=grpokit_agent \
    algorithm.adv_estimator=proxmo \
    algorithm.use_kl_in_reward=False \
    +grpokit.credit.variant="$VARIANT" \
    +grpokit.credit.gamma=0.95 \
    +grpokit.credit.tau=0.1 \
    +grpokit.credit.alpha=4.0 \
    +grpokit.credit.step_weight=1.0 \
    +grpokit.credit.invalid_penalty=0.1 \
    +grpokit.agent.env=alfworld \
    +grpokit.agent.env_params.expert=False \
    +grpokit.agent.max_turns=50 \
    +grpokit.agent.history_length=2 \
    +grpokit.agent.reward_scale=10.0 \
    actor_rollout_ref.rollout.agent.default_agent_loop=grpokit_agent \
    data.train_files="$DATA/train.parquet" \
    data.val_files="$DATA/val.parquet" \
    data.train_batch_size=16 \
    data.max_prompt_length=2048 \
    data.max_response_length=512 \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.model.use_remove_padding=True \
    actor_rollout_ref.model.enable_gradient_checkpointing=True \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    actor_rollout_ref.actor.ppo_mini_batch_size=32 \
    actor_rollout_ref.actor.ppo_epochs=1 \
    actor_rollout_ref.actor.use_dynamic_bsz=True \
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu=32768 \
    actor_rollout_ref.actor.use_kl_loss=True \
    actor_rollout_ref.actor.kl_loss_coef=0.01 \
    actor_rollout_ref.actor.kl_loss_type=low_var_kl \
    actor_rollout_ref.actor.entropy_coeff=0.001 \
    actor_rollout_ref.actor.clip_ratio_low=0.2 \
    actor_rollout_ref.actor.clip_ratio_high=0.2 \
    actor_rollout_ref.actor.clip_ratio_c=3.0 \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n=8 \
    actor_rollout_ref.rollout.temperature=1.0 \
    actor_rollout_ref.rollout.tensor_model_parallel_size=2 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.8 \
    actor_rollout_ref.rollout.val_kwargs.n=1 \
    actor_rollout_ref.rollout.val_kwargs.do_sample=True \
    actor_rollout_ref.rollout.val_kwargs.temperature=0.4 \
    trainer.logger='["console","tensorboard"]' \
    trainer.project_name=grpokit_proxmo \
    trainer.experiment_name=alfworld_qwen2.5_1.5b_proxmo_"$VARIANT" \
    trainer.n_gpus_per_node="$NGPUS" \
    trainer.nnodes=1 \
    trainer.val_before_train=False \
    trainer.test_freq=5 \
    trainer.save_freq=50 \
    trainer.total_training_steps=150 \
    "$@"
