"""The allocator setting, measured by what it is for: a freed block's pages are reused, not faulted
in again. Each case runs in a fresh interpreter (mallopt is process-wide) that loads the module by
path, without torch."""
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
block = bytearray(64 << 20); del block  # 64 MiB: far above glibc's default 128 KiB mmap threshold
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    block = bytearray(64 << 20); del block
print(state, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def probe(choice):
    env = {**os.environ, "SIMCLR_MALLOC": choice}
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    kept, system = probe("keep"), probe("system")
    state, faults = kept.stdout.split()
    assert state == "kept" and int(faults) < 1000, kept.stdout + kept.stderr
    state, faults = system.stdout.split()
    # the default allocator maps each block afresh: 16,384 pages of 4 KiB per 64 MiB, five times
    assert state == "system" and int(faults) > 5 * 10_000, system.stdout + system.stderr


def test_an_unknown_choice_is_refused_with_the_accepted_ones():
    out = probe("jemalloc")
    assert out.returncode != 0 and "SIMCLR_MALLOC='jemalloc'" in out.stderr and "'system'" in out.stderr
