"""Figure 7: encoder depth and width, SimCLR at two training lengths and the supervised baseline.

A depth x width grid scaled by the preset (the paper: ResNet-18 to 152 at 1x, 2x, 4x; SimCLR 100 and
1000 epochs, supervised 90). The analysis plots accuracy against the encoder's parameter count
(encoder_params, recorded by every run). Lengths multiply the preset's training length (its epochs, or
its steps at the tiny preset); the supervised baseline trains for the preset's own length (90 epochs at
imagenet, studies/presets.py SUPERVISED).
"""
from __future__ import annotations

from simclr.config import RunConfig, replace

from studies.presets import PRESETS, baseline, supervised

TITLE = "Figure 7: encoder depth x width, SimCLR (two lengths) vs supervised"
PAPER = "Figure 7"
DEPTHS = {"tiny": ("resnet18", "resnet34"), "cpu": ("resnet18", "resnet34"),
          "cifar10": ("resnet18", "resnet34", "resnet50"),
          "imagenet": ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")}
WIDTHS = {"tiny": (0.125, 0.25), "cpu": (0.125, 0.25), "cifar10": (0.5, 1.0, 2.0), "imagenet": (1.0, 2.0, 4.0)}
# multiples of the preset's training length: imagenet 100 and 1000 epochs as the paper, cifar10 100 and 500
LENGTHS = {"tiny": (1, 3), "cpu": (1, 3), "cifar10": (0.2, 1), "imagenet": (1, 10)}


def scaled_length(cfg: RunConfig, factor: float) -> RunConfig:
    if cfg.train.steps:
        return replace(cfg, **{"train.steps": round(cfg.train.steps * factor)})
    return replace(cfg, **{"train.epochs": cfg.train.epochs * factor})


def arms(preset: str = "tiny", data_root: str = "") -> list[tuple[dict, RunConfig]]:
    base = baseline(preset, data_root)
    out = []
    for depth in DEPTHS[preset]:
        for width in WIDTHS[preset]:
            cfg = replace(base, **{"encoder.arch": depth, "encoder.width": width})
            for factor in LENGTHS[preset]:
                out.append(({"method": "simclr", "length": factor, "depth": depth, "width": width},
                            scaled_length(cfg, factor)))
            out.append(({"method": "supervised", "length": 1, "depth": depth, "width": width},
                        supervised(cfg, preset)))
    return out
