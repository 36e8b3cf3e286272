"""Seed noise: the preset's baseline alone, over 5 seeds unless --seeds says otherwise.

A claim checked on one seed cannot measure its own spread; the analysis of every study judges it against
this one's: the standard deviation over seeds of each metric of the baseline (linear and kNN top-1, the
pretext task's entropy and contrastive accuracy), read from results/seed_noise/<preset>/.
"""
from __future__ import annotations

from simclr.config import RunConfig

from studies.presets import PRESETS, baseline

TITLE = "Seed noise: the preset's baseline over seeds (judges single-seed claims)"
PAPER = "none (the spread that decides single-seed claims)"
SEEDS = 5  # studies/run.py's default --seeds for this study


def arms(preset: str = "tiny", data_root: str = "") -> list[tuple[dict, RunConfig]]:
    return [({"arm": "baseline"}, baseline(preset, data_root))]
