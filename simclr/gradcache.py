"""Gradient cache: the exact contrastive loss of a large batch at the memory of one chunk of views.

    1. embed   every chunk without a graph -> z of the whole batch (BN buffers put back afterwards)
    2. the loss on the whole batch's z, backpropagated to z only -> d loss / d z, in blocks of
       anchors (losses.py `anchors`), so memory stays O(chunk x 2N) at any batch size
    3. replay  every chunk with a graph and backpropagate (z_chunk . d loss / d z_chunk)

Step 3 gives the same parameter gradients as one backward through the whole batch, provided the
chunks see the same BN statistics in both passes: the same chunks in the same order, batch statistics
per chunk (train mode), and the running statistics updated once per step (by the replay). The only
difference from a plain large batch is thus that BN normalises each chunk on its own statistics, as
per-device BN does on k devices (appendix B.9's "global BN" ablation measures what that costs).
"""
from __future__ import annotations

import torch

from simclr import distributed
from simclr.augment import Rows


def _wide(x: torch.Tensor) -> torch.Tensor:
    """At least float32 (bf16/fp16 activations widened; float64 kept)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def chunks(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    return list(x.split(size))


def views(make_views, images: torch.Tensor, size: int, channels_last: bool, rows: Rows | None = None) -> torch.Tensor:
    """x = [view 1 of every image; view 2 of every image], augmented `size` images at a time into one
    preallocated tensor: the augmentation's temporaries stay those of a chunk (at batch 8192 a
    whole-batch augmentation needs about 1 GB on top of the views). The random draws follow the
    chunks, so views differ from a whole-batch augmentation unless size >= the batch.

    make_views(images, rows) -> (v1, v2). With `rows` (a multi-process run: `images` are these rows of
    the global batch) the chunks are the global batch's and each process augments its rows of each
    chunk, none for a chunk outside them (whose parameters it still draws, to stay in step), so the
    views are exactly those rows of a one-process run's."""
    n, out = len(images), None
    total = n if rows is None else rows.total
    for start in range(0, total, size):
        stop = min(start + size, total)
        if rows is None:
            mine, first, second, part = slice(start, stop), slice(start, stop), slice(n + start, n + stop), None
        elif rows.first is not None:  # a block: its share of the chunk is a slice, no read of the device
            lo = min(max(start, rows.first), rows.first + n) - rows.first
            hi = max(lo, min(stop, rows.first + n) - rows.first)
            part = Rows(rows.index[lo:hi] - start, stop - start, rows.first + lo - start)
            mine = first = slice(lo, hi)
            second = slice(n + lo, n + hi)
        else:
            at = ((rows.index >= start) & (rows.index < stop)).nonzero().squeeze(1)
            part = Rows(rows.index[at] - start, stop - start)
            mine = first = at.to(images.device)
            second = first + n
        v1, v2 = make_views(images[mine], part)
        if out is None:
            out = torch.empty((2 * n, *v1.shape[1:]), dtype=v1.dtype, device=v1.device,
                              memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        out[first], out[second] = v1, v2
    return out


def embed(model, forward, x: torch.Tensor, size: int, autocast) -> tuple[torch.Tensor, torch.Tensor]:
    """z (at least float32) and online-head logits of every view, chunk by chunk, without a graph. BN running
    statistics are restored so that only the replay updates them."""
    buffers = [b.detach().clone() for b in model.buffers()]
    zs, logits = [], []
    with torch.no_grad():
        for part in chunks(x, size):
            with autocast():
                _, z, out = forward(part)
            zs.append(_wide(z))
            logits.append(_wide(out))
        for b, saved in zip(model.buffers(), buffers):
            b.copy_(saved)
    return torch.cat(zs), torch.cat(logits)


def loss_and_grad(z: torch.Tensor, loss_fn, block: int, scale=lambda x: x):
    """The whole-batch loss of z (this process's views: view-1 rows, then view-2 rows) and
    d scale(loss) / d z, over blocks of `block` anchors: loss_fn(z1, z2, anchors) returns a block's
    share of the mean, so no (2N x 2N) similarity matrix is held. With several processes z is
    gathered first and the gradient comes back as gather's backward sends it.
    Returns (loss, d scale(loss) / d z, the gathered (z1, z2) for the step's metrics)."""
    z1, z2 = z.detach().chunk(2)
    with torch.no_grad():
        z1, z2 = distributed.gather(z1), distributed.gather(z2)
    z1, z2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    total, parts = 2 * len(z1), []
    for start in range(0, total, block):
        part = loss_fn(z1, z2, slice(start, min(start + block, total)))
        scale(part).backward()
        parts.append(part.detach())
    loss = torch.stack(parts).sum()
    grad = torch.cat([distributed.own_rows_of_grad(z1.grad), distributed.own_rows_of_grad(z2.grad)])
    return loss, grad, (z1.detach(), z2.detach())


def replay(forward, x: torch.Tensor, size: int, autocast, z_grad: torch.Tensor, extra_loss=None) -> None:
    """Re-forward every chunk with a graph and accumulate the parameter gradients of the whole-batch
    loss: backward of sum(z * d loss/d z) per chunk. extra_loss(logits, rows) adds a per-view loss term
    (the online head's, already divided by the batch) for the chunk's rows."""
    start = 0
    for part, grad in zip(chunks(x, size), chunks(z_grad, size)):
        with autocast():
            _, z, logits = forward(part)
        surrogate = (_wide(z) * grad).sum()
        if extra_loss is not None:
            surrogate = surrogate + extra_loss(_wide(logits), slice(start, start + len(part)))
        surrogate.backward()
        start += len(part)
