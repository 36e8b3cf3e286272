"""Figure 9 and Table B.1: batch size x training epochs, with linear and square-root lr scaling.

The paper: batch 256 to 8192 x 100 to 800 epochs, lr 0.3 x B/256 (linear) or 0.075 x sqrt(B) (sqrt).
Figure 9 and Table B.1 stop at 800 epochs (1000 is the length of the paper's best models, not a cell
of this grid), so the paper-scale grid does too.
The two rules agree at batch 4096 (0.3 x 16 = 0.075 x 64 = 4.8), so sqrt scaling gives small batches a
larger rate. Every preset keeps that: the sqrt base rate is the one that equals the linear rate at the
preset's reference batch (4096 at paper scale, the largest batch of the small presets' grid). Epochs
replace the tiny preset's fixed step count (its 400 steps at batch 256 are 20 epochs of 5,000 images).
"""
from __future__ import annotations

import math

from simclr.config import RunConfig, replace

from studies.presets import PRESETS, baseline

TITLE = "Figure 9 / Table B.1: batch size x epochs, linear vs sqrt lr scaling"
PAPER = "Figure 9"
BATCHES = {"tiny": (64, 128, 256, 512), "cpu": (128, 256, 512, 1024), "cifar10": (256, 512, 1024, 2048, 4096),
           "imagenet": (256, 512, 1024, 2048, 4096, 8192)}
EPOCHS = {"tiny": (10.0, 20.0), "cpu": (5.0, 10.0), "cifar10": (100.0, 200.0, 400.0, 800.0),
          "imagenet": (100.0, 200.0, 400.0, 800.0)}
REFERENCE_BATCH = {"tiny": 512, "cpu": 1024, "cifar10": 4096, "imagenet": 4096}


def sqrt_lr(linear_lr: float, reference_batch: int) -> float:
    """The sqrt-rule base rate that gives the linear rule's rate at the reference batch."""
    return linear_lr * reference_batch / 256 / math.sqrt(reference_batch)


def arms(preset: str = "tiny", data_root: str = "") -> list[tuple[dict, RunConfig]]:
    base = replace(baseline(preset, data_root), **{"train.steps": 0})
    rates = {"linear": base.optim.lr, "sqrt": sqrt_lr(base.optim.lr, REFERENCE_BATCH[preset])}
    out = []
    for scaling in ("linear", "sqrt"):
        for batch in BATCHES[preset]:
            for epochs in EPOCHS[preset]:
                cfg = replace(base, **{"train.batch_size": batch, "train.epochs": epochs,
                                       "optim.lr_scaling": scaling, "optim.lr": rates[scaling]})
                out.append(({"scaling": scaling, "batch": batch, "epochs": epochs}, cfg))
    return out
