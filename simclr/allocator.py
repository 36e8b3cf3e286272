"""Keep freed host memory in the process instead of handing it back to the kernel (glibc only).

By default glibc serves every block above 128 KiB with its own mmap and trims the heap's top after
frees, so each training step's activations and views land on fresh pages that the kernel must fault
in and zero again. Raising both thresholds lets freed blocks be reused: 4-7 % more images/s for the
cpu preset's training step at batch 256 on 2 cores, 30 % at batch 512 and 66 % at batch 2,048
(benchmarks/README). The price: freed blocks stay with the process, which fragments them, so its peak
resident memory grows: 2-5 % at batch 256, 19 % at 512, 53 % at 2,048 (0-16 % with the gradient
cache). Runs on a CPU device apply it; SIMCLR_MALLOC=system keeps glibc's default where memory is
short (or beside jemalloc/tcmalloc).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
_LIMIT = 2**31 - 1  # mallopt takes an int: 2 GiB, above any tensor a step frees and reallocates
_state: str | None = None


def keep_freed_memory() -> str:
    """Apply once per process; returns what the process runs with, for env.json: "kept" (thresholds
    raised), "system" (opted out by SIMCLR_MALLOC=system) or "unsupported" (not glibc)."""
    global _state
    if _state is None:
        _state = _apply()
    return _state


def _apply() -> str:
    choice = os.environ.get("SIMCLR_MALLOC", "keep")
    if choice not in ("keep", "system"):
        raise ValueError(f"SIMCLR_MALLOC={choice!r}: expected 'keep' (the default) or 'system'")
    if choice == "system":
        return "system"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "unsupported"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    ok = libc.mallopt(_M_MMAP_THRESHOLD, _LIMIT) and libc.mallopt(_M_TRIM_THRESHOLD, _LIMIT)
    return "kept" if ok else "unsupported"
