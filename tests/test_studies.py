"""Studies expand into the right unique, valid runs per preset; the CLI runs a study end to end, continues
an interrupted one without duplicates and records failures; the manifest says which run fills which cell."""
import json
import math
from pathlib import Path

import pytest

import simclr
from simclr.checks import validate
from simclr.config import replace
from studies import augmentation_grid, batch_size_epochs, common, loss_functions
from studies.launchers import common as launch
from studies.presets import PRESETS, baseline
from studies.run import STUDIES, expand, load_study, main

FAST = ["data.num_train=256", "data.num_test=128", "train.batch_size=64", "train.steps=4",
        "optim.warmup_epochs=0.25", "eval.linear=false", "eval.knn_k=10", "train.progress=false"]

# distinct runs per study and preset; absent: the study refuses that preset (with a reason)
COUNTS = {
    "augmentation_grid": {"tiny": 49, "cpu": 49, "cifar10": 49, "imagenet": 49},
    "color_operator": {"tiny": 3, "cpu": 3, "cifar10": 3, "imagenet": 3},  # 3 arms, each over 3 seeds by default
    "color_strength": {"tiny": 12, "cpu": 12, "cifar10": 12, "imagenet": 12},
    "model_size": {"tiny": 12, "cpu": 12, "cifar10": 27, "imagenet": 45},
    "projection_head": {"tiny": 13, "cpu": 13, "cifar10": 17, "imagenet": 17},
    "h_vs_gh": {"tiny": 2, "cpu": 2, "cifar10": 2},
    "loss_functions": {"tiny": 27, "cpu": 27, "cifar10": 85, "imagenet": 85},
    "temperature": {"tiny": 6, "cpu": 6, "cifar10": 6, "imagenet": 6},
    "batch_size_epochs": {"tiny": 16, "cpu": 16, "cifar10": 40, "imagenet": 48},
    "semi_supervised": {"tiny": 3, "cpu": 3, "cifar10": 4},
    "transfer": {"tiny": 2, "cpu": 2, "cifar10": 2, "imagenet": 2},
    # the baseline fills several cells (with flip, without blur, LARS, and t x batch where epochs agree)
    "appendix": {"tiny": 19, "cpu": 18, "cifar10": 24, "imagenet": 18},
    "seed_noise": {"tiny": 1, "cpu": 1, "cifar10": 1, "imagenet": 1},  # one arm, 5 seeds by default
    "checkpoints": {"tiny": 1, "cpu": 1, "cifar10": 1, "imagenet": 1},  # the baseline, then one per --weights
}


def root(preset):
    return "/data" if preset in ("cpu", "imagenet") else ""


def args_fast(*args, sets=FAST):
    return list(args) + [a for s in sets for a in ("--set", s)]


def test_every_study_is_listed_and_counted():
    assert set(COUNTS) == set(STUDIES)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_gives_a_valid_baseline(preset):
    cfg = baseline(preset, data_root=root(preset))
    assert cfg.augment.view1 == cfg.augment.view2 and cfg.augment.view1[0].name == "crop"


@pytest.mark.parametrize("name", STUDIES)
@pytest.mark.parametrize("preset", PRESETS)
def test_study_expands_to_unique_valid_runs(name, preset):
    study = load_study(name)
    if preset not in COUNTS[name]:
        with pytest.raises(ValueError, match="cannot run at preset"):
            common.expand(study, preset, root(preset))
        return
    arms = study.arms(preset, root(preset))
    runs = common.runs(arms)
    assert len(runs) == COUNTS[name][preset]
    labels = [json.dumps(lab, sort_keys=True) for lab, _ in arms]
    assert len(set(labels)) == len(labels), "two arms share labels: the analysis could not tell them apart"
    for cfg in runs:  # every arm is a valid run; the round trip keeps every field
        validate(cfg)
        assert simclr.config.from_dict(simclr.config.to_dict(cfg)) == cfg
    base = baseline(preset, root(preset))
    assert all(c.data == base.data for c in runs)  # a study perturbs the baseline, never the data


