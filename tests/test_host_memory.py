"""release_freed_memory: large freed tensors go back to the OS instead of staying in glibc's heap."""

import subprocess
import sys

import pytest

from grpokit.config import ConfigError, TrainConfig
from grpokit.host_memory import has_glibc
from grpokit.validation import validate_config

# 64 blocks of 4 MiB, each followed by a small tensor that stays: in the heap the freed blocks are holes under live
# memory, which free() cannot trim; mapped on their own, each block is unmapped when freed
RETAINED_MIB = """
import os, sys, torch
from grpokit.host_memory import release_freed_memory
if sys.argv[1] == "release":
    release_freed_memory()
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
block = torch.ones(1 << 20); del block  # one 4 MiB block mapped and unmapped: glibc's threshold rises above it
before = resident()
blocks, kept = [], []
for _ in range(64):
    blocks.append(torch.ones(1 << 20))
    kept.append(torch.ones(1 << 10))
del blocks
print((resident() - before) / 2**20)
"""


def retained_mib(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", RETAINED_MIB, mode], capture_output=True, text=True, check=True)
    return float(done.stdout)


@pytest.mark.skipif(not has_glibc(), reason="glibc's malloc only")
def test_freed_blocks_leave_the_process_only_when_released():
    assert retained_mib("keep") > 200  # 256 MiB freed but still resident: the heap's holes
    assert retained_mib("release") < 16


def test_release_without_glibc_is_refused_by_key(monkeypatch):
    monkeypatch.setattr("grpokit.validation.has_glibc", lambda: False)
    config = TrainConfig()
    config.model.release_freed_memory = True
    with pytest.raises(ConfigError, match=r"^model\.release_freed_memory: needs Linux with glibc"):
        validate_config(config)
