"""Every test starts from the same process state, whatever the caller's shell or an earlier test left:
the same number of CPU threads (so numbers within a machine do not depend on the test order): the CI
machine's two cores shared by the pytest-xdist workers (two workers: one thread each, since OpenMP
threads that outnumber the cores spin against each other), and none of the variables that change what
a run does (fault injection, the allocator, a process group's rank and size).

On a CPU that only emulates bf16 (no AVX-512 or AMX: about 10x slower than fp32), the configs that name bf16
(the default, the tiny preset) compute in fp32 here and in every process a test starts: the tests check
behaviour, not bf16, and the suite stays within its minutes on any machine. A test of bf16 itself is
marked `real_bf16` and computes it wherever it runs."""
import os

import pytest
import torch

from simclr.device import FP32_FOR_EMULATED_BF16
from studies.launchers.common import cores

THREADS = max(1, min(2, cores()) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
torch.set_num_threads(THREADS)
os.environ[FP32_FOR_EMULATED_BF16] = "1"  # inherited by the runs, studies and cluster jobs tests start


def pytest_configure(config):
    config.addinivalue_line("markers", "real_bf16: computes bf16 even on a CPU that only emulates it")


FOREIGN = ("SIMCLR_FAULT", "SIMCLR_MALLOC", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def clean_process(monkeypatch, request):
    for name in FOREIGN:
        monkeypatch.delenv(name, raising=False)
    if request.node.get_closest_marker("real_bf16"):
        monkeypatch.delenv(FP32_FOR_EMULATED_BF16)
    yield
    torch.set_num_threads(THREADS)