def test_studies_set_what_the_paper_varies():
    t5 = load_study("temperature").arms("tiny")
    assert [(c.loss.l2_normalize, c.loss.temperature) for _, c in t5] == [
        (True, 0.05), (True, 0.1), (True, 0.5), (True, 1.0), (False, 10.0), (False, 100.0)]
    t1 = dict((tuple(lab.values()), c) for lab, c in load_study("color_strength").arms("tiny"))
    jitter = lambda c: next(o for o in c.augment.view1 if o.name == "color_jitter").kwargs()["strength"]
    assert jitter(t1[("simclr", "1/8")]) == 0.125 and jitter(t1[("supervised", "1")]) == 1.0
    assert [o.name for o in t1[("simclr", "AutoAug")].augment.view1] == ["crop", "flip", "autoaugment"]
    assert [o.name for o in t1[("simclr", "1 (+Blur)")].augment.view1][-1] == "blur"
    assert t1[("supervised", "1/2")].train.method == "supervised"
    assert t1[("supervised", "1/2")].optim.name == "sgd"
    for lab, c in loss_functions.arms("tiny"):
        assert c.loss.negatives == "other_view" and c.loss.l2_normalize
        assert c.loss.semi_hard == lab["loss"].endswith("(sh)")
    heads = load_study("projection_head").arms("tiny")
    assert {c.head.kind for _, c in heads} == {"none", "linear", "mlp"} and all(c.eval.on_z for _, c in heads)
    base_dim = heads[0][1].head.out_dim
    depth = sorted(lab["layers"] for lab, c in heads if lab["out_dim"] in (None, base_dim))
    assert depth == [0, 1, 2, 3, 4]  # the depth sweep at the preset's output dim
    assert [c.head.layers for lab, c in heads if lab["layers"] >= 2 and lab["out_dim"] == base_dim] == [2, 3, 4]
    gh = load_study("h_vs_gh").arms("tiny")
    assert all(c.head.out_dim == 128 and c.eval.transform_probe for _, c in gh)  # z as wide as h
    assert [o.name for o in gh[1][1].augment.view1][-3:] == ["rotate", "noise", "sobel"]
    semi = load_study("semi_supervised").arms("tiny")
    assert semi[-1][1].train.epochs == 0 and semi[-1][1].train.steps == 0
    assert all(c.eval.finetune_fractions == (0.01, 0.1) for _, c in semi)
    sizes = load_study("model_size").arms("tiny")
    assert {c.train.steps for lab, c in sizes if lab["method"] == "simclr"} == {400, 1200}


def test_sqrt_and_linear_scaling_agree_at_the_reference_batch():
    from simclr.optim import scaled_lr

    for preset in ("tiny", "imagenet"):
        arms = batch_size_epochs.arms(preset, root(preset))
        ref = batch_size_epochs.REFERENCE_BATCH[preset]
        rate = {}
        for lab, c in arms:
            if lab["batch"] == ref:
                rate[lab["scaling"]] = scaled_lr(c.optim.lr, ref, c.optim.lr_scaling)
        assert rate["linear"] == pytest.approx(rate["sqrt"])
    paper = batch_size_epochs.arms("imagenet", "/data")
    assert {round(c.optim.lr, 4) for lab, c in paper if lab["scaling"] == "sqrt"} == {0.075}
    assert all(c.train.steps == 0 for _, c in paper)
    assert math.isclose(batch_size_epochs.sqrt_lr(0.3, 4096), 0.075)


def test_augmentation_grid_cells_follow_the_one_branch_protocol():
    arms = augmentation_grid.arms("tiny")
    ops = augmentation_grid.OPERATORS
    assert [(lab["first"], lab["second"]) for lab, _ in arms] == [(a, b) for a in ops for b in ops]
    for _, r in arms:  # a shared crop, the studied ops on view1, identity on view2
        assert [o.name for o in r.augment.shared] == ["crop"] and r.augment.view2 == ()
    diag = arms[ops.index("color") * 8][1]
    assert [o.name for o in diag.augment.view1] == ["color_jitter", "grayscale"]
    with pytest.raises(ValueError, match="unknown operator"):
        augmentation_grid.arms("tiny", operators=("crop", "jpeg"))


