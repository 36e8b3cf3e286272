"""Every test starts from the same process state, whatever the caller's shell or an earlier test left:
the same number of CPU threads (so numbers within a machine do not depend on the test order): the CI
machine's two cores shared by the pytest-xdist workers (two workers: one thread each, since OpenMP
threads that outnumber the cores spin against each other), and none of the variables that change what
a run does (fault injection, the allocator, a process group's rank and size)."""
import os

import pytest
import torch

from studies.launchers.common import cores

THREADS = max(1, min(2, cores()) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
torch.set_num_threads(THREADS)

FOREIGN = ("SIMCLR_FAULT", "SIMCLR_MALLOC", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def clean_process(monkeypatch):
    for name in FOREIGN:
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(THREADS)
