"""Table 1: colour distortion strength, SimCLR (linear evaluation) and the supervised baseline trained
with the same augmentation.

Columns: colour strength s in {1/8, 1/4, 1/2, 1}, s = 1 plus Gaussian blur, and AutoAugment. Every
column keeps the preset's crop and flip; s changes the jitter (brightness, contrast, saturation 0.8s,
hue 0.2s, p=0.8) and grayscale (p=0.2) stays. Choices the paper leaves open:
- the strength columns have no blur, also at the imagenet preset whose baseline has it;
- AutoAugment replaces colour jitter + grayscale: crop, flip, then torchvision's AutoAugment policy
  (ImageNet policy at the imagenet preset, the CIFAR-10 policy at the 32-pixel presets);
- the supervised baseline is the preset's SGD recipe (studies/presets.py SUPERVISED), its accuracy that
  of its own classifier (supervised_acc).
"""
from __future__ import annotations

from simclr.config import RunConfig, op

from studies.presets import PRESETS, baseline, crop_scale, recipe, supervised, with_recipe

TITLE = "Table 1: colour distortion strength, SimCLR vs supervised"
PAPER = "Table 1"
COLUMNS = ("1/8", "1/4", "1/2", "1", "1 (+Blur)", "AutoAug")
STRENGTHS = {"1/8": 0.125, "1/4": 0.25, "1/2": 0.5, "1": 1.0}


def column_ops(base: RunConfig, column: str, policy: str) -> list:
    if column in STRENGTHS:
        return recipe(base, strength=STRENGTHS[column], blur=False)
    if column == "1 (+Blur)":
        return recipe(base, strength=1.0, blur=True)
    return [op("crop", scale=crop_scale(base)), op("flip"), op("autoaugment", policy=policy)]


def arms(preset: str = "tiny", data_root: str = "") -> list[tuple[dict, RunConfig]]:
    base = baseline(preset, data_root)
    policy = "imagenet" if base.data.image_size > 64 else "cifar10"
    out = []
    for method in ("simclr", "supervised"):
        for column in COLUMNS:
            cfg = with_recipe(base, column_ops(base, column, policy))
            out.append(({"method": method, "color": column}, cfg if method == "simclr" else supervised(cfg, preset)))
    return out