@pytest.mark.parametrize("preset", ["tiny", "cpu"])
def test_color_operator_cells_are_the_grids_cells_but_for_the_jitter_strength(preset):
    from studies import color_operator

    grid = {(lab["first"], lab["second"]): r for lab, r in augmentation_grid.arms(preset, root(preset))}
    arms = {(lab["second"], lab["strength"]): r for lab, r in color_operator.arms(preset, root(preset))}
    assert arms[("color", 1.0)].run_id == grid[("crop", "color")].run_id  # the grid's own cells
    assert arms[("sobel", None)].run_id == grid[("crop", "sobel")].run_id
    half = arms[("color", 0.5)]
    jitter = [o for o in half.augment.view1 if o.name == "color_jitter"]
    assert [o.kwargs()["strength"] for o in jitter] == [0.5]
    # nothing else differs from the s = 1 cell
    one = arms[("color", 1.0)]
    assert [o.name for o in one.augment.view1] == [o.name for o in half.augment.view1]
    assert replace(one, **{"augment.view1": list(half.augment.view1)}) == half
    assert color_operator.SEEDS == 3 and len(expand(color_operator, preset, root(preset), 3)) == 9


def test_symmetric_variant_and_seeds_and_overrides():
    runs = expand(augmentation_grid, "tiny", "", 2, ["loss.temperature=0.2"],
                  operators=("crop", "color"), symmetric=True)
    assert len(runs) == 8 and len({r.run_id for r in runs}) == 8
    assert {r.seed for r in runs} == {0, 1} and {r.loss.temperature for r in runs} == {0.2}
    assert all(r.augment.view1 == r.augment.view2 and r.augment.shared == () for r in runs)


def test_tiny_study_end_to_end_and_continues_without_duplicates(tmp_path):
    from analysis import augmentation_grid as fig5

    args = args_fast("augmentation_grid", "--operators", "crop,color", "--results", str(tmp_path))
    assert main(args) == 0
    run_dirs = sorted(p.parent for p in tmp_path.glob("*/metrics.json"))
    assert len(run_dirs) == 4
    for name in ("figure5.png", "figure5.pdf", "figure5.md", "figure5.tex", "figure5.csv", "agreement.md"):
        assert (tmp_path / name).exists()
    grid, metric, notes, _ = fig5.table(tmp_path)
    assert metric == "knn_acc" and list(grid.index) == ["crop", "color"] and not notes
    assert grid.loc["crop", "row mean"] == pytest.approx(grid.loc["crop", ["crop", "color"]].mean())
    mtimes = [(d / "metrics.json").stat().st_mtime_ns for d in run_dirs]
    assert main(args) == 0   # rerun: every run is done, nothing is trained again
    assert [(d / "metrics.json").stat().st_mtime_ns for d in run_dirs] == mtimes
    assert len(list(tmp_path.glob("*/metrics.json"))) == 4


