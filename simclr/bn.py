"""Per-device BN emulated in one process: the appendix's global BN vs per-device BN ablation.

With data parallelism and per-device BN, each device normalises its own images' two views with its
own batch statistics, which lets the positive pair find each other through them (the paper's reason
for global BN). `grouped_bn(model, k)` reproduces that in one process: during pretraining every BN
layer computes its statistics over k groups of the 2N-view batch [view 1 of images 0..N-1, view 2 of
images 0..N-1], group g holding both views of images g*N/k .. (g+1)*N/k - 1, as device g would.
Parameters, buffers and state_dict are unchanged, so checkpoints and evaluation are unaffected.
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn


def _grouped(x: torch.Tensor, k: int):
    """(2N, C, ...) -> (k, 2N/k, C, ...): both views of each image block together."""
    two_n = x.shape[0]
    return x.reshape(2, k, two_n // (2 * k), *x.shape[1:]).transpose(0, 1).reshape(k, two_n // k, *x.shape[1:])


def _ungrouped(y: torch.Tensor, k: int):
    two_n = y.shape[0] * y.shape[1]
    return y.reshape(k, 2, two_n // (2 * k), *y.shape[2:]).transpose(0, 1).reshape(two_n, *y.shape[2:])


class _GroupedBN:
    """Forward of a BatchNorm{1,2}d whose training-mode statistics are per group."""
    groups = 1

    def forward(self, x):
        k = self.groups
        if not self.training or k == 1:
            return super().forward(x)
        if x.shape[0] % (2 * k):
            raise ValueError(f"per-device BN over {k} groups needs a batch of views divisible by {2 * k}")
        g = _grouped(x, k)  # (k, 2N/k, C, ...)
        dims = [1] + list(range(3, g.ndim))
        mean = g.float().mean(dims, keepdim=True)
        var = g.float().var(dims, unbiased=False, keepdim=True)
        y = ((g.float() - mean) / torch.sqrt(var + self.eps)).to(x.dtype)
        shape = [1, 1, -1] + [1] * (g.ndim - 3)
        if self.weight is not None:
            y = y * self.weight.view(shape).to(y.dtype)
        if self.bias is not None:  # absent where the BN learns a scale only
            y = y + self.bias.view(shape).to(y.dtype)
        if self.track_running_stats:  # as one device's BN would, averaged over the groups
            with torch.no_grad():
                n = g.shape[1] * math.prod(g.shape[3:])  # values per channel in one group
                self.num_batches_tracked += 1
                # momentum None: the cumulative average, as nn.BatchNorm does
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.flatten(1).mean(0).flatten() * m)
                self.running_var.mul_(1 - m).add_(var.flatten(1).mean(0).flatten() * m * n / max(1, n - 1))
        return _ungrouped(y, k)


class GroupedBatchNorm1d(_GroupedBN, nn.BatchNorm1d):
    pass


class GroupedBatchNorm2d(_GroupedBN, nn.BatchNorm2d):
    pass


@contextlib.contextmanager
def swapped_bn(model: nn.Module, classes: dict, enabled: bool = True, **attributes):
    """Within the block, BN layers of model take the forward of `classes[type(layer)]` (same
    parameters, buffers and state_dict), with `attributes` set on them; restored on exit."""
    swapped = []
    if enabled:
        for m in model.modules():
            if type(m) in classes:
                swapped.append((m, type(m)))
                m.__class__ = classes[type(m)]
                for k, v in attributes.items():
                    setattr(m, k, v)
    try:
        yield model
    finally:
        for m, plain in swapped:
            m.__class__ = plain
            for k in attributes:
                delattr(m, k)


def grouped_bn(model: nn.Module, groups: int):
    """Within the block, every BN layer of model normalises over `groups` groups (1: global BN)."""
    return swapped_bn(model, {nn.BatchNorm2d: GroupedBatchNorm2d, nn.BatchNorm1d: GroupedBatchNorm1d},
                      groups > 1, groups=groups)
