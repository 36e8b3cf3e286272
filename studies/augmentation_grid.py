"""Figure 5: linear evaluation under individual or composed data augmentations.

Seven operators, a 7x7 grid: the diagonal applies one operator, cell (row i, column j) applies i
then j. The paper's asymmetric protocol: every image is first randomly cropped and resized (the
`shared` op, applied once per image), then the studied operator(s) go to ONE branch and the other
branch is the identity. `symmetric=True` applies the studied ops to both branches instead, with no
shared crop. Row means form the figure's last column (analysis/augmentation_grid.py).

Choices the paper leaves open (stated here and in the README):
- crop: random resized crop with the preset's area range; flip is not part of any cell.
- colour: the paper's colour distortion, jitter of strength 1 (p=0.8) then grayscale (p=0.2).
- cutout: one square of side U(0.25, 0.5) of the image side, filled with 0, always applied.
- sobel: Sobel gradient magnitude of the luma, per image scaled to [0, 1], always applied.
- noise: additive Gaussian noise, sigma U(0.05, 0.15), always applied.
- blur: Gaussian blur, sigma U(0.1, 2), kernel 10 % of the side, always applied (p=1, not 0.5).
- rotate: 90, 180 or 270 degrees, always applied.
"""
from __future__ import annotations

from simclr.config import RunConfig, op, replace

from studies.presets import baseline, crop_scale

TITLE = "Figure 5: augmentation pairs (7x7 grid, one-branch protocol)"
PAPER = "Figure 5"
PRESETS = ("tiny", "cpu", "cifar10", "imagenet")
OPERATORS = ("crop", "cutout", "color", "sobel", "noise", "blur", "rotate")


def operator_ops(name: str, scale: tuple[float, float], color_strength: float = 1.0) -> tuple:
    """The op list of one studied operator (colour: jitter of color_strength, studies/color_operator.py)."""
    table = {
        "crop": (op("crop", scale=scale),),
        "cutout": (op("cutout"),),
        "color": (op("color_jitter", strength=color_strength), op("grayscale")),
        "sobel": (op("sobel"),),
        "noise": (op("noise"),),
        "blur": (op("blur", p=1.0),),
        "rotate": (op("rotate"),),
    }
    if name not in table:
        raise ValueError(f"unknown operator {name!r}; choose from {', '.join(OPERATORS)}")
    return table[name]


def cell(base: RunConfig, first: str, second: str, symmetric: bool = False,
         color_strength: float = 1.0) -> RunConfig:
    """The run of one grid cell: `first` then `second` (equal names: the operator alone)."""
    scale = crop_scale(base)
    studied = operator_ops(first, scale, color_strength) + (
        operator_ops(second, scale, color_strength) if second != first else ())
    if symmetric:
        return replace(base, **{"augment.shared": [], "augment.view1": list(studied),
                                "augment.view2": list(studied)})
    return replace(base, **{"augment.shared": [op("crop", scale=scale)], "augment.view1": list(studied),
                            "augment.view2": []})


def arms(preset: str = "tiny", data_root: str = "", operators=OPERATORS,
         symmetric: bool = False) -> list[tuple[dict, RunConfig]]:
    """Every cell of the operators x operators grid (len(operators)**2 runs)."""
    unknown = [o for o in operators if o not in OPERATORS]
    if unknown:
        raise ValueError(f"unknown operator(s) {unknown}; choose from {', '.join(OPERATORS)}")
    if symmetric and preset == "imagenet":
        raise ValueError("--symmetric at the imagenet preset: streamed images need a crop first in each view, "
                         "which most cells lack; use the one-branch protocol (no --symmetric)")
    base = baseline(preset, data_root)
    # symmetric cells are other cells than the one-branch ones: a store never mixes them up
    protocol = {"protocol": "symmetric"} if symmetric else {}
    return [({"first": a, "second": b, **protocol}, cell(base, a, b, symmetric)) for a in operators for b in operators]
