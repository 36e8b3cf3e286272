"""Table 3: what h and g(h) keep. An MLP predicts the transformation applied to a test image from the
frozen h and from z = g(h) (simclr/evaluate.py transform_probe).

Two pretraining runs, both with g's output as wide as h (the paper: 2048-d for ResNet-50):
- "default": the preset's recipe; its colour-vs-grayscale row is the paper's first row.
- "with rotation, noise, Sobel": the recipe plus rotation (p=0.5), Gaussian noise (p=0.5) and the Sobel
  filter (p=0.5) on every view, as the paper adds them during pretraining for its last three rows (it
  does not give probabilities; these are ours).
Probe tasks: grayscale applied with p=0.2 (random guess 80 %), rotation by 0/90/180/270 (25 %), noise
and Sobel with p=0.5 (50 %). Not at the imagenet preset: the probe needs the images in memory.
"""
from __future__ import annotations

from simclr.config import RunConfig, op, replace

from studies.presets import baseline, with_recipe

TITLE = "Table 3: predicting the transformation from h and from g(h)"
PAPER = "Table 3"
PRESETS = ("tiny", "cpu", "cifar10")
PRESET_NOTE = "the transformation probe needs in-memory data (imagenet streams from disk);"
EXTRA = (op("rotate", p=0.5), op("noise", p=0.5), op("sobel", p=0.5))


def arms(preset: str = "tiny", data_root: str = "") -> list[tuple[dict, RunConfig]]:
    from simclr.models import build_model  # torch, for the dim of h: the analysis reads TITLE and PAPER only

    base = baseline(preset, data_root)
    h_dim = build_model(base, 10).encoder.dim
    base = replace(base, **{"head.out_dim": h_dim, "eval.transform_probe": True})
    extra = with_recipe(base, list(base.augment.view1) + list(EXTRA))
    return [({"pretraining": "default"}, base), ({"pretraining": "with rotation, noise, Sobel"}, extra)]
