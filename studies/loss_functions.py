"""Table 4 (and Table 2): NT-Xent vs NT-Logistic vs margin triplet, with and without semi-hard negative
mining, each at its best setting of a small tuning grid (appendix B.10).

All losses on l2-normalized z, negatives from the other view only (N-1 per anchor), as the paper does
for fairness. The paper's grid: lr in {0.01, 0.1, 0.3, 0.5, 1.0} (LARS, x B/256 at batch 4096), margin
in {0, 0.4, 0.8, 1.6}, NT-Logistic temperature in {0.1, 0.2, 0.5, 1.0}; NT-Xent at the preset's
temperature. grid="full" maps those rates onto the preset's (the preset's lr stands for the paper's
0.3); grid="small" (the tiny and cpu presets' default) keeps 3 rates x 2 values: lr x {0.5, 1, 2} of
the preset's (so that the preset's rate is bracketed), margin {0.4, 0.8}, logistic temperature
{0.2, 0.5}. Each column of the table reports its best cell; choosing it on the test set follows the
paper and is said beside the table.
"""
from __future__ import annotations

from simclr.config import RunConfig, replace

from studies.presets import PRESETS, baseline

TITLE = "Table 4: loss functions (NT-Xent, NT-Logistic, margin; semi-hard mining), each tuned"
PAPER = "Table 4"
GRIDS = {
    "full": {"lr": (0.01 / 0.3, 0.1 / 0.3, 1.0, 0.5 / 0.3, 1.0 / 0.3), "margin": (0.0, 0.4, 0.8, 1.6),
             "logistic_t": (0.1, 0.2, 0.5, 1.0)},
    "small": {"lr": (0.5, 1.0, 2.0), "margin": (0.4, 0.8), "logistic_t": (0.2, 0.5)},
}
DEFAULT_GRID = {"tiny": "small", "cpu": "small", "cifar10": "full", "imagenet": "full"}
COLUMNS = ("Margin", "NT-Logi.", "Margin (sh)", "NT-Logi. (sh)", "NT-Xent")


def arms(preset: str = "tiny", data_root: str = "", grid: str = "") -> list[tuple[dict, RunConfig]]:
    grid = grid or DEFAULT_GRID[preset]
    if grid not in GRIDS:
        raise ValueError(f"--grid {grid!r}: choose small or full")
    g = GRIDS[grid]
    base = replace(baseline(preset, data_root), **{"loss.negatives": "other_view", "loss.l2_normalize": True})
    out = []
    for m in g["lr"]:
        lr = base.optim.lr * m
        out.append(({"loss": "NT-Xent", "lr": lr, "param": base.loss.temperature},
                    replace(base, **{"optim.lr": lr})))
        for semi_hard in (False, True):
            sh = " (sh)" if semi_hard else ""
            for t in g["logistic_t"]:
                out.append(({"loss": "NT-Logi." + sh, "lr": lr, "param": t}, replace(base, **{
                    "optim.lr": lr, "loss.name": "nt_logistic", "loss.temperature": t, "loss.semi_hard": semi_hard})))
            for margin in g["margin"]:
                out.append(({"loss": "Margin" + sh, "lr": lr, "param": margin}, replace(base, **{
                    "optim.lr": lr, "loss.name": "margin_triplet", "loss.margin": margin,
                    "loss.semi_hard": semi_hard})))
    return out
