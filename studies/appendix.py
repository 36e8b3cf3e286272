"""Appendix ablations, one study of five small comparisons sharing the preset's baseline run.

- flip (B.2): the recipe with and without horizontal flip (the paper: 64.5 -> 63.4).
- blur: the recipe with and without Gaussian blur (p=0.5; the paper: 63.2 -> 64.5 with blur).
- optimizer: LARS (the baseline) vs momentum SGD (0.9, same schedule and weight decay) at three rates,
  x {1/20, 1/8, 1/4} of the LARS rate; the table shows SGD's best (chosen on the test set, said so).
- temperature_batch (Figure B.8): t in {0.1, 0.5, 1} x the preset's batch sizes, at a fixed number of
  epochs (the tiny preset: its 400 steps at batch 256, i.e. 20 epochs of 5,000 images).
- supervised_augmentation (Table B.3): the supervised baseline with crop (+flip), + colour, + colour
  + blur (colour at strength 1, as the paper).
- global_bn: global BN (the baseline: statistics over all 2N views) vs per-device BN as on batch/32
  devices of 32 images each (the paper's 4096 over 128 TPU cores), emulated in one process
  (train.bn_groups, simclr/bn.py): each group normalises both views of its own images only.
"""
from __future__ import annotations

from simclr.config import RunConfig, op, replace

from studies.presets import PRESETS, baseline, crop_scale, recipe, supervised, with_recipe

TITLE = "Appendix: flip, blur, LARS vs SGD, global BN, temperature x batch (B.8), supervised augmentation (B.3)"
PAPER = "Appendix B"
SGD_FACTORS = (1 / 20, 1 / 8, 1 / 4)
BATCHES = {"tiny": (128, 256, 512), "cpu": (128, 256, 512), "cifar10": (256, 512, 1024, 2048, 4096),
           "imagenet": (1024, 2048, 4096)}
TEMPERATURES = (0.1, 0.5, 1.0)
# epochs for the temperature x batch grid where the preset counts steps instead
FIXED_EPOCHS = {"tiny": 20.0}


def arms(preset: str = "tiny", data_root: str = "") -> list[tuple[dict, RunConfig]]:
    base = baseline(preset, data_root)
    has_blur = any(o.name == "blur" for o in base.augment.view1)
    out = [({"ablation": "flip", "arm": "with flip"}, base),
           ({"ablation": "flip", "arm": "without flip"}, with_recipe(base, recipe(base, flip=False))),
           ({"ablation": "blur", "arm": "with blur" if has_blur else "without blur"}, base),
           ({"ablation": "blur", "arm": "without blur" if has_blur else "with blur"},
            with_recipe(base, recipe(base, blur=not has_blur))),
           ({"ablation": "optimizer", "arm": "lars", "lr": base.optim.lr}, base)]
    for f in SGD_FACTORS:
        lr = base.optim.lr * f
        out.append(({"ablation": "optimizer", "arm": "sgd", "lr": lr},
                    replace(base, **{"optim.name": "sgd", "optim.lr": lr})))
    groups = max(2, base.train.batch_size // 32)
    out += [({"ablation": "global_bn", "arm": "global BN"}, base),
            ({"ablation": "global_bn", "arm": f"per-device BN ({groups} groups)"},
             replace(base, **{"train.bn_groups": groups}))]
    grid = replace(base, **{"train.steps": 0, "train.epochs": FIXED_EPOCHS.get(preset, base.train.epochs)})
    for t in TEMPERATURES:
        for batch in BATCHES[preset]:
            out.append(({"ablation": "temperature_batch", "t": t, "batch": batch},
                        replace(grid, **{"loss.temperature": t, "train.batch_size": batch})))
    crop = [op("crop", scale=crop_scale(base)), op("flip")]
    for arm, ops in (("crop", crop), ("crop + colour", recipe(base, strength=1.0, blur=False)),
                     ("crop + colour + blur", recipe(base, strength=1.0, blur=True))):
        out.append(({"ablation": "supervised_augmentation", "arm": arm}, supervised(with_recipe(base, ops), preset)))
    return out
