"""A result store with made-up metrics for a study's arms, written as studies/run.py and simclr.run
would: study.json plus <run_id>/config.json and metrics.json. Analysis tests run on it in milliseconds."""
from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

from simclr.config import to_dict
from simclr.evaluate import transfer_name
from simclr.store import read_json, write_json
from studies import common

METRICS = ("knn_acc", "linear_acc", "online_acc", "supervised_acc", "linear_z_acc", "knn_z_acc",
           "train_entropy", "train_contrastive_acc", "finetune_0.01_acc", "finetune_0.1_acc",
           "finetune_0.01_top5_acc", "finetune_0.1_top5_acc")


def value(run_id: str, key: str, lo: float = 10.0, hi: float = 90.0) -> float:
    """A deterministic pseudo-random number in [lo, hi) for (run, metric)."""
    h = int(hashlib.sha256(f"{run_id}/{key}".encode()).hexdigest()[:8], 16) / 16**8
    return lo + (hi - lo) * h


def fake_metrics(cfg) -> dict:
    rid = cfg.run_id
    m = {k: value(rid, k) for k in METRICS}
    m["train_contrastive_acc"] /= 100.0
    m["train_entropy"] = value(rid, "entropy", 0.5, 6.0)
    m["encoder_params"] = int(value(rid, "params", 1e4, 1e6))
    # keys every real run writes, some of which share a name with a study's labels ("epochs")
    m.update(epochs=value(rid, "epochs", 1, 100), step=100, total_steps=100, train_seconds=1.0, seconds=2.0)
    for task in ("color_vs_grayscale", "rotation", "noise", "sobel"):
        for rep in ("h", "gh", "chance"):
            m[f"probe_{task}_{rep}"] = value(rid, f"{task}{rep}")
    for depth in (d for d in cfg.eval.finetune_head_layers if d and cfg.eval.finetune_fractions):
        m.update({f"finetune_{f:g}_head{depth}_acc": value(rid, f"{f}h{depth}") for f in cfg.eval.finetune_fractions})
    for name in map(transfer_name, cfg.eval.transfer):
        m[f"transfer_{name}_linear_acc"] = value(rid, f"{name}l")
        m[f"transfer_{name}_finetune_acc"] = value(rid, f"{name}f")
    return {"run_id": rid, "status": "completed", **m}


def fake_store(root: Path, study_name: str, preset: str = "tiny", seeds: int | None = None, skip: int = 0,
               **options) -> list[dict]:
    """Write the store (seeds: the study's default, as studies/run.py); the last `skip` distinct runs are
    left out (a partial study)."""
    study = importlib.import_module(f"studies.{study_name}")
    if study_name == "checkpoints" and "weights" not in options:  # one outside encoder, never loaded here
        root.mkdir(parents=True, exist_ok=True)
        (root / "outside.pt").write_bytes(b"made-up weights")
        options["weights"] = (f"outside={root / 'outside.pt'},arch=resnet18",)
    seeds = seeds if seeds is not None else getattr(study, "SEEDS", 1)
    entries = common.expand(study, preset, "/data" if preset in ("cpu", "imagenet") else "", seeds, **options)
    common.write_manifest(root, common.manifest(study_name, preset, entries, ["fake"]))
    runs = common.runs([(e["labels"], e["config"]) for e in entries])
    for cfg in runs[:len(runs) - skip]:
        write_json(root / cfg.run_id / "config.json", to_dict(cfg))
        write_json(root / cfg.run_id / "metrics.json", fake_metrics(cfg))
    return entries


def fake_noise(results: Path, preset: str = "tiny", sigma: float = 1.0, seeds: int = 5) -> list[dict]:
    """A seed_noise store at results/seed_noise/<preset> whose every accuracy and the entropy have standard
    deviation sigma over its seeds (contrastive accuracy: sigma / 100, as it is stored as a fraction)."""
    import numpy as np

    entries = fake_store(results / "seed_noise" / preset, "seed_noise", preset, seeds=seeds)
    z = np.arange(seeds) - (seeds - 1) / 2
    z = z / z.std(ddof=1)  # unit sample standard deviation
    for e, dz in zip(entries, z):
        path = results / "seed_noise" / preset / e["config"].run_id / "metrics.json"
        m = read_json(path)
        m.update({k: 50.0 + sigma * dz for k in m if k.endswith("_acc") or k.startswith("probe_")})
        m.update(train_contrastive_acc=0.5 + sigma * dz / 100.0, train_entropy=3.0 + sigma * dz)
        write_json(path, m)
    return entries
