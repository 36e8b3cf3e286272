"""Table 5: l2 normalization and temperature of NT-Xent.

Six runs: cosine similarity (l2-normalized z) with t in {0.05, 0.1, 0.5, 1}, raw dot product with
t in {10, 100}; all else is the preset's baseline. Besides linear evaluation the table reports the
pretext task's state at the end of pretraining: the entropy of each anchor's softmax over the other
2N-1 views and the contrastive accuracy (is the positive the most similar view), both means over the
last epoch (train_entropy, train_contrastive_acc). Uniform similarities give entropy log(2N-1): 6.2 nats
at batch 256, 9.0 at the paper's 4096, whose 8.3 ~ log(4096) suggests it counted one view's negatives
(simclr/losses.py contrastive_metrics): compare the entropy column by its trend over t, not its level.
"""
from __future__ import annotations

from simclr.config import RunConfig, replace

from studies.presets import PRESETS, baseline

TITLE = "Table 5: l2 normalization and temperature"
PAPER = "Table 5"
CELLS = ((True, 0.05), (True, 0.1), (True, 0.5), (True, 1.0), (False, 10.0), (False, 100.0))


def arms(preset: str = "tiny", data_root: str = "") -> list[tuple[dict, RunConfig]]:
    base = baseline(preset, data_root)
    return [({"l2": l2, "t": t}, replace(base, **{"loss.l2_normalize": l2, "loss.temperature": t}))
            for l2, t in CELLS]
