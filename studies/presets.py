"""Scale presets: the baseline run a study perturbs. A preset changes the baseline, never the study.

tiny     built-in synthetic data, the smallest ResNet, CPU, bf16: a run in about 2 minutes on 2 cores
cpu      CIFAR-10 from an ImageFolder tree (--data-root), the smallest ResNet, bf16: about 8 minutes a run
         (both on a CPU that computes bf16, AVX-512 or AMX; about 10x longer where it only emulates it)
cifar10  the paper's appendix B.9: ResNet-50 with the CIFAR stem, batch 1024, LARS, t 0.5, s 0.5, no blur
         (--set encoder.arch=resnet18: the ResNet-18 of the common CIFAR-10 benchmarks)
imagenet the paper's ablation setting: ResNet-50, 224 px, batch 4096, LARS 0.3 x B/256, t 0.1, 100 epochs
"""
from __future__ import annotations

from pathlib import Path

from simclr.config import RunConfig, from_dict, load, replace, simclr_recipe, to_dict

PRESETS = ("tiny", "cpu", "cifar10", "imagenet")


# tiny and cpu are the ready configs in configs/ (one source for `python -m simclr` and the studies)
CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CONFIG_FILES = {"tiny": CONFIGS / "tiny.yaml", "cpu": CONFIGS / "cpu_cifar10.yaml"}

BASELINES: dict[str, dict] = {
    "cifar10": {
        "data": {"name": "cifar10", "image_size": 32},
        "encoder": {"arch": "resnet50", "stem": "cifar"},
        "train": {"batch_size": 1024, "epochs": 500.0, "precision": "auto"},
        "optim": {"name": "lars", "lr": 1.0, "warmup_epochs": 10.0, "weight_decay": 1e-6},
        "loss": {"temperature": 0.5},
        "augment": {"view1": simclr_recipe(0.5, blur=False), "view2": simclr_recipe(0.5, blur=False)},
        "eval": {"linear_epochs": 90},
    },
    "imagenet": {
        "data": {"name": "imagenet", "image_size": 224, "workers": 16},
        "encoder": {"arch": "resnet50", "stem": "imagenet"},
        "train": {"batch_size": 4096, "epochs": 100.0, "precision": "auto"},
        "optim": {"name": "lars", "lr": 0.3, "warmup_epochs": 10.0, "weight_decay": 1e-6},
        "loss": {"temperature": 0.1},
        "augment": {"view1": simclr_recipe(1.0, blur=True), "view2": simclr_recipe(1.0, blur=True)},
        "eval": {"linear_epochs": 90},
    },
}

# data sets that need a --data-root (the torchvision ones download into the cache when asked)
NEEDS_ROOT = {"cpu", "imagenet"}


def baseline(preset: str, data_root: str = "") -> RunConfig:
    """The preset's baseline run config (validated, as every config, when a study or run starts)."""
    if preset not in BASELINES and preset not in CONFIG_FILES:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if preset in NEEDS_ROOT and not data_root:
        raise ValueError(f"preset {preset!r} reads an image folder: pass --data-root /path/with/train/and/test")
    if preset in CONFIG_FILES:
        return load(CONFIG_FILES[preset], [f"data.root={data_root}"] if data_root else [])
    d = to_dict(RunConfig())
    for section, values in BASELINES[preset].items():
        d[section].update(values)
    if data_root:
        d["data"]["root"] = data_root
    return from_dict(d)


# The supervised baseline of each preset: cross-entropy on the same views, trained by SGD (LARS at the
# contrastive rates stays at chance in a short run: measured on the tiny preset, 40-150 steps).
SUPERVISED = {
    "tiny": {"optim.name": "sgd", "optim.lr": 0.2, "optim.nesterov": True, "optim.weight_decay": 5e-4},
    "cpu": {"optim.name": "sgd", "optim.lr": 0.2, "optim.nesterov": True, "optim.weight_decay": 5e-4},
    "cifar10": {"optim.name": "sgd", "optim.lr": 0.1, "optim.nesterov": True, "optim.weight_decay": 5e-4},
    # the paper's supervised ResNet-50: 90 epochs, the standard SGD recipe
    "imagenet": {"optim.name": "sgd", "optim.lr": 0.1, "optim.nesterov": True, "optim.weight_decay": 1e-4,
                 "optim.warmup_epochs": 5.0, "train.epochs": 90.0},
}


def supervised(cfg: RunConfig, preset: str) -> RunConfig:
    """The preset's supervised baseline trained with cfg's augmentation."""
    return replace(cfg, **{"train.method": "supervised", **SUPERVISED[preset]})


def recipe(cfg: RunConfig, strength: float | None = None, blur: bool | None = None,
           flip: bool = True) -> list:
    """The preset's SimCLR recipe (crop, flip, colour jitter, grayscale[, blur]) with changes; None keeps
    the preset's value. Both views get it."""
    ops = list(cfg.augment.view1)
    names = [o.name for o in ops]
    s = strength if strength is not None else ops[names.index("color_jitter")].kwargs()["strength"]
    return list(simclr_recipe(s, "blur" in names if blur is None else blur, crop_scale(cfg), flip))


def with_recipe(cfg: RunConfig, ops: list) -> RunConfig:
    return replace(cfg, **{"augment.shared": [], "augment.view1": ops, "augment.view2": ops})


def crop_scale(cfg: RunConfig) -> tuple[float, float]:
    """The crop area range of the preset's recipe (the first op of view1)."""
    return tuple(cfg.augment.view1[0].kwargs()["scale"])
