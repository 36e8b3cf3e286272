"""A run end to end: files written, skip when done, exact resume, divergence, the CLI, load_results."""
import json
import math

import pytest
import torch

import simclr
from simclr import losses
from simclr.config import load
from simclr.store import load_results

# a run of a few seconds: small synthetic set, fp32 so equality checks are exact on any CPU
FAST = ["data.num_train=512", "data.num_test=256", "train.batch_size=64", "train.steps=12",
        "train.log_every=2", "train.checkpoint_every=4", "train.progress=false", "optim.warmup_epochs=1",
        "eval.linear_epochs=3", "eval.knn_k=20"]


def fast(*extra):
    return load("configs/tiny.yaml", FAST + list(extra))


def test_run_writes_its_directory_and_skips_when_done(tmp_path):
    cfg = fast()
    m = simclr.run(cfg, tmp_path)
    d = tmp_path / cfg.run_id
    assert m["status"] == "completed" and m["step"] == 12
    for name in ("config.json", "metrics.json", "log.jsonl", "env.json", "model.pt"):
        assert (d / name).exists(), name
    assert not (d / "checkpoint.pt").exists()
    assert json.loads((d / "config.json").read_text()) == simclr.to_dict(cfg)
    env = json.loads((d / "env.json").read_text())
    assert env["seed"] == cfg.seed and env["packages"]["torch"] == torch.__version__
    assert "commit" in env["git"] and env["hardware"]["cpu_count"] >= 1
    steps = [r["step"] for r in map(json.loads, (d / "log.jsonl").read_text().splitlines())]
    assert steps == [2, 4, 6, 8, 10, 12]
    for key in ("knn_acc", "linear_acc", "online_acc", "train_contrastive_acc", "train_entropy"):
        assert 0 <= m[key] <= 100 if key.endswith("_acc") and not key.startswith("train") else math.isfinite(m[key])
    mtime = (d / "metrics.json").stat().st_mtime_ns
    assert simclr.run(cfg, tmp_path) == m                       # done: returned as stored, not rerun
    assert (d / "metrics.json").stat().st_mtime_ns == mtime
    df = load_results(tmp_path)
    assert len(df) == 1 and df.loc[0, "config.loss.temperature"] == cfg.loss.temperature
    assert df.loc[0, "knn_acc"] == m["knn_acc"] and df.loc[0, "status"] == "completed"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_equals_uninterrupted(tmp_path, precision):
    cfg = fast(f"train.precision={precision}")
    whole = simclr.run(cfg, tmp_path / "a")
    part = simclr.run(cfg, tmp_path / "b", stop_after=6)       # interrupted after a checkpoint at 4 and 2 more steps
    assert part["status"] == "interrupted" and not (tmp_path / "b" / cfg.run_id / "metrics.json").exists()
    resumed = simclr.run(cfg, tmp_path / "b")
    timing = ("seconds", "train_seconds", "train_images_per_s")
    assert {k: v for k, v in resumed.items() if k not in timing} == {k: v for k, v in whole.items() if k not in timing}
    log_a = [r for r in map(json.loads, (tmp_path / "a" / cfg.run_id / "log.jsonl").read_text().splitlines())]
    log_b = [r for r in map(json.loads, (tmp_path / "b" / cfg.run_id / "log.jsonl").read_text().splitlines())
             if "event" not in r]
    strip = lambda rs: [{k: v for k, v in r.items() if k != "images_per_s"} for r in rs]
    assert strip(log_a) == strip(log_b)
    sa = torch.load(tmp_path / "a" / cfg.run_id / "model.pt")
    sb = torch.load(tmp_path / "b" / cfg.run_id / "model.pt")
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_nan_loss_stops_run_as_diverged(tmp_path, monkeypatch):
    real, calls = losses.contrastive_loss, {"n": 0}

    def sometimes_nan(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] == 5 else out

    monkeypatch.setattr(losses, "contrastive_loss", sometimes_nan)
    cfg = fast()
    m = simclr.run(cfg, tmp_path)
    assert m["status"] == "diverged" and m["step"] == 4
    assert json.loads((tmp_path / cfg.run_id / "metrics.json").read_text())["status"] == "diverged"
    assert "knn_acc" not in m
    assert simclr.run(cfg, tmp_path)["status"] == "diverged"   # a finished (diverged) run is not rerun


def test_supervised_baseline_runs(tmp_path):
    m = simclr.run(fast("train.method=supervised"), tmp_path)
    assert m["status"] == "completed" and 0 <= m["supervised_acc"] <= 100 and "online_acc" not in m


def test_cli_runs_and_rejects_bad_config(tmp_path, capsys):
    from simclr.__main__ import main

    assert main(["configs/tiny.yaml", *FAST, "--results", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed"
    assert main(["configs/tiny.yaml", "loss.temperature=0", "--results", str(tmp_path)]) == 2
    assert "loss.temperature=0.0: must be > 0" in capsys.readouterr().err


def test_imagenet_style_folder_streams_through_a_run(tmp_path):
    from tests.test_data import _write_tree

    _write_tree(tmp_path / "tree", splits=("train", "val"), classes=("a", "b", "c", "d"), per_class=8, size=40)
    cfg = load("configs/tiny.yaml", FAST + ["data.name=imagenet", f"data.root={tmp_path / 'tree'}",
                                            "data.workers=0", "data.image_size=24", "train.batch_size=8",
                                            "train.steps=3"])
    m = simclr.run(cfg, tmp_path / "runs")
    assert m["status"] == "completed" and m["step"] == 3 and 0 <= m["knn_acc"] <= 100
