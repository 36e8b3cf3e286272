"""The one place a run's device is decided: resolved once, always with an index.

Everything device-bound (the batch, the model, the augmentation generator) is made from the object
`resolve` returns. A bare torch.device("cuda") has index None, and a generator made on it reports
device "cuda" while tensors report "cuda:0", so any comparison of the two fails; an index avoids it.
"""
from __future__ import annotations

import os

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


def precision(device: torch.device, name: str) -> str:
    """train.precision on `device`: "auto" is bf16 on a GPU that computes it (compute capability >= 8),
    fp16 on one that only emulates it (V100, T4: bf16 is several times slower there), fp32 elsewhere.
    An explicit bf16 on such a GPU is refused: the config named it, so the fix is the user's."""
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
