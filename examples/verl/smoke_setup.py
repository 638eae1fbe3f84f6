"""Build, offline, what ``examples/verl/smoke.sh`` trains: a random-initialised Qwen2-shaped model and tiny datasets.

* ``<out>/model``: ``Qwen2ForCausalLM`` with 2 layers, hidden size 256, 4 heads of 64 (a head size vLLM's attention
  kernels support), and grpokit's in-process byte-level tokenizer with a ChatML template (no download);
* ``<out>/math/{train,val}.parquet``: "What is a + b?" prompts in verl's RLHF format, each with its own
  ``extra_info.index`` (DynaMO keys its prompt statistics by it); scored by ``smoke_reward.py``.

    python examples/verl/smoke_setup.py --out /tmp/grpokit-verl-smoke
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def build_model(folder: Path) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from grpokit.models import train_tiny_tokenizer

    tokenizer = train_tiny_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="bfloat16",
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = model.generation_config.pad_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def math_rows(count: int, first: int) -> list[dict]:
    rows = []
    for i in range(first, first + count):
        a, b = (7 * i) % 50, (11 * i) % 30
        rows.append(
            {
                "data_source": "grpokit/smoke",
                "prompt": [{"role": "user", "content": f"What is {a} + {b}?"}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": str(a + b)},
                "extra_info": {"index": i},
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    build_model(args.out / "model")
    (args.out / "math").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(math_rows(64, 0)), args.out / "math" / "train.parquet")
    pq.write_table(pa.Table.from_pylist(math_rows(8, 1000)), args.out / "math" / "val.parquet")
    print(f"model and data in {args.out}")


if __name__ == "__main__":
    main()
