"""One run over W processes (torchrun, SLURM tasks): the same computation as one process at batch N.

Each process holds N/W images of every global batch. Exactness comes from four pieces:
- views: every process loads only its rows of each global batch, draws the augmentation parameters
  of the whole batch from the generator all share, and applies its rows' (simclr.augment.augment);
- negatives: z is gathered from all processes with a backward that returns to each process the
  gradient of its own rows, summed over processes (gloo has no reduce-scatter, so all-reduce + slice);
- BN: statistics over the global batch of 2N views (SyncBatchNorm's job, written with autograd-aware
  all-reduces so it also runs on CPU/gloo);
- gradients: averaged over processes after backward. Every process computes the same contrastive
  loss, so each process's gradient is W times its share; the average is the full-batch gradient.
Process 0 alone writes the run directory and evaluates.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from simclr.bn import swapped_bn
from simclr.config import online_head

# train.data_parallel: ddp = DistributedDataParallel, allreduce = gradients all-reduced after backward,
# auto = ddp on GPUs where the step allows it
DATA_PARALLEL = ("auto", "ddp", "allreduce")


def world() -> tuple[int, int]:
    """(rank, world size) from the environment torchrun and submitit export."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def init(device: torch.device) -> None:
    """Join the process group of this run (no-op for one process)."""
    if world()[1] > 1 and not dist.is_initialized():
        # on GPUs, tensors go through NCCL and the small CPU flags (agree) through gloo
        dist.init_process_group("cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo")


def rows(x: torch.Tensor) -> torch.Tensor:
    """This process's share of a global batch (dim 0 split into W equal blocks)."""
    rank, size = world()
    return x.chunk(size)[rank] if size > 1 else x


class _AllReduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class _Gather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        return own_rows_of_grad(grad)


def own_rows_of_grad(grad: torch.Tensor) -> torch.Tensor:
    """The backward of gather: every process's loss depends on every row, so the gradients of the
    gathered rows are summed over processes and each keeps its own rows."""
    if world()[1] == 1:
        return grad
    dist.all_reduce(grad)
    return grad.chunk(dist.get_world_size())[dist.get_rank()]


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    return _AllReduce.apply(x) if world()[1] > 1 else x


def gather(x: torch.Tensor) -> torch.Tensor:
    """Rows of all processes, in rank order, differentiable."""
    return _Gather.apply(x) if world()[1] > 1 else x


def average_gradients(model: nn.Module) -> None:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if world()[1] == 1 or not grads:
        return
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world()[1]
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def agree(value: int) -> bool:
    """True when every process holds the same integer."""
    if world()[1] == 1:
        return True
    t = torch.tensor([value, -value], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t[0] == value and -t[1] == value)


def all_finite(value: torch.Tensor) -> bool:
    """True on every process if the value is finite on all: a step's one read of a device value (the
    flag is reduced where it lives, so several processes add no read and no host tensor)."""
    finite = torch.isfinite(value).all().to(torch.float32).reshape(1)
    if world()[1] > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite)


class _GlobalBN:
    """Training-mode statistics over the views of all processes."""

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        dims = [0] + list(range(2, x.ndim))
        xf = x.to(torch.promote_types(x.dtype, torch.float32))  # bf16/fp16 widened, float64 kept
        shape = [1, -1] + [1] * (x.ndim - 2)
        # values per channel over all processes: every process holds the same number of views (the
        # config checks that the processes divide the batch), so no collective and no tensor made
        # on the host, which on a GPU would not even be on x's device
        n = float(x.numel() // x.shape[1] * world()[1])
        mean = all_reduce(xf.sum(dims)) / n
        centred = xf - mean.view(shape)  # two passes: E[x^2] - E[x]^2 loses precision, in backward too
        var = all_reduce((centred * centred).sum(dims)) / n
        y = centred / torch.sqrt(var.view(shape) + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(shape)
        if self.bias is not None:  # absent where the BN learns a scale only
            y = y + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach() * m)
                self.running_var.mul_(1 - m).add_(var.detach() * m * n / (n - 1))
        return y.to(x.dtype)


class GlobalBatchNorm1d(_GlobalBN, nn.BatchNorm1d):
    pass


class GlobalBatchNorm2d(_GlobalBN, nn.BatchNorm2d):
    pass


def global_bn(model: nn.Module, sync: bool = False):
    """Within the block, BN layers normalise over all processes' views (no-op for one process): with
    `sync` (GPUs only) through torch's SyncBatchNorm and its fused kernels, else the layers above."""
    if sync:
        return swapped_bn(model, {nn.BatchNorm2d: nn.SyncBatchNorm, nn.BatchNorm1d: nn.SyncBatchNorm},
                          world()[1] > 1, process_group=None)
    return swapped_bn(model, {nn.BatchNorm2d: GlobalBatchNorm2d, nn.BatchNorm1d: GlobalBatchNorm1d},
                      world()[1] > 1)


def uses_ddp(cfg, device: torch.device) -> bool:
    """Whether this run's step trains under DistributedDataParallel (train.data_parallel; auto: on GPUs).
    Only the plain SimCLR step with the online head: its forward reaches every parameter, as DDP needs."""
    train = cfg.train
    if world()[1] == 1 or train.data_parallel == "allreduce":
        return False
    every_parameter = train.method == "simclr" and online_head(cfg) and not train.grad_cache_chunk
    return every_parameter and (train.data_parallel == "ddp" or device.type == "cuda")


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """model under DDP: gradients averaged over processes in buckets while backward runs, overlapping
    communication with computation (average_gradients waits for the whole backward). The averaged
    gradients are the same: every process's loss is the whole batch's (see the module's docstring)."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                   broadcast_buffers=False,  # BN statistics are global: buffers agree
                                   gradient_as_bucket_view=True)
