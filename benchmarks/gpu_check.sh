#!/usr/bin/env bash
# The GPU check of issue 38, in one call of under 10 minutes on one H100/H200:
#   1. one step of each GPU preset at full model size (benchmarks/gpu_check.py: a random Llama with Qwen2.5-1.5B's
#      dimensions, no download), bf16 compute over float32 master weights as the presets run, shortened as below;
#      time per phase and peak GPU memory;
#   2. the verl smoke run with the plugin (examples/verl/smoke.sh), when verl and vLLM are installed.
# Everything goes to $OUT (default /tmp/grpokit-gpu-check): the card, one log per check and summary.md, whose
# lines go into docs/results.md ("GPU presets at full size") with the date and the card.
#
#   bash benchmarks/gpu_check.sh            # PYTHON=... to pick the interpreter (default .venv/bin/python)
#
# GPU_CHECK_ARGS adds arguments to every preset's run; a dry run of the script on a CPU with a small model:
#   GPU_CHECK_ARGS="--hidden 64 --layers 2 --intermediate 128 --heads 2 --kv-heads 1 model.device=cpu" \
#       bash benchmarks/gpu_check.sh
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-/tmp/grpokit-gpu-check}"
PYTHON="${PYTHON:-.venv/bin/python}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.md"

card="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'no GPU')"
{
    echo "# grpokit GPU check, $(date -u +%Y-%m-%d), $card"
    echo "torch $("$PYTHON" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')," \
        "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
    echo "| check | result | time per step | peak GPU memory |"
    echo "| --- | --- | --- | --- |"
} > "$SUMMARY"

EVAL_SHORT=(eval.problems=8 eval.samples=1 eval.max_new_tokens=128 eval.batch_size=8 checkpoint_every=0)

STEP_TIME='
import json, sys
row = [json.loads(line) for line in open(sys.argv[1]) if "\"time/step_s\"" in line][-1]
phases = ", ".join(f"{k[5:-2]} {v:.1f}" for k, v in row.items() if k.startswith("time/") and k != "time/step_s")
total = row["time/step_s"]
print(f"{total:.1f} s ({phases})")'

preset() {  # name, time limit in seconds, then the gpu_check.py arguments
    local name="$1" limit="$2"
    shift 2
    local log="$OUT/$name.log" result
    timeout "$limit" "$PYTHON" benchmarks/gpu_check.py "$@" steps=1 tensorboard=false \
        run_dir="$OUT/runs/$name" "${EVAL_SHORT[@]}" ${GPU_CHECK_ARGS:-} > "$log" 2>&1
    case $? in
        0) result=ok ;;
        124) result="timed out after ${limit} s" ;;
        *) result="failed (see $name.log)" ;;
    esac
    local step memory
    step="$("$PYTHON" -c "$STEP_TIME" "$OUT/runs/$name/metrics.jsonl" 2>/dev/null)"
    memory="$(grep -o 'peak GPU memory: .*' "$log" | cut -d: -f2)"
    echo "| $name | $result | ${step:-?} | ${memory:-?} |" >> "$SUMMARY"
    echo "$name: $result"
}

MATH_SHORT=(task.name=arithmetic 'task.params={}' eval.task=arithmetic 'eval.params={}' prompts_per_step=16
    group_size=8 max_new_tokens=256 generation_batch_size=128)
preset dgpo-r1-distill-1.5b 120 --config configs/dgpo-r1-distill-1.5b-gpu.yaml "${MATH_SHORT[@]}"
preset dynamo-qwen-math-1.5b 120 --config configs/dynamo-qwen-math-1.5b-gpu.yaml "${MATH_SHORT[@]}" \
    allocation.n_max=16 mini_batches=4
AGENT_SHORT=(agent.tasks_per_step=16 group_size=8 agent.max_turns=3 max_new_tokens=64)
preset webshop-proxmo-1.5b 150 --config configs/webshop-proxmo-gpu.yaml "${AGENT_SHORT[@]}"
preset alfworld-proxmo-1.5b 150 --config configs/alfworld-proxmo-gpu.yaml "${AGENT_SHORT[@]}"

if "$PYTHON" -c 'import verl, vllm' > /dev/null 2>&1; then
    if OUT="$OUT/verl-smoke" PYTHON="$PYTHON" timeout 240 bash examples/verl/smoke.sh > "$OUT/verl-smoke.log" 2>&1; then
        result=ok
    else
        result="failed or timed out (see verl-smoke.log)"
    fi
else
    result="skipped: verl and vLLM are not both installed in $PYTHON"
fi
echo "| verl smoke (examples/verl/smoke.sh) | $result | | |" >> "$SUMMARY"
echo "verl smoke: $result"
cat "$SUMMARY"
