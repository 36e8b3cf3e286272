"""What every study shares: arms (run configs with the labels of the cell they fill), seeds, overrides,
and the study manifest that tells the analysis which run fills which cell.

A study module defines TITLE, PAPER (the table or figure), PRESETS (where it can run) and
`arms(preset, data_root, **options) -> [(labels, RunConfig), ...]`: a pure function of the preset. One
run may fill several cells (the appendix's baseline is the "with flip" arm and the "no blur" arm).
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from simclr.config import ConfigError, RunConfig, parse_value, replace
from simclr.store import read_json, update_json

MANIFEST = "study.json"


def runs(arms: list[tuple[dict, RunConfig]]) -> list[RunConfig]:
    """The distinct run configs of a list of arms, in order."""
    seen, out = set(), []
    for _, cfg in arms:
        if cfg.run_id not in seen:
            seen.add(cfg.run_id)
            out.append(cfg)
    return out


def check_preset(study, preset: str) -> None:
    from studies.presets import PRESETS

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if preset not in study.PRESETS:
        note = getattr(study, "PRESET_NOTE", "")
        raise ValueError(f"study {study.__name__.split('.')[-1]} cannot run at preset {preset!r}: "
                         f"{note + ' ' if note else ''}choose one of {', '.join(study.PRESETS)}")


def parse_sets(sets: list[str]) -> dict:
    overrides = {}
    for item in sets:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.threads=1")
        key, text = item.split("=", 1)
        overrides[key] = parse_value(text)
    return overrides


def run_name(labels: dict, seed: int) -> str:
    """A cell's labels and seed as a folder name: t=0.5,l2=True,seed=0."""
    parts = [f"{k}={v}" for k, v in labels.items()] + [f"seed={seed}"]
    return ",".join(parts).replace("/", "-")


def expand(study, preset: str, data_root: str = "", seeds: int = 1, sets: list[str] = (),
           **options) -> list[dict]:
    """Entries {"labels", "seed", "config"}: every arm repeated over seeds, --set overrides applied."""
    check_preset(study, preset)
    if seeds < 1:
        raise ValueError(f"--seeds {seeds}: must be >= 1")
    overrides = parse_sets(list(sets))
    entries, merged = [], {}
    for labels, cfg in study.arms(preset, data_root, **options):
        # an arm without pretraining (an outside or random encoder, evaluated only) keeps none: --set
        # train.steps=... shortens the study's pretraining, it does not add any to that arm
        keep = {} if cfg.train.steps or cfg.train.epochs else {"train.steps": 0, "train.epochs": 0}
        for s in range(seeds):
            run = replace(cfg, **{**overrides, **keep, "seed": cfg.seed + s})
            # TensorBoard's name for the run: its cell (train.run_name is not part of the run's identity)
            run = replace(run, **{"train.run_name": run_name(labels, run.seed)})
            entries.append({"labels": labels, "seed": run.seed, "config": run})
            merged.setdefault(run.run_id, set()).add(cfg.run_id)
    if any(len(v) > 1 for v in merged.values()):  # distinct runs of the study became one
        raise ValueError(f"--set {' '.join(sets)} overrides what the study varies: different cells would be "
                         "filled by one run; override only fields the study keeps fixed")
    return entries


def manifest(study_name: str, preset: str, entries: list[dict], argv: list[str]) -> dict:
    return {"study": study_name, "preset": preset, "argv": argv,
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "arms": [{"run_id": e["config"].run_id, "seed": e["seed"], "labels": e["labels"]} for e in entries]}


def write_manifest(results: str | Path, new: dict) -> Path:
    """Record which run fills which cell. A rerun adds its arms to the ones recorded; where it fills a
    cell (same labels and seed) with another run (other overrides), the new run takes the cell, so a
    table never averages two configs as if they were seeds. Earlier invocations stay in "history"."""
    def merge(old: dict | None) -> dict:
        if old is None:
            return new
        if old.get("study") != new["study"]:
            raise ValueError(f"{path} belongs to study {old.get('study')!r}, not {new['study']!r}: "
                             "pass another --results directory")
        cell = lambda a: (json.dumps(a["labels"], sort_keys=True), a["seed"])
        taken = {cell(a) for a in new["arms"]}
        kept = [a for a in old["arms"] if cell(a) not in taken]
        return {**new, "arms": kept + new["arms"], "history": old.get("history", []) + [
            {k: old[k] for k in ("argv", "written") if k in old}]}

    path = Path(results) / MANIFEST
    update_json(path, merge)  # under a lock: drivers sharing a store all keep their arms
    return path


def read_manifest(results: str | Path) -> dict | None:
    path = Path(results) / MANIFEST
    return read_json(path) if path.exists() else None
