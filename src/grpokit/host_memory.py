"""Hand freed tensor memory back to the operating system on Linux CPUs.

glibc's ``malloc`` serves a request of at least its *mmap threshold* with a mapping of its own, unmapped when freed,
and anything smaller from its heap, which only shrinks from the top. The threshold starts at 128 KiB and rises to the
size of every mapped block freed (up to 32 MiB), so after the first few activations of a forward pass the rest come
from the heap; there the long-lived ones (saved for the backward) sit between freed temporaries, and the heap keeps
growing. A SmolLM2 forward + backward of 2,048 tokens with gradient checkpointing saves 140 MB for the backward yet
grows the process by 2.6 GiB (``benchmarks/logprob_memory.py``). Fixing the threshold (``mallopt(M_MMAP_THRESHOLD)``,
which also stops its rise) maps every large tensor on its own and returns it when freed, at the cost of the kernel
zero-filling fresh pages on each allocation.
"""

from __future__ import annotations

import ctypes
import platform

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's <malloc.h>
RELEASE_THRESHOLD = 64 * 1024  # bytes: tensors of 16k float32 values or more get a mapping of their own


def has_glibc() -> bool:
    """Whether this process runs on glibc, whose ``mallopt`` ``release_freed_memory`` sets."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def release_freed_memory(threshold: int = RELEASE_THRESHOLD) -> None:
    """Fix glibc's mmap threshold at ``threshold`` bytes for the rest of this process."""
    if not has_glibc():
        raise RuntimeError(f"releasing freed memory needs Linux with glibc, not {platform.platform()}")
    if ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, threshold) != 1:
        raise RuntimeError(f"glibc refused an mmap threshold of {threshold} bytes")
