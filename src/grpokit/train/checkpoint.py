"""Atomic checkpoints: a kill at any moment leaves the previous checkpoint intact.

A checkpoint is a directory ``checkpoints/step_NNNNNN`` holding ``model/`` (``save_pretrained``: the full model, or
the LoRA adapter, loadable by transformers/peft and by ``grpokit eval --model``) and ``trainer_state.pt``
(optimizer, scheduler, RNG states, prompt statistics, data position: plain data only, loaded with
``weights_only=True``). It is written under a temporary name and renamed into place; the pointer file
``checkpoints/latest`` is replaced atomically after that.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from grpokit.config import UserError

LATEST = "latest"


def _atomic_write_text(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def save_checkpoint(run_dir: Path, step: int, model, tokenizer, state: dict[str, Any], keep: int = 1) -> Path:
    """Write checkpoint ``step`` atomically, point ``latest`` at it and delete all but the newest ``keep``."""
    target = checkpoint_dir(run_dir, step)
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
    try:
        model.save_pretrained(staging / "model", safe_serialization=True)
        tokenizer.save_pretrained(staging / "model")
        torch.save(state, staging / "trainer_state.pt")
        if target.exists():  # re-saving the same step: move the old copy aside first
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _atomic_write_text(root / LATEST, target.name)
    for old in kept_checkpoints(run_dir)[: -max(keep, 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives (or would): ``checkpoints/step_NNNNNN``."""
    return run_dir / "checkpoints" / f"step_{step:06d}"


def kept_checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoint directories, oldest first (each was renamed into place whole)."""
    return sorted(p for p in (run_dir / "checkpoints").glob("step_*") if p.is_dir())


def checkpoint_step(checkpoint: Path) -> int:
    """The step a checkpoint directory ``step_NNNNNN`` was saved at."""
    return int(checkpoint.name.removeprefix("step_"))


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``latest`` points at, or ``None`` when the run has none."""
    pointer = run_dir / "checkpoints" / LATEST
    if not pointer.exists():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if (path / "trainer_state.pt").exists() else None


def load_model_weights(model, checkpoint: Path) -> None:
    """Copy a checkpoint's weights into ``model`` (a full model, or a peft model whose adapter was saved)."""
    from safetensors.torch import load_file

    directory = checkpoint / "model"
    adapter = directory / "adapter_model.safetensors"
    if adapter.exists():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(adapter))
        return
    from transformers import AutoModelForCausalLM

    saved = AutoModelForCausalLM.from_pretrained(directory, dtype=next(model.parameters()).dtype)
    model.load_state_dict(saved.state_dict())


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    """The trainer state of ``checkpoint``, read as plain data (tensors, numbers, strings, containers) only: a file
    that would build other objects, and so could run code, is refused with a ``UserError`` that names it."""
    path = checkpoint / "trainer_state.pt"
    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UserError(f"refusing to load {path}: it contains code/objects that are not plain data") from error
