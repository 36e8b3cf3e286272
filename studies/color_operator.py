"""Figure 5's colour operator: which jitter strength its crop + colour cell should use, and whether
Sobel's lead over crop + colour (the cpu preset's grid) survives the strength the preset trains with.

Figure 5 takes the paper's ImageNet colour distortion (jitter strength 1, p 0.8, then grayscale p 0.2),
while the paper's CIFAR-10 recipe (appendix B.9) and the cpu preset use strength 0.5; the Sobel operator
is always applied. Three cells of the one-branch protocol, each exactly as studies/augmentation_grid.py
builds it (the same run ids as the grid's cells at s = 1):

- crop then colour at s = 1 (the grid's operator),
- crop then colour at s = 0.5,
- crop then Sobel.

Three seeds by default: the analysis decides each comparison over the paired seeds
(analysis/color_operator.py), and the grid's colour operator follows from it.
"""
from __future__ import annotations

from simclr.config import RunConfig

from studies.augmentation_grid import cell
from studies.presets import PRESETS, baseline

TITLE = "Figure 5's colour operator: crop then colour at s = 1 and 0.5, against crop then Sobel"
PAPER = "Figure 5 (the colour operator's strength)"
SEEDS = 3  # studies/run.py's default --seeds for this study
STRENGTHS = (1.0, 0.5)


def arms(preset: str = "tiny", data_root: str = "") -> list[tuple[dict, RunConfig]]:
    base = baseline(preset, data_root)
    colour = [({"second": "color", "strength": s}, cell(base, "crop", "color", color_strength=s)) for s in STRENGTHS]
    return colour + [({"second": "sobel", "strength": None}, cell(base, "crop", "sobel"))]
