"""Studies expand into the right unique, valid runs; a tiny study runs through the CLI and analysis."""
import json
import os

import pytest

from analysis import augmentation_grid as fig5
from studies import augmentation_grid
from studies.presets import PRESETS, baseline
from studies.run import expand, main

FAST = ["data.num_train=256", "data.num_test=128", "train.batch_size=64", "train.steps=4",
        "optim.warmup_epochs=0.25", "eval.linear=false", "eval.knn_k=10", "train.progress=false"]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_gives_a_valid_baseline(preset):
    cfg = baseline(preset, data_root="/data" if preset in ("cpu", "imagenet") else "")
    assert cfg.augment.view1 == cfg.augment.view2 and cfg.augment.view1[0].name == "crop"


@pytest.mark.parametrize("preset", ["tiny", "cpu", "cifar10"])
def test_augmentation_grid_is_49_unique_cells(preset):
    runs = augmentation_grid.runs(preset, data_root="/data" if preset == "cpu" else "")
    assert len(runs) == 49 and len({r.run_id for r in runs}) == 49
    cells = [augmentation_grid.cell_of({"config.augment.view1": json.dumps(
        [{"op": o.name} for o in r.augment.view1])}) for r in runs]
    ops = augmentation_grid.OPERATORS
    assert cells == [(a, b) for a in ops for b in ops]
    for r in runs:  # the one-branch protocol: a shared crop, the studied ops on view1, identity on view2
        assert [o.name for o in r.augment.shared] == ["crop"] and r.augment.view2 == ()
    diag = runs[ops.index("color") * 8]
    assert [o.name for o in diag.augment.view1] == ["color_jitter", "grayscale"]


def test_symmetric_variant_and_seeds_and_overrides():
    runs = expand(augmentation_grid, "tiny", "", 2, ["loss.temperature=0.2"],
                  operators=("crop", "color"), symmetric=True)
    assert len(runs) == 8 and len({r.run_id for r in runs}) == 8
    assert {r.seed for r in runs} == {0, 1} and {r.loss.temperature for r in runs} == {0.2}
    assert all(r.augment.view1 == r.augment.view2 and r.augment.shared == () for r in runs)


def test_tiny_study_end_to_end_and_continues_without_duplicates(tmp_path, capsys):
    args = ["augmentation_grid", "--operators", "crop,color", "--results", str(tmp_path)]
    args += [a for s in FAST for a in ("--set", s)]
    assert main(args) == 0
    run_dirs = sorted(p.parent for p in tmp_path.glob("*/metrics.json"))
    assert len(run_dirs) == 4
    for name in ("figure5.png", "figure5.pdf", "figure5.md", "figure5.csv"):
        assert (tmp_path / name).exists()
    grid, metric, notes = fig5.table(tmp_path)
    assert metric == "knn_acc" and list(grid.index) == ["crop", "color"] and not notes
    assert grid.loc["crop", "row mean"] == pytest.approx(grid.loc["crop", ["crop", "color"]].mean())
    mtimes = [(d / "metrics.json").stat().st_mtime_ns for d in run_dirs]
    assert main(args) == 0   # rerun: every run is done, nothing is trained again
    assert [(d / "metrics.json").stat().st_mtime_ns for d in run_dirs] == mtimes
    assert len(list(tmp_path.glob("*/metrics.json"))) == 4


def test_analysis_on_empty_and_partial_store_says_what_is_missing(tmp_path):
    grid, _, notes = fig5.table(tmp_path)
    assert grid.empty and "no runs" in notes[0]
    (tmp_path / "abc").mkdir()
    (tmp_path / "abc" / "config.json").write_text("{}")
    _, _, notes = fig5.table(tmp_path)
    assert any("incomplete" in n for n in notes)


def test_dry_run_prints_runs_and_cost(capsys):
    assert main(["augmentation_grid", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("steps=400") == 49 and "49 runs" in out and "TFLOP" in out and "hours" in out


def test_unknown_study_and_bad_set():
    with pytest.raises(SystemExit, match="unknown study"):
        main(["figure99"])
    assert main(["augmentation_grid", "--set", "loss.temperature=0", "--dry-run"]) == 2


def test_two_local_workers_finish_every_run(tmp_path):
    args = ["augmentation_grid", "--operators", "crop,color", "--workers", "2", "--results", str(tmp_path)]
    args += [a for s in FAST for a in ("--set", s)]
    assert main(args) == 0
    metrics = [json.loads(p.read_text()) for p in tmp_path.glob("*/metrics.json")]
    assert len(metrics) == 4 and all(m["status"] == "completed" for m in metrics)
    env = json.loads(next(tmp_path.glob("*/env.json")).read_text())
    assert env["hardware"]["torch_threads"] == max(1, os.cpu_count() // 2)   # the cores split between workers
