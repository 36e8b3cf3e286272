"""Table 8: transfer. The encoder pretrained on the preset's data, then a linear probe of frozen h and
full fine-tuning on each target data set the preset has, SimCLR vs the supervised baseline.

Targets (eval.transfer): tiny -> the built-in set's shifted variant (new images with three times the
clutter, simclr/data.py SYNTHETIC_TRANSFER; the same classes, a new distribution); cpu and cifar10 ->
CIFAR-100 (a Table 8 set) and STL-10 (not one: the usual CIFAR-10 -> STL-10 transfer, same classes at
another resolution); imagenet -> CIFAR-10, CIFAR-100 (Table 8's two array-backed sets) and STL-10.
Table 8's other single-label sets (Food-101, Birdsnap, SUN397, Cars, Aircraft, DTD, Pets, Caltech-101,
Flowers) come as ImageFolder trees: --set 'eval.transfer=[cifar100, folder:/data/food101, ...]'
(train/ and test/ inside; both splits decoded into memory at the pretraining size: about 15 GB for
Food-101 at 224 px); VOC2007 is multi-label (mAP), which no folder tree holds. The paper reports mean
per-class accuracy for Aircraft, Pets, Caltech-101 and Flowers, top-1 elsewhere; ours is top-1.
Targets are read at the pretraining image size. The paper's linear
transfer is an L-BFGS logistic regression; here the linear probe of simclr/evaluate.py (Nesterov SGD on
standardized features, no weight decay). The torchvision targets need data.download=true once online.
"""
from __future__ import annotations

from simclr.config import RunConfig, replace

from studies.presets import PRESETS, baseline, supervised

TITLE = "Table 8: transfer (linear and fine-tuned), SimCLR vs supervised"
PAPER = "Table 8"
# fine-tuning on the built-in 5,000-image target: batch 256 for 30 epochs would be 570 steps; see
# studies/semi_supervised.py FINETUNE
FINETUNE = {"tiny": {"eval.finetune_batch_size": 32, "eval.finetune_lr": 0.4}}
TARGETS = {"tiny": ("synthetic",), "cpu": ("cifar100", "stl10"), "cifar10": ("cifar100", "stl10"),
           "imagenet": ("cifar10", "cifar100", "stl10")}


def arms(preset: str = "tiny", data_root: str = "") -> list[tuple[dict, RunConfig]]:
    base = replace(baseline(preset, data_root), **{"eval.transfer": list(TARGETS[preset]),
                                                   "eval.transfer_finetune": True, **FINETUNE.get(preset, {})})
    return [({"method": "simclr"}, base), ({"method": "supervised"}, supervised(base, preset))]
