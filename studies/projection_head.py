"""Figure 8: projection head type x output dimension, evaluated on h and on z = g(h).

Heads: none (z = h), linear (one layer), nonlinear (the paper's: a hidden layer of dim(h) + ReLU, then
the output layer), each layer followed by BN as the official code does. Output dims of z scale with
the preset (the paper: 32 to 2048 for a 2048-d h). Head depth (SimCLRv2, which uses 3 layers): two
more arms, 3 and 4 layers at the preset's output dim, so that at that dim the depth runs 0 (none) to 4.
Every run reports linear evaluation on h (linear_acc) and on z (linear_z_acc).
"""
from __future__ import annotations

from simclr.config import RunConfig, replace

from studies.presets import PRESETS, baseline

TITLE = "Figure 8: projection head (none / linear / nonlinear) x output dimension, on h and z"
PAPER = "Figure 8"
OUT_DIMS = {"tiny": (16, 32, 64, 128, 256), "cpu": (16, 32, 64, 128, 256),
            "cifar10": (32, 64, 128, 256, 512, 1024, 2048), "imagenet": (32, 64, 128, 256, 512, 1024, 2048)}


def arms(preset: str = "tiny", data_root: str = "") -> list[tuple[dict, RunConfig]]:
    base = baseline(preset, data_root)
    base = replace(base, **{"eval.on_z": True})
    out = [({"head": "none", "out_dim": None, "layers": 0}, replace(base, **{"head.kind": "none"}))]
    for kind, layers in (("linear", 1), ("nonlinear", 2)):
        for dim in OUT_DIMS[preset]:
            cfg = replace(base, **{"head.kind": "linear" if layers == 1 else "mlp", "head.out_dim": dim})
            out.append(({"head": kind, "out_dim": dim, "layers": layers}, cfg))
    for layers in (3, 4):
        deep = replace(base, **{"head.kind": "mlp", "head.layers": layers})
        out.append(({"head": f"nonlinear ({layers} layers)", "out_dim": base.head.out_dim, "layers": layers}, deep))
    return out
