"""The TensorBoard sink holds what log.jsonl holds: the same records at the same steps (a resumed run's
earlier records past its checkpoint hidden, as the log drops them), and the run's results."""
import json

import pytest

import simclr
from simclr.config import load

pytest.importorskip("tensorboard")


def scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_gets_the_logs_records_and_the_results_through_a_resume(tmp_path):
    cfg = load("configs/tiny.yaml", ["data.num_train=256", "data.num_test=128", "train.batch_size=64",
                                     "train.steps=12", "train.log_every=2", "train.checkpoint_every=4",
                                     "train.progress=false", "train.precision=fp32", "eval.linear_epochs=2",
                                     "eval.knn_k=10", "eval.knn_every_epochs=1", "train.tensorboard=true",
                                     "train.run_name=t=0.5,seed=0"])
    assert simclr.run(cfg, tmp_path, stop_after=7)["status"] == "interrupted"  # steps 5-7 trained twice
    m = simclr.run(cfg, tmp_path)
    tb = scalars(tmp_path / "tensorboard" / "t=0.5,seed=0")
    log = [json.loads(line) for line in (tmp_path / cfg.run_id / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "event" not in r]
    for key in ("loss", "lr", "contrastive_acc", "entropy", "online_acc", "images_per_s"):
        assert tb[f"train/{key}"] == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in steps], key
    epochs = [r for r in log if r.get("event") == "epoch"]
    assert tb["epoch/loss"] == [(r["step"], pytest.approx(r["loss"], rel=1e-6)) for r in epochs]
    monitored = [r for r in log if r.get("event") == "monitor"]
    assert tb["monitor/knn_acc"] == [(r["step"], pytest.approx(r["knn_acc"], rel=1e-6)) for r in monitored]
    for key in ("knn_acc", "linear_acc", "train_loss"):
        assert tb[f"eval/{key}"] == [(12, pytest.approx(m[key], rel=1e-6))], key


def test_a_study_names_each_runs_events_by_its_cell(tmp_path):
    from studies.run import main

    sets = ["data.num_train=256", "data.num_test=128", "train.batch_size=64", "train.steps=2", "optim.warmup_epochs=0.25",
            "eval.linear=false", "eval.knn_k=10", "train.progress=false", "train.tensorboard=true"]
    assert main(["h_vs_gh", "--results", str(tmp_path), *[a for s in sets for a in ("--set", s)]]) == 0
    names = sorted(p.name for p in (tmp_path / "tensorboard").iterdir())
    study = json.loads((tmp_path / "study.json").read_text())
    assert names == sorted(",".join([*(f"{k}={v}" for k, v in a["labels"].items()), f"seed={a['seed']}"])
                           for a in study["arms"])
    assert all(scalars(tmp_path / "tensorboard" / n)["eval/knn_acc"] for n in names)
