"""A run's config checked before any work: each module names the problems of its own section against
its own registry (data sets, ops, ResNets, heads, losses, optimizers, steps, evaluations); this module
gathers them into one ConfigError, and adds the rules that need this machine or the loaded data set.
"""
from __future__ import annotations

import importlib.util
import os

from simclr import data, evaluate, losses, models, optim, train, views
from simclr.config import ConfigError, RunConfig, format_errors, steps_per_epoch, total_steps

SECTIONS = (data, views, models, losses, optim, train, evaluate)


def validate(cfg: RunConfig, world_size: int = 1) -> RunConfig:
    """Raise ConfigError naming every problem of cfg on world_size processes, else return cfg."""
    errors = [e for module in SECTIONS for e in module.config_errors(cfg, world_size)]
    if errors:
        raise ConfigError(format_errors(errors))
    return cfg


def check_environment(cfg: RunConfig) -> None:
    """Rules on this machine's files and packages, checked when a run starts (not when a stored config
    is read: a store stays readable where the weights file or tensorboard is gone)."""
    e = []
    if cfg.encoder.weights and not os.path.isfile(cfg.encoder.weights):
        e.append(f"encoder.weights={cfg.encoder.weights}: no such file (a .safetensors or .pt state dict)")
    if cfg.train.tensorboard and importlib.util.find_spec("tensorboard") is None:
        e.append("train.tensorboard=true needs the tensorboard package: pip install -e '.[tensorboard]'")
    if e:
        raise ConfigError(format_errors(e))


def check_against_data(cfg: RunConfig, num_train: int, train_labels=None) -> None:
    """Rules that need the data set's size: checked after loading, before the run directory exists."""
    e = []
    t = cfg.train
    if t.batch_size > num_train:
        e.append(f"train.batch_size={t.batch_size} exceeds the {num_train} training images")
    else:
        total = total_steps(cfg, num_train)
        warmup = round(cfg.optim.warmup_epochs * steps_per_epoch(num_train, t.batch_size))
        if total and warmup >= total:
            e.append(f"optim.warmup_epochs={cfg.optim.warmup_epochs} is {warmup} steps, not fewer than the "
                     f"{total} training steps: the learning rate would never decay; shorten the warmup")
    for f in cfg.eval.finetune_fractions if train_labels is not None else ():
        try:
            data.label_subset(train_labels, f)
        except ValueError as err:
            e.append(f"eval.finetune_fractions: {err}")
    if e:
        raise ConfigError(format_errors(e))
