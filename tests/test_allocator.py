"""The allocator setting, measured by what it is for: a freed block's pages are reused, not faulted
in again, and handed back to the kernel by release(). Each case runs in a fresh interpreter
(mallopt is process-wide) that loads the module by path, without torch, in an environment without
the caller's allocator settings."""
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parent.parent / "simclr" / "allocator.py"
PROBE = f"""
import importlib.util, resource
spec = importlib.util.spec_from_file_location("allocator", {str(MODULE)!r})
allocator = importlib.util.module_from_spec(spec); spec.loader.exec_module(allocator)
state = allocator.keep_freed_memory()
resident = lambda: int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
block = bytearray(64 << 20); del block  # 64 MiB: glibc's default maps it afresh every time
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    block = bytearray(64 << 20); del block
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
held = resident()
allocator.release()
print(state, "|", faults, held - resident())
"""


def probe(choice):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "LD_PRELOAD")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**env, "SIMCLR_MALLOC": choice},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    state, numbers = out.stdout.split("|")
    faults, released = map(int, numbers.split())
    return state.strip(), faults, released


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_memory_is_reused_instead_of_faulted_in_again_and_released_on_request():
    (kept, kept_faults, released), (system, system_faults, _) = probe("keep"), probe("system")
    assert kept.startswith("kept, mmap threshold") and system == "system"
    if kept.endswith(" 32 MiB"):
        pytest.skip("glibc < 2.35 caps the mmap threshold at 32 MiB, below this probe's 64 MiB block")
    # the default maps each block afresh: 16,384 pages of 4 KiB per 64 MiB, five times (fewer with
    # transparent huge pages or larger pages, hence a relative bound)
    assert system_faults > 5 * (kept_faults + 10), (system_faults, kept_faults)
    assert released >= 63 << 20  # the kept 64 MiB block went back to the kernel


def test_an_unknown_choice_is_refused_with_the_accepted_ones():
    env = {**os.environ, "SIMCLR_MALLOC": "jemalloc"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "SIMCLR_MALLOC='jemalloc'" in out.stderr and "'system'" in out.stderr
