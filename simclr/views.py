"""The one place a recipe becomes two views.

A recipe is ``shared`` ops, applied once to each image before branching (the Figure 5 protocol's
first random crop), then ``view1`` and ``view2`` ops for the two branches. Each is a sequence of
``(name, params)`` pairs naming ops of simclr.augment; an empty sequence is the identity branch, as
in the paper's asymmetric Figure 5 protocol.
"""
import torch

from simclr.augment import Rows, augment, to_float
from simclr.ops import check_op


def apply_ops(x, ops, generator, rows: Rows | None = None, owned: bool = False):
    """The ops in turn. ``owned=True`` says nobody else reads x: every op may then write into it (so x
    must not be the caller's images or a tensor another branch uses). Otherwise the first op whose
    output has storage of its own makes the copy the later ones write into."""
    for name, params in ops:
        y = augment(x, name, generator, rows, inplace=owned, **params)
        # a view of x (a future op's transpose, say) shares its storage: still not ours to write into
        owned, x = owned or y.untyped_storage().data_ptr() != x.untyped_storage().data_ptr(), y
    return x


def _both(rows: Rows | None) -> Rows | None:
    """The rows of [batch; batch] (both views in one pass) that hold the given rows of the batch."""
    return None if rows is None else Rows(torch.cat([rows.index, rows.index + rows.total]), 2 * rows.total)


def decoded_prefix(view1, view2) -> int:
    """How many leading ops of the views' recipe the streaming loader runs while decoding (per image, on
    uint8, seeded by the image): the crop; and, for crop[, flip], autoaugment, through AutoAugment, a
    per-image policy that costs nothing extra in a decoding worker and a loop of small kernels on a GPU."""
    names = [op[0] for op in view1]
    if "autoaugment" not in names or names[0] != "crop":
        return 1
    end = names.index("autoaugment") + 1
    same = [tuple(op) for op in view1[:end]] == [tuple(op) for op in view2[:end]]
    return end if same and set(names[1:end - 1]) <= {"flip"} else 1


def two_views(images_uint8, shared, view1, view2, generator, rows: Rows | None = None):
    """(B, C, H, W) uint8 images -> two (B, C, H', W') float views in [0, 1].

    (B, k, C, H, W) input holds crops already made while decoding from the full-resolution image
    (large folders): k=2, each view's random resized crop (and what decoded_prefix says follows it), so
    each branch skips those ops; k=1, the shared crop (Figure 5's protocol), so the shared ops skip
    their first.

    rows (multi-process runs): the images are these rows of a global batch; the views are exactly
    those rows of the global batch's views (see simclr.augment.augment).
    """
    if images_uint8.ndim == 5 and images_uint8.shape[1] == 1:
        images_uint8, shared = images_uint8[:, 0], list(shared)[1:]
    elif images_uint8.ndim == 5:
        x, done = to_float(images_uint8), decoded_prefix(view1, view2)
        if list(view1[done:]) == list(view2[done:]):
            v = apply_ops(torch.cat([x[:, 0], x[:, 1]]), view1[done:], generator, _both(rows), owned=True)
            return v[: len(x)], v[len(x):]
        # x[:, 0] and x[:, 1] do not overlap: each branch owns its half
        return (apply_ops(x[:, 0], view1[done:], generator, rows, owned=True),
                apply_ops(x[:, 1], view2[done:], generator, rows, owned=True))
    x = apply_ops(to_float(images_uint8), shared, generator, rows, owned=True)
    if list(view1) == list(view2):
        # Same recipe: run it once on the doubled batch (fewer, larger kernel calls); every sample
        # still draws its own parameters, so the two halves are independent views.
        v = apply_ops(x.repeat(2, 1, 1, 1), view1, generator, _both(rows), owned=True)
        return v[: len(x)], v[len(x):]
    # both branches read x: neither may write into it
    return apply_ops(x, view1, generator, rows), apply_ops(x, view2, generator, rows)


def crop_flip_ops(crop_scale=(0.08, 1.0), interpolation="bicubic", size=None, flip=True):
    """Random resized crop + horizontal flip: the linear evaluation and fine-tuning augmentation."""
    ops = [("crop", {"scale": tuple(crop_scale), "interpolation": interpolation, "size": size})]
    return ops + [("flip", {"p": 0.5})] if flip else ops


def check_ops(ops):
    """Validate a sequence of (name, params) before any work starts; raises ValueError."""
    for op in ops:
        if not (isinstance(op, (tuple, list)) and len(op) == 2 and isinstance(op[1], dict)):
            raise ValueError(f"an op must be a (name, params dict) pair, got {op!r}")
        check_op(*op)


def config_errors(cfg, world_size: int = 1) -> list[str]:
    """The problems of the augment section: each op of each branch checked against the op table."""
    e = []
    for branch in ("shared", "view1", "view2"):
        for i, o in enumerate(getattr(cfg.augment, branch)):
            try:
                check_op(o.name, o.kwargs())
            except ValueError as err:
                e.append(f"augment.{branch}[{i}]: {err}")
    return e
