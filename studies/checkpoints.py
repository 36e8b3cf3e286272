"""Outside encoders beside the suite's own: the preset's SimCLR baseline and every checkpoint named with
--weights, evaluated by one protocol (the preset's kNN and linear probe, plus whatever --set adds:
fine-tuning on 1 % / 10 % of the labels, transfer).

    python studies/run.py checkpoints --preset cpu --data-root /data/cifar10 \
        --weights 'torchvision=resnet18.pth,arch=resnet18,stem=imagenet,input_norm=imagenet'

A checkpoint is NAME=PATH[,arch=A][,stem=S][,input_norm=N] (encoder.arch, encoder.stem and
encoder.input_norm of the weights; the preset's where left out): a torchvision-format ResNet state dict
or an export of the suite's (python -m simclr.export). Its arm is a run without pretraining, named by the
file's sha256 (simclr/evaluate_weights.py), so a changed file is a new arm, never the old one's result.
"""
from __future__ import annotations

import os

from simclr.config import RunConfig, replace

from studies.presets import PRESETS, baseline

TITLE = "Outside checkpoints beside the preset's SimCLR baseline, one evaluation protocol"
PAPER = "none (outside encoders compared with ours, not a claim of the paper)"
OURS = "SimCLR (this preset's baseline)"
KEYS = ("arch", "stem", "input_norm")


def parse(spec: str) -> tuple[str, str, dict]:
    """'NAME=PATH,arch=A,...' -> (NAME, PATH, {key: value}); a clear error for anything else."""
    head, *rest = spec.split(",")
    name, sep, path = head.partition("=")
    keys = dict(item.partition("=")[::2] for item in rest)
    if not sep or not name or not path or name == OURS or any(k not in KEYS or not v for k, v in keys.items()):
        raise ValueError(f"--weights {spec!r}: expected NAME=PATH[,arch=A][,stem=S][,input_norm=N], "
                         f"e.g. tv=resnet18.pth,arch=resnet18,stem=imagenet,input_norm=imagenet")
    if not os.path.isfile(path):
        raise ValueError(f"--weights {spec!r}: {path}: no such file (a .pt, .pth or .safetensors state dict)")
    return name, path, keys


def arms(preset: str = "tiny", data_root: str = "", weights: tuple[str, ...] = ()) -> list[tuple[dict, RunConfig]]:
    from simclr.evaluate_weights import overrides  # reads the weights' sha256; imports torch (the analysis needs none)

    base = baseline(preset, data_root)
    out = [({"encoder": OURS}, base)]
    for spec in weights:
        name, path, keys = parse(spec)
        if name in {lab["encoder"] for lab, _ in out}:
            raise ValueError(f"--weights {spec!r}: the name {name!r} is taken; give every checkpoint its own")
        out.append(({"encoder": name}, replace(base, **overrides(path, **keys))))
    return out
