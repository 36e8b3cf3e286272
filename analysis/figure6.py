"""Figure 6: colour histograms of random crops. Crops of one image share its colour distribution, so
without colour distortion the two views of an image can be matched by colour statistics alone: the
shortcut that makes colour distortion necessary. No training: the data set and the views only.

python analysis/figure6.py [configs/tiny.yaml key=value ...] [--out results/figure6]

Writes figure6.{png,pdf}: per-channel histograms of crops of two images, without and with colour
distortion; and figure6.md: how often the other view of an image is its nearest neighbour by colour
histogram among n images (chance 1/n), without and with colour distortion.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from analysis import common
from simclr.checks import validate
from simclr.config import load
from simclr.engine import load_data
from simclr.ops import simclr_recipe
from simclr.views import two_views

BINS = 16


def histograms(views: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 3 * bins) per-channel histograms, each channel summing to 1."""
    idx = (views.clamp(0, 1) * (bins - 1e-6)).long().flatten(2)  # (B, 3, H*W) bin indices
    h = torch.zeros(*idx.shape[:2], bins).scatter_add_(2, idx, torch.ones_like(idx, dtype=torch.float))
    return (h / idx.shape[-1]).flatten(1)


def matching_accuracy(images: torch.Tensor, ops: list, seed: int = 0) -> float:
    """% of images whose second view is the nearest (L1 between colour histograms) of the n second
    views to their first view."""
    v1, v2 = two_views(images, [], ops, ops, torch.Generator().manual_seed(seed))
    d = torch.cdist(histograms(v1), histograms(v2), p=1)
    return 100.0 * (d.argmin(1) == torch.arange(len(images))).float().mean().item()


def recipes(cfg) -> dict[str, list]:
    """The config's crop alone, and crop + colour distortion at strength 1 (jitter p=0.8, grayscale p=0.2)."""
    crop = next(o for o in cfg.augment.view1 if o.name == "crop")
    base = [(crop.name, crop.kwargs())]
    return {"crop only": base, "crop + colour distortion": base + simclr_recipe(1.0, flip=False)[1:]}


def make(cfg, out: Path, n: int = 1000, crops: int = 4) -> list[Path]:
    images = load_data(cfg).train_images[:n]
    if not isinstance(images, torch.Tensor):
        raise SystemExit("figure6 reads in-memory data sets (not data.name=imagenet)")
    arms = recipes(cfg)
    rows = [{"views": name, f"matched among {len(images)} images (%)": f"{matching_accuracy(images, ops):.1f}",
             "chance (%)": f"{100 / len(images):.2f}"} for name, ops in arms.items()]
    fig, axes = common.figure(2, 2, size=(4.5, 3.0))
    g = torch.Generator().manual_seed(1)
    for r, (name, ops) in enumerate(arms.items()):
        for c, i in enumerate((0, 1)):
            x = images[i:i + 1].repeat(crops, 1, 1, 1)
            v, _ = two_views(x, [], ops, ops, g)
            h = histograms(v).view(crops, 3, BINS)
            ax = axes[r, c]
            for k in range(crops):
                for ch, color in enumerate("rgb"):
                    ax.plot(h[k, ch], color=color, alpha=0.6, lw=1)
            ax.set_title(f"image {i + 1}: {name}", fontsize=9)
            ax.set_xlabel("intensity bin")
    axes[0, 0].set_ylabel("fraction of pixels")
    axes[1, 0].set_ylabel("fraction of pixels")
    paths = common.save_figure(fig, out, "figure6")
    return paths + common.write_table(pd.DataFrame(rows), out, "figure6",
                                      f"Figure 6: colour histograms identify the image ({cfg.data.name} data, "
                                      f"{BINS} bins per channel, L1 nearest neighbour)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default="configs/tiny.yaml")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--out", default="results/figure6")
    ap.add_argument("--images", type=int, default=1000)
    a = ap.parse_args()
    for p in make(validate(load(a.config, a.overrides)), Path(a.out), a.images):
        print(p)
