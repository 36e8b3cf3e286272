"""The one place a run's device is decided: resolved once, always with an index.

Everything device-bound (the batch, the model, the augmentation generator) is made from the object
`resolve` returns. A bare torch.device("cuda") has index None, and a generator made on it reports
device "cuda" while tensors report "cuda:0", so any comparison of the two fails; an index avoids it.
"""
from __future__ import annotations

import functools
import os
import warnings

import torch


def resolve(name: str, local_rank: int | None = None) -> torch.device:
    """train.device ("auto", "cpu", "cuda", "cuda:1", "mps", ...) -> a torch.device with an index.

    "auto" is CUDA when one is visible, else the CPU. For CUDA without an index, the process takes
    GPU `local_rank` (LOCAL_RANK, set by torchrun, SLURM tasks and the launchers; 0 for one process)
    modulo the GPUs it sees: with per-task GPU binding (CUDA_VISIBLE_DEVICES of one GPU per task)
    every task sees its own GPU as cuda:0, with all GPUs of the node visible task k takes cuda:k.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"train.device={name!r} is not a device: use auto, cpu, cuda or cuda:N") from err
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name} but no CUDA device is visible; use train.device=cpu or auto")
    count = torch.cuda.device_count()
    if device.index is None:
        rank = int(os.environ.get("LOCAL_RANK", "0")) if local_rank is None else local_rank
        device = torch.device("cuda", rank % count)
    elif device.index >= count:
        raise RuntimeError(f"train.device={name} but this process sees {count} CUDA device(s)")
    return device


# The test suite's switch (tests/conftest.py sets it): on a CPU that emulates bf16, a bf16 config computes
# in fp32 and env.json says so. Its tests check behaviour, not bf16; those of bf16 itself unset it.
FP32_FOR_EMULATED_BF16 = "SIMCLR_TEST_FP32_FOR_EMULATED_BF16"
EMULATED_BF16 = ("train.precision=bf16 on a CPU that only emulates bf16 (no AVX-512 or AMX): a training step "
                 "runs about 10x slower than fp32 there (the cpu preset's: 38 against 358 images/s on 2 AVX2 "
                 "cores). The run goes on in bf16, as its config and run id say; for speed use "
                 "train.precision=auto or fp32 (another run id: a store of its own), and continue a bf16 store "
                 "on a CPU with AVX-512 or AMX")


@functools.cache
def _warn_emulated_bf16() -> None:  # once a process: a study trains many runs in one
    warnings.warn(EMULATED_BF16, stacklevel=3)


@functools.cache
def cpu_computes_bf16() -> bool:
    """Whether this CPU computes bf16 natively (oneDNN's own test: AVX-512 or AMX on x86, bf16 on Arm);
    elsewhere oneDNN emulates it, several times slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_emulates_bf16(name: str) -> bool:
    """Whether train.precision `name` on this CPU computes bf16 that oneDNN only emulates (an explicit
    bf16 where the CPU lacks it, unless the test suite asked for fp32 there)."""
    return name == "bf16" and not cpu_computes_bf16() and os.environ.get(FP32_FOR_EMULATED_BF16) != "1"


def precision(device: torch.device, name: str) -> str:
    """train.precision on `device`: "auto" is bf16 on a GPU that computes it (compute capability >= 8),
    fp16 on one that only emulates it (V100, T4: bf16 is several times slower there); on a CPU, bf16
    where it computes bf16 natively, else fp32; fp32 elsewhere. An explicit bf16 on such a GPU is
    refused: the config named it, so the fix is the user's. On a CPU that emulates bf16 an explicit bf16
    runs, with a warning: the default and the small presets name it, and a laptop must still run them."""
    if device.type == "cpu" and name in ("auto", "bf16"):
        if cpu_emulates_bf16(name):
            _warn_emulated_bf16()
            return name
        return "bf16" if cpu_computes_bf16() else "fp32"
    if device.type != "cuda" or name not in ("auto", "bf16"):
        return "fp32" if name == "auto" else name
    major, minor = torch.cuda.get_device_capability(device)
    if name == "auto":
        return "bf16" if major >= 8 else "fp16"
    if major < 8:
        raise ValueError(f"train.precision=bf16 on {torch.cuda.get_device_name(device)} (compute capability "
                         f"{major}.{minor}) is emulated, several times slower than fp16 there: use "
                         "train.precision=fp16 or auto")
    return name


def for_features(device: torch.device, nbytes: int) -> torch.device:
    """Where cached features are evaluated: on the run's GPU when they, their standardised copy and
    the probe's working memory fit in a third of its free memory (90 probe epochs over ImageNet's h
    take hours on a CPU), else on the CPU (ImageNet's 10.5 GB of h would not fit a 16 GB GPU twice)."""
    if device.type != "cuda":
        return device
    free, _ = torch.cuda.mem_get_info(device)
    return device if 3 * nbytes <= free else torch.device("cpu")


def generator(device: torch.device, seed: int) -> torch.Generator:
    """A seeded generator on `device` (the augmentation draws on the device of the batch)."""
    return torch.Generator(device=device).manual_seed(seed)


def use(device: torch.device) -> None:
    """Make `device` the current CUDA device (NCCL and cuda() calls without an index go to it)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)


def to_cpu(state: dict) -> dict:
    """A state dict with every tensor on the CPU: files written on a GPU load on any machine."""
    return {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in state.items()}