def test_interrupted_study_resumes_only_what_is_missing(tmp_path):
    """As if the driver was killed: one run finished, one stopped mid-pretraining, two never started."""
    sets = FAST[:3] + ["train.steps=6", "train.checkpoint_every=2"] + FAST[4:]
    entries = common.expand(load_study("temperature"), "tiny", "", 1, sets)
    runs = common.runs([(e["labels"], e["config"]) for e in entries])[:4]
    simclr.run(runs[0], tmp_path)
    assert simclr.run(runs[1], tmp_path, stop_after=3)["status"] == "interrupted"
    done_mtime = (tmp_path / runs[0].run_id / "metrics.json").stat().st_mtime_ns
    assert main(args_fast("temperature", "--results", str(tmp_path), sets=sets)) == 0
    assert (tmp_path / runs[0].run_id / "metrics.json").stat().st_mtime_ns == done_mtime
    log = [json.loads(x) for x in (tmp_path / runs[1].run_id / "log.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "resumed" and r["step"] == 2 for r in log)
    assert len(list(tmp_path.glob("*/metrics.json"))) == 6 and len(list(tmp_path.glob("*/config.json"))) == 6
    # the study's own report, its six runs' provenance included (tests/test_report.py renders one in Chromium)
    page = (tmp_path / "report.html").read_text()
    assert f'id="s-{tmp_path.name}"' in page and "completed: 6" in page and runs[0].run_id in page and "commit" in page


def test_reuse_copies_the_runs_another_store_finished_and_trains_only_the_rest(tmp_path, monkeypatch, capsys):
    from simclr.store import read_json, write_json
    from tests.fake_store import fake_metrics, fake_store

    source, dest = tmp_path / "other", tmp_path / "temperature"
    runs = [e["config"] for e in fake_store(source, "temperature", skip=2)][:4]  # the last two runs missing
    (source / runs[0].run_id / "env.json").write_text(json.dumps({"git": {"commit": "abc"}}))
    (source / runs[0].run_id / "log.jsonl").write_text('{"step": 1}\n')
    (source / runs[0].run_id / "model.pt").write_bytes(b"weights")
    config = read_json(source / runs[0].run_id / "config.json")
    write_json(source / runs[0].run_id / "config.json", {**config, "train": {**config["train"], "run_name": "x"}})
    every = [c.run_id for c in common.runs(load_study("temperature").arms("tiny"))]
    liar = source / every[-1]  # a folder named as a missing run, holding another run's records
    liar.mkdir()
    for name in ("config.json", "metrics.json"):
        (liar / name).write_bytes((source / runs[0].run_id / name).read_bytes())
    (dest / runs[1].run_id).mkdir(parents=True)  # an earlier failed and an interrupted attempt here
    (dest / runs[1].run_id / "error.json").write_text("{}")
    (dest / runs[1].run_id / "checkpoint.pt").write_bytes(b"partial")
    trained = []

    def engine(cfg, results, *a, **k):  # the engine's contract: a finished run is returned, never retrained
        path = Path(results) / cfg.run_id / "metrics.json"
        if not path.exists():
            trained.append(cfg.run_id)
            write_json(path, fake_metrics(cfg))
        return read_json(path)

    monkeypatch.setattr(simclr, "run", engine)
    assert main(["temperature", "--results", str(dest), "--reuse", str(source)]) == 0
    assert sorted(trained) == sorted(set(every) - {c.run_id for c in runs})
    for cfg in runs:
        assert (dest / cfg.run_id / "metrics.json").read_bytes() == (source / cfg.run_id / "metrics.json").read_bytes()
        assert read_json(dest / cfg.run_id / "config.json")["train"]["run_name"] == cfg.train.run_name
        assert read_json(dest / cfg.run_id / "env.json")["copied_from"] == str((source / cfg.run_id).resolve())
    assert read_json(dest / runs[0].run_id / "env.json")["git"] == {"commit": "abc"}
    assert (dest / runs[0].run_id / "model.pt").read_bytes() == b"weights"
    assert (dest / runs[0].run_id / "log.jsonl").read_text() == '{"step": 1}\n'
    assert not any((dest / runs[1].run_id / f).exists() for f in ("error.json", "checkpoint.pt"))
    err = capsys.readouterr().err
    assert f"run {runs[0].run_id} copied from" in err and "--reuse: 4 of 6 unfinished runs copied" in err
    for bad in (tmp_path / "nowhere", tmp_path):  # a parent of stores is not a store
        assert main(["temperature", "--results", str(dest), "--reuse", str(bad)]) == 2
        assert "--reuse" in capsys.readouterr().err and len(trained) == 2  # refused before any work


def test_reuse_leaves_a_busy_run_alone_and_a_copy_cut_short_unfinished(tmp_path, monkeypatch):
    import shutil

    from simclr.store import run_lock
    from tests.fake_store import fake_store

    source, dest = tmp_path / "other", tmp_path / "temperature"
    runs = [e["config"] for e in fake_store(source, "temperature")]
    fake_store(dest, "temperature", skip=6)
    (dest / runs[0].run_id).mkdir()
    with run_lock(dest / runs[0].run_id):  # another process trains it right now
        copied = launch.reuse(runs[:2], str(dest), [str(source)])
    assert [r for r, _ in copied] == [runs[1].run_id] and not (dest / runs[0].run_id / "config.json").exists()
    real = shutil.copyfile

    def cut(src, dst, *a, **k):  # the copy dies writing metrics.json
        if Path(src).name == "metrics.json":
            raise OSError("killed")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(shutil, "copyfile", cut)
    with pytest.raises(OSError):
        launch.reuse(runs[:1], str(dest), [str(source)])
    assert launch.unfinished(runs[:1], str(dest)) == runs[:1]  # not taken as finished
    monkeypatch.setattr(shutil, "copyfile", real)
    copied = launch.reuse(runs, str(dest), [str(source)])  # the next attempt copies it whole
    assert [r for r, _ in copied] == [runs[0].run_id] + [c.run_id for c in runs[2:]]
    assert launch.unfinished(runs, str(dest)) == [] and not launch.reuse(runs, str(dest), [str(source)])


def test_a_store_read_from_another_data_root_is_named_not_trained_again(tmp_path, capsys):
    from tests.fake_store import fake_store

    fake_store(tmp_path, "temperature", "cpu")  # its runs read --data-root /data
    args = ["temperature", "--preset", "cpu", "--data-root", str(tmp_path / "elsewhere"), "--results", str(tmp_path)]
    for flag in ("--status", "--workers=1"):  # refused before any work
        assert main([*args, flag]) == 2
    assert main([*args, "--dry-run"]) == 0  # a plan reads no store
    err = capsys.readouterr().err
    assert "none with this call's run ids: they read --data-root /data" in err and "--results DIR" in err
    assert main(["temperature", "--preset", "cpu", "--data-root", "/data", "--results", str(tmp_path), "--status"]) == 0


def test_a_store_of_an_earlier_engine_is_not_continued(tmp_path, capsys):
    """Runs of an earlier engine (ids a run_id version before RESULTS_SINCE gave their config) are never
    mixed with new ones: a study refuses their store before any work, naming the fix; --status and a
    plan still read it, and another --results trains."""
    from simclr.config import RESULTS_SINCE, run_id
    from tests.fake_store import fake_store

    entries = fake_store(tmp_path, "temperature", "cpu")
    cfg = entries[0]["config"]
    (tmp_path / cfg.run_id).rename(tmp_path / run_id(cfg, RESULTS_SINCE - 1))
    args = ["temperature", "--preset", "cpu", "--data-root", "/data", "--results", str(tmp_path)]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([*args, "--workers=1"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} holds 1 run trained by an earlier engine" in err and "move the store away" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, nothing trained
    assert main([*args, "--status"]) == 0 and main([*args, "--dry-run"]) == 0
    (tmp_path / run_id(cfg, RESULTS_SINCE - 1)).rename(tmp_path / cfg.run_id)  # the current engine's again
    assert main([*args, "--status"]) == 0 and "earlier engine" not in capsys.readouterr().err


def test_a_failed_run_is_recorded_and_the_study_goes_on(tmp_path, monkeypatch):
    from analysis import temperature as t5

    real = simclr.run
    bad = common.runs(load_study("temperature").arms("tiny"))[2]

    def flaky(cfg, results, *a, **k):
        if cfg.loss.temperature == bad.loss.temperature and cfg.loss.l2_normalize:
            raise RuntimeError("out of memory on the test's purpose")
        return real(cfg, results, *a, **k)

    monkeypatch.setattr(simclr, "run", flaky)
    args = args_fast("temperature", "--results", str(tmp_path))
    assert main(args) == 1
    failed = [p.parent for p in tmp_path.glob("*/error.json")]
    assert len(failed) == 1 and len(list(tmp_path.glob("*/metrics.json"))) == 5
    assert "out of memory" in json.loads((failed[0] / "error.json").read_text())["error"]
    df, notes = t5.common.load(tmp_path, "temperature")
    assert (df["status"] == "failed").sum() == 1 and any("failed" in n and "t=0.5" in n for n in notes)
    assert "failed" in (tmp_path / "table5.md").read_text()
    monkeypatch.setattr(simclr, "run", real)
    assert main(args) == 0   # the rerun retries only the failed run, and clears its error
    assert not list(tmp_path.glob("*/error.json")) and len(list(tmp_path.glob("*/metrics.json"))) == 6


@pytest.mark.parametrize("study", ["color_strength", "h_vs_gh", "semi_supervised", "transfer"])
def test_study_runs_through_the_cli_with_its_evaluations(tmp_path, study):
    sets = ["data.num_train=400", "data.num_test=100", "train.batch_size=50", "train.steps=3",
            "optim.warmup_epochs=0.1", "eval.linear_epochs=2", "eval.knn_k=5", "eval.probe_epochs=2",
            "eval.finetune_epochs=1", "train.progress=false"]
    if study == "semi_supervised":  # 1 % of the labels must keep an example of every class
        sets[0] = "data.num_train=1000"
    assert main(args_fast(study, "--results", str(tmp_path), sets=sets)) == 0
    metrics = [json.loads(p.read_text()) for p in tmp_path.glob("*/metrics.json")]
    assert len(metrics) == COUNTS[study]["tiny"] and all(m["status"] == "completed" for m in metrics)
    keys = set().union(*metrics)
    expected = {"color_strength": {"linear_acc", "supervised_acc"},
                "h_vs_gh": {"probe_rotation_h", "probe_rotation_gh", "probe_sobel_chance"},
                "semi_supervised": {"finetune_0.01_acc", "finetune_0.1_acc", "finetune_0.1_head1_acc"},
                "transfer": {"transfer_synthetic_linear_acc", "transfer_synthetic_finetune_acc"}}[study]
    assert expected <= keys
    report = json.loads((tmp_path / "agreement.json").read_text())
    # nothing missing; a few steps may leave the contrastive task at chance, which the report names
    assert report["study"] == study and report["claims"] and all("collapsed" in n for n in report["notes"])


def test_manifest_records_cells_and_refuses_another_study(tmp_path):
    assert main(["temperature", "--results", str(tmp_path), "--dry-run"]) == 0
    assert not (tmp_path / "study.json").exists()  # a dry run writes nothing
    entries = common.expand(load_study("temperature"), "tiny", "", 2, [])
    common.write_manifest(tmp_path, common.manifest("temperature", "tiny", entries[:4], ["a"]))
    common.write_manifest(tmp_path, common.manifest("temperature", "tiny", entries[2:], ["b"]))
    man = common.read_manifest(tmp_path)
    assert len(man["arms"]) == 12 and man["history"][0]["argv"] == ["a"]
    assert {a["seed"] for a in man["arms"]} == {0, 1}
    assert main(args_fast("augmentation_grid", "--results", str(tmp_path))) == 2


def test_dry_run_prints_runs_and_cost(capsys):
    assert main(["augmentation_grid", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("steps=400") == 49 and "49 runs" in out and "TFLOP" in out and "hours" in out
    assert "first=crop, second=color, seed=0" in out
    # a GPU preset has no measured default throughput: images and FLOPs, and how to get hours
    assert main(["temperature", "--preset", "imagenet", "--data-root", "/d", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "TFLOP; for hours pass --throughput" in out and "hours of pretraining" not in out
    assert main(["temperature", "--preset", "imagenet", "--data-root", "/d", "--dry-run", "--throughput", "2500"]) == 0
    assert "at 2,500 images/s" in capsys.readouterr().out


def test_a_study_in_bf16_on_a_cpu_that_emulates_it_warns_before_any_work(capsys, monkeypatch):
    """The tiny and cpu presets train in bf16, about 10x slower where the CPU only emulates it: said before the
    plan or the first run, with the fix; nothing said where the CPU computes bf16 or a run asks fp32."""
    from simclr import device as devices

    monkeypatch.delenv(devices.FP32_FOR_EMULATED_BF16)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    for native, extra, warned in ((False, [], True), (True, [], False),
                                  (False, ["--set", "train.precision=fp32"], False)):
        monkeypatch.setattr(devices, "cpu_computes_bf16", lambda: native)
        assert main(["temperature", "--dry-run", *extra]) == 0
        err = capsys.readouterr().err
        assert ("only emulates bf16" in err and "train.precision=auto or fp32" in err) is warned


def test_dry_run_hours_follow_the_encoder_that_set_chooses(capsys):
    import re

    def hours(*extra):
        assert main(["temperature", "--preset", "cpu", "--data-root", "/d", "--dry-run",
                     "--set", "encoder.arch=resnet18", *extra]) == 0
        out = capsys.readouterr().out
        images = int(re.search(r"([\d,]+) training images", out).group(1).replace(",", ""))
        return float(re.search(r"([\d.,]+) hours of pretraining", out).group(1)), images

    given, images = hours("--throughput", "1000")  # the user's measure of this ResNet-18: no scaling
    assert given == pytest.approx(images / 1000 / 3600, abs=0.01)
    scaled, _ = hours()  # the 980 measured for the preset's small ResNet, scaled by ResNet-18's FLOPs
    assert scaled > 5 * images / 980 / 3600


def test_unknown_study_bad_set_and_bad_options(capsys):
    with pytest.raises(SystemExit, match="unknown study"):
        main(["figure99"])
    assert main(["augmentation_grid", "--set", "loss.temperature=0", "--dry-run"]) == 2
    assert main(["temperature", "--operators", "crop", "--dry-run"]) == 2
    assert main(["h_vs_gh", "--preset", "imagenet", "--data-root", "/d", "--dry-run"]) == 2
    assert main(["loss_functions", "--grid", "huge", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--operators does not apply" in err and "cannot run at preset" in err and "small or full" in err


def test_two_local_workers_finish_every_run(tmp_path, capsys):
    args = args_fast("augmentation_grid", "--operators", "crop,color", "--workers", "2", "--results", str(tmp_path))
    assert main(args) == 0
    err = capsys.readouterr().err
    assert all(f"[{k}/4 done]" in err for k in range(1, 5)) and err.count(": completed") == 4  # progress
    metrics = [json.loads(p.read_text()) for p in tmp_path.glob("*/metrics.json")]
    assert len(metrics) == 4 and all(m["status"] == "completed" for m in metrics)
    env = json.loads(next(tmp_path.glob("*/env.json")).read_text())
    assert env["hardware"]["torch_threads"] == max(1, launch.cores() // 2)  # the allowed cores, split between workers


def test_a_rerun_with_other_overrides_takes_over_its_cells(tmp_path):
    study = load_study("temperature")
    old = common.expand(study, "tiny", "", 1, [])
    new = common.expand(study, "tiny", "", 1, ["train.steps=800"])
    common.write_manifest(tmp_path, common.manifest("temperature", "tiny", old, ["first"]))
    common.write_manifest(tmp_path, common.manifest("temperature", "tiny", new, ["second"]))
    arms = common.read_manifest(tmp_path)["arms"]
    assert sorted(a["run_id"] for a in arms) == sorted(e["config"].run_id for e in new)  # never averaged


def test_an_override_that_merges_cells_is_refused():
    with pytest.raises(ValueError, match="overrides what the study varies"):
        common.expand(load_study("temperature"), "tiny", "", 1, ["loss.temperature=0.5"])
    assert main(["temperature", "--set", "loss.temperature=0.5", "--dry-run"]) == 2
    assert len(common.expand(load_study("temperature"), "tiny", "", 1, ["train.steps=10"])) == 6
