"""Launchers: each maps a study's run configs to their outcomes, all writing into one result store.

    local      this machine, one run after another or in N worker processes (local.py)
    ray        one Ray Tune trial per run, on a local Ray or an existing cluster (ray_tune.py)
    slurm      one submitit job array per study (slurm.py)
    ray-slurm  a SLURM allocation that hosts a Ray cluster for the Tune experiment (slurm.py)

Every launcher is a function (study, configs, results, res, labels) -> one outcome per run, and ends
in `common.execute(cfg, results)`, i.e. simclr.run: a finished run is never trained again and a started
one resumes from its checkpoint, whichever launcher started it. The registry names each launcher's
module, imported when chosen: Ray and submitit load only for the launchers that use them.
"""
from __future__ import annotations

import importlib

from studies.launchers.common import Resources

REGISTRY = {"local": ("local", "launch"), "ray": ("ray_tune", "launch"), "slurm": ("slurm", "launch"),
            "ray-slurm": ("slurm", "launch_ray_cluster")}
LAUNCHERS = tuple(REGISTRY)


def launch(name: str, study: str, configs, results: str, res: Resources, labels: dict | None = None) -> list[dict]:
    """Hand the study's runs to launcher `name` (labels: run_id -> the cell it fills, for progress and
    records); returns one outcome per run (metrics or failure)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown launcher {name!r}; choose from {', '.join(LAUNCHERS)}")
    module, function = REGISTRY[name]
    return getattr(importlib.import_module(f"studies.launchers.{module}"), function)(study, configs, results, res, labels)
