"""Keep freed host memory in the process instead of handing it back to the kernel (glibc only).

glibc serves every block above its mmap threshold (128 KiB, adapting up to 32 MiB) with its own
mmap and trims the heap's top after frees, so each training step's activations and views land on
fresh pages that the kernel must fault in and zero again. Raising both thresholds lets freed blocks
be reused: 4-7 % more images/s for the cpu preset's training step at batch 256 on 2 cores, 30 % for
a plain batch of 512 and 66 % for 2,048 (benchmarks/README). The price: freed blocks stay with the
process, which fragments them, so its peak resident memory grows: 1-5 % at batch 256, 19 % at 512,
53 % at 2,048 (0-16 % with the gradient cache). simclr.run applies it to runs on a CPU device and
hands the free memory back when the run returns (release); SIMCLR_MALLOC=system keeps glibc's
default where memory is short.
"""
from __future__ import annotations

import ctypes
import os
import platform

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
# mallopt takes an int: 2 GiB is above any tensor a step frees and allocates again; glibc before
# 2.35 refuses an mmap threshold above 32 MiB (HEAP_MAX_SIZE / 2), which still covers most of them
_THRESHOLDS = (2**31 - 1, 32 << 20)
_state = "default"


def _choice() -> str:
    choice = os.environ.get("SIMCLR_MALLOC", "keep")
    if choice not in ("keep", "system"):
        raise ValueError(f"SIMCLR_MALLOC={choice!r}: expected 'keep' (the default) or 'system'")
    return choice


def current() -> str:
    """What this process runs with, for env.json: "kept, mmap threshold N MiB", "default" (glibc's
    own), "system" (SIMCLR_MALLOC=system), "preloaded" (jemalloc or tcmalloc: left alone),
    "unsupported" (not glibc, or glibc refused). Checks SIMCLR_MALLOC on any device."""
    _choice()
    return _state


def keep_freed_memory() -> str:
    """Raise glibc's mmap and trim thresholds in this process (once); returns current()."""
    global _state
    if _state == "default":
        _state = _apply()
    return current()


def for_device(device_type: str) -> str:
    """What a run on this device does: keep freed memory where the model trains on the host (a CPU
    device), leave the allocator as it is otherwise; returns current()."""
    return keep_freed_memory() if device_type == "cpu" else current()


def release() -> None:
    """Hand the free memory back to the kernel (malloc_trim), e.g. when a run returns to a notebook
    or a worker that runs other things; the thresholds stay raised."""
    if _state.startswith("kept"):
        _libc().malloc_trim(0)


def _libc():
    libc = ctypes.CDLL(None)  # the C library this process already uses
    libc.mallopt.argtypes, libc.mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = (ctypes.c_size_t,), ctypes.c_int
    return libc


def _apply() -> str:
    if _choice() == "system":
        return "system"
    if any(name in os.environ.get("LD_PRELOAD", "") for name in ("jemalloc", "tcmalloc")):
        return "preloaded"  # their mallopt is a no-op: nothing to set
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "unsupported"
    libc = _libc()
    for threshold in _THRESHOLDS:
        if libc.mallopt(_M_MMAP_THRESHOLD, threshold):
            libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
            return f"kept, mmap threshold {threshold >> 20} MiB"
    return "unsupported"
