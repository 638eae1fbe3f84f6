#!/usr/bin/env bash
# GPU smoke test of grpokit's verl plugin: two training steps of each registered piece on a random-initialised
# 2-layer Qwen2-shaped model built locally (no download), then a DynaMO resume.
#
# Hardware: one NVIDIA GPU with >= 16 GB (vLLM takes 30% of it), 8 CPU cores; a few minutes.
# Needs verl 0.9 with vLLM and grpokit installed in the same environment (`pip install -e .` registers the plugin).
# NOT RUN YET: no GPU was available when this script was written; it has only been checked for syntax.
#
#   1. DGPO policy loss (GRPO advantages)           - actor_rollout_ref.actor.policy_loss.loss_mode=dgpo, n=2
#   2. DynaMO trainer (allocation + modulation)      - trainer.v1.trainer_mode=dynamo, checkpoint at step 2
#   3. the same DynaMO run resumed to step 3         - prompt statistics restored from the step-2 checkpoint
#   4. ProxMO credit on WebShop (generated catalogue) - trainer.v1.trainer_mode=grpokit_agent + grpokit_agent loop
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-/tmp/grpokit-verl-smoke}"
PYTHON="${PYTHON:-python3}"

rm -rf "$OUT"
"$PYTHON" "$HERE/smoke_setup.py" --out "$OUT"
"$PYTHON" "$HERE/make_agent_data.py" --env webshop --out "$OUT/webshop" --train-tasks 16 --val-tasks 4

COMMON=(
    actor_rollout_ref.model.path="$OUT/model"
    actor_rollout_ref.model.use_remove_padding=True
    actor_rollout_ref.actor.optim.lr=1e-5
    actor_rollout_ref.actor.ppo_mini_batch_size=4
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8
    actor_rollout_ref.actor.use_kl_loss=False
    actor_rollout_ref.rollout.name=vllm
    actor_rollout_ref.rollout.tensor_model_parallel_size=1
    actor_rollout_ref.rollout.gpu_memory_utilization=0.3
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8
    actor_rollout_ref.rollout.agent.num_workers=2
    algorithm.use_kl_in_reward=False
    reward.custom_reward_function.path="$HERE/smoke_reward.py"
    reward.custom_reward_function.name=compute_score
    trainer.n_gpus_per_node=1
    trainer.nnodes=1
    trainer.logger='["console"]'
    trainer.val_before_train=False
    trainer.test_freq=-1
    trainer.project_name=grpokit_smoke
)
MATH=(
    data.train_files="$OUT/math/train.parquet"
    data.val_files="$OUT/math/val.parquet"
    data.train_batch_size=8
    data.max_prompt_length=64
    data.max_response_length=32
    actor_rollout_ref.rollout.n=4
)

echo "== 1. DGPO loss"
"$PYTHON" -m verl.trainer.main_ppo "${COMMON[@]}" "${MATH[@]}" \
    algorithm.adv_estimator=grpo \
    actor_rollout_ref.actor.policy_loss._target_=grpokit.integrations.verl.settings.PolicyLossConfig \
    actor_rollout_ref.actor.policy_loss.loss_mode=dgpo \
    +actor_rollout_ref.actor.policy_loss.dgpo_n=2 \
    actor_rollout_ref.actor.ppo_epochs=2 \
    trainer.experiment_name=dgpo trainer.save_freq=-1 trainer.total_training_steps=2

echo "== 2. DynaMO trainer"
DYNAMO=(
    algorithm.adv_estimator=grpo
    trainer.v1.trainer_mode=dynamo
    +grpokit.dynamo.n_min=2
    +grpokit.dynamo.n_max=6
    +grpokit.dynamo.initial_budget=2
    actor_rollout_ref.actor.clip_ratio_high=0.28
    actor_rollout_ref.actor.clip_ratio_c=10.0
    trainer.experiment_name=dynamo
    trainer.default_local_dir="$OUT/checkpoints/dynamo"
    trainer.save_freq=2
)
"$PYTHON" -m verl.trainer.main_ppo "${COMMON[@]}" "${MATH[@]}" "${DYNAMO[@]}" trainer.total_training_steps=2
test -s "$OUT/checkpoints/dynamo/global_step_2/grpokit_dynamo_prompt_stats.json"

echo "== 3. DynaMO resumed"
"$PYTHON" -m verl.trainer.main_ppo "${COMMON[@]}" "${MATH[@]}" "${DYNAMO[@]}" trainer.total_training_steps=3 \
    trainer.resume_mode=auto
test -s "$OUT/checkpoints/dynamo/global_step_3/grpokit_dynamo_prompt_stats.json"

echo "== 4. ProxMO on WebShop"
"$PYTHON" -m verl.trainer.main_ppo "${COMMON[@]}" \
    data.train_files="$OUT/webshop/train.parquet" \
    data.val_files="$OUT/webshop/val.parquet" \
    data.train_batch_size=2 \
    data.max_prompt_length=3072 \
    data.max_response_length=32 \
    actor_rollout_ref.rollout.n=4 \
    actor_rollout_ref.actor.use_dynamic_bsz=True \
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu=16384 \
    actor_rollout_ref.rollout.agent.default_agent_loop=grpokit_agent \
    algorithm.adv_estimator=proxmo \
    trainer.v1.trainer_mode=grpokit_agent \
    +grpokit.agent.env=webshop \
    +grpokit.agent.max_turns=3 \
    +grpokit.credit.variant=paper \
    trainer.experiment_name=proxmo trainer.save_freq=-1 trainer.total_training_steps=2

echo "smoke test passed: $OUT"
