"""Every test starts from the same process state, whatever the caller's shell or an earlier test left:
the same number of CPU threads (so numbers within a machine do not depend on the test order; two, the
CI machine's cores), and none of the variables that change what a run does (fault injection, the
allocator, a process group's rank and size)."""
import pytest
import torch

from studies.launch import cores

THREADS = min(2, cores())
torch.set_num_threads(THREADS)

FOREIGN = ("SIMCLR_FAULT", "SIMCLR_MALLOC", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def clean_process(monkeypatch):
    for name in FOREIGN:
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(THREADS)
